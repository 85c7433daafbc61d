"""The entry point: no display means a clear message and exit code 2, never a core dump."""

import os
import subprocess
import sys
from pathlib import Path

from studio.app import display_problem

ROOT = Path(__file__).resolve().parents[2]


def test_main_without_a_display_says_how_to_run_it(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = subprocess.run(
        [sys.executable, "-m", "studio", "--db", str(tmp_path / "s.db")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no display found" in result.stderr
    assert "xvfb-run tradeoff-studio" in result.stderr
    assert "QT_QPA_PLATFORM=offscreen tradeoff-studio" in result.stderr
    assert result.stdout == ""


def test_any_display_setting_lets_qt_try():
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None
    assert display_problem({}, "win32") is None


def test_the_studio_never_imports_torch():
    # every module, those of the sub-packages (configure, queue, views, ...) included
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "studio").rglob("*.py")
        if p.stem not in ("__main__", "__init__")
    )
    assert "studio.views.run_data" in modules
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        + "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_a_db_that_is_no_store_is_refused_with_exit_code_2(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "studio", "--db", str(junk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        f"tradeoff-studio: {junk}: is not a Tradeoff Studio store (not an SQLite database)"
        in result.stderr
    )
    assert junk.read_text() == "not a database"
