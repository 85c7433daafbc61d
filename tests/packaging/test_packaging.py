"""The desktop files, the icon and the bundle (packaging/)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from studio import app
from studio.queue import engine_command

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / f"{app.APP_ID}.desktop"
METAINFO = PACKAGING / f"{app.APP_ID}.metainfo.xml"
BUNDLE = ROOT / "dist" / "tradeoff-studio"
EXAMPLE = ROOT / "resources" / "examples" / "bandits-klucb-vs-ucb1.toml"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16-24, big-endian)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def desktop_entry() -> dict[str, str]:
    lines = DESKTOP.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line)


def test_every_icon_size_is_a_png_of_that_size_and_the_svg_is_an_svg():
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert png_size(app.ICONS / f"tradeoff-studio-{size}.png") == (size, size)
    root = ET.parse(app.ICONS / "tradeoff-studio.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


def test_the_window_icon_has_every_size(qapp):
    icon = app.application_icon()
    sizes = {(s.width(), s.height()) for s in icon.availableSizes()}
    assert {(16, 16), (32, 32), (256, 256), (512, 512)} <= sizes
    assert not icon.pixmap(48, 48).isNull()


def test_desktop_file_and_metainfo_name_the_same_application():
    entry = desktop_entry()
    assert entry["Exec"] == "tradeoff-studio"
    assert entry["Icon"] == app.APP_ID
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == app.APP_ID
    assert root.find("launchable").text == DESKTOP.name
    assert {b.text for b in root.iter("binary")} == {"tradeoff-studio", "tradeoff"}


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate is not installed (Debian: desktop-file-utils)",
)
def test_desktop_file_validates():
    result = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("appstreamcli") is None, reason="appstreamcli is not installed (Debian: appstream)"
)
def test_metainfo_validates():
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "E:" not in result.stdout and "W:" not in result.stdout, result.stdout


def test_in_the_bundle_the_studio_starts_the_bundled_engine(monkeypatch, tmp_path):
    program = tmp_path / "tradeoff-studio"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(program))
    assert engine_command.engine_argv("list", "--json") == [
        str(tmp_path / "tradeoff"),
        "list",
        "--json",
    ]
    monkeypatch.delattr(sys, "frozen")
    assert engine_command.engine_argv("list")[1:] == ["-m", "engine", "list"]


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("CI")),
    reason="the bundle takes minutes and about a GB to build: run packaging/build.sh, then this test, by hand",
)
@pytest.mark.skipif(
    not (BUNDLE / "tradeoff").is_file(), reason="no bundle: run packaging/build.sh first"
)
def test_the_built_bundle_runs_an_example_and_the_studio_lists_the_catalogue(tmp_path):
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    env.pop("PYTHONPATH", None)
    db = tmp_path / "runs.db"
    run = subprocess.run(
        [
            str(BUNDLE / "tradeoff"),
            "run",
            str(EXAMPLE),
            "--db",
            str(db),
            "--json",
            "--set",
            "run.seeds=4",
            "--set",
            "run.steps=200",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    run_id = json.loads(run.stdout.strip().splitlines()[-1])["run_id"]

    sys.path.insert(0, str(ROOT))
    from engine.store import Store

    with Store(db) as store:
        row = store.get_run(run_id)
        assert row["status"] == "finished" and row["steps_done"] == 200

    # The studio, started on that store, asks its bundled engine for the catalogue and
    # caches the answer: the cache file proves the two programs found each other.
    studio = subprocess.Popen(
        [str(BUNDLE / "tradeoff-studio"), "--db", str(db)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cache = tmp_path / "cache" / "tradeoff-studio" / "catalogue.json"
    try:
        deadline = time.monotonic() + 120
        while not cache.exists() and time.monotonic() < deadline and studio.poll() is None:
            time.sleep(0.5)
        assert studio.poll() is None, studio.stderr.read().decode()[-2000:]
        assert cache.exists(), "the studio never cached the bundled engine's catalogue"
        ids = {entry["id"] for entry in json.loads(cache.read_text())["catalogue"] if "id" in entry}
        assert "bandits.ucb1" in ids
    finally:
        studio.terminate()
        studio.wait(timeout=30)
