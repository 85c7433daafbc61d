"""The catalogue cache: a matching cache lists the catalogue at once, the engine's answer
refreshes it in the background, and a cache that is not ours or not current is ignored."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QProcess

from engine.store import Store
from studio.configure import catalogue_cache, catalogue_loader
from studio.configure.catalogue_cache import CatalogueCache, registry_fingerprint
from tests.studio.conftest import TOY_ENTRIES

ROOT = Path(__file__).resolve().parents[2]
ENGINE_MS = 30_000
TOY_ALGORITHMS = ["other.only", "toy.every_type", "toy.front", "toy.regret"]


def engine_answering(folder: Path, document, wait_for_release: bool = False):
    """`python -m engine list --json` replaced by a script that prints `document`, once
    `folder/release` exists when `wait_for_release`; the script counts its starts."""
    answer = folder / "answer.json"
    answer.write_text(json.dumps(document), encoding="utf-8")
    release = folder / "release"
    starts = folder / "starts"
    script = (
        "import pathlib, sys, time\n"
        f"pathlib.Path({str(starts)!r}).open('a').write('x')\n"
        f"while {wait_for_release!r} and not pathlib.Path({str(release)!r}).exists(): time.sleep(0.02)\n"
        f"sys.stdout.write(pathlib.Path({str(answer)!r}).read_text())\n"
    )

    def build(parent, *args):
        process = QProcess(parent)
        process.setProgram(sys.executable)
        process.setArguments(["-c", script])
        return process

    return build


def stale(entries):
    """The toy catalogue as an older engine listed it: no `other.only`, an older title."""
    older = [dict(e) for e in entries if e["id"] != "other.only"]
    older[0] = {**older[0], "paper": "An Older Title"}
    assert older[0]["id"] == "toy.every_type"
    return older


def cached_document(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_cache_hit_lists_the_catalogue_before_the_engine_answers(
    qtbot, make_window, monkeypatch, tmp_path, catalogue_cache_path
):
    CatalogueCache().write(TOY_ENTRIES, CatalogueCache().key())
    monkeypatch.setattr(
        catalogue_loader, "engine_process", engine_answering(tmp_path, TOY_ENTRIES, True)
    )
    win = make_window()
    # The engine has not even been started yet: it is asked once the window is up.
    assert not (tmp_path / "starts").exists() and win.catalogue_loader.refresh_timer.isActive()
    assert win.catalogue_loader.from_cache
    assert win.catalogue is not None and win.catalogue.algorithm_ids() == TOY_ALGORITHMS
    assert sorted(win.catalogue_pane.visible_algorithms()) == TOY_ALGORITHMS
    assert win.catalogue_message.isHidden() and not win.config_scroll.isHidden()
    assert win.config.algorithm.id == "other.only"  # the first family in order, as without a cache
    win.catalogue_pane.select("toy.every_type")
    win.config.algorithm_form.fields["label"].editor.setText("typed before the answer")
    reloads = []
    win.catalogue_loader.loaded.connect(reloads.append)
    (tmp_path / "release").touch()
    qtbot.waitUntil(
        lambda: (tmp_path / "starts").exists() and win.catalogue_loader.process is None,
        timeout=ENGINE_MS,
    )
    # The engine agreed with the cache: nothing was listed again, nothing the user did was undone.
    assert reloads == []
    assert win.catalogue_pane.current_id == "toy.every_type"
    assert win.config.algorithm_form.fields["label"].editor.text() == "typed before the answer"
    assert (tmp_path / "starts").read_text() == "x"


def test_the_background_refresh_replaces_a_stale_list_keeping_the_choice_and_the_form(
    qtbot, make_window, monkeypatch, tmp_path, catalogue_cache_path
):
    CatalogueCache().write(stale(TOY_ENTRIES), CatalogueCache().key())
    monkeypatch.setattr(
        catalogue_loader, "engine_process", engine_answering(tmp_path, TOY_ENTRIES, True)
    )
    win = make_window()
    assert sorted(win.catalogue_pane.visible_algorithms()) == [
        "toy.every_type",
        "toy.front",
        "toy.regret",
    ]
    win.catalogue_pane.search.setText("every")
    win.catalogue_pane.select("toy.every_type")
    fields = win.config.algorithm_form.fields
    fields["n"].set_value(7)
    fields["rate"].editor.setText("0.75")
    fields["mode"].set_value("exact")
    fields["sizes"].editor.setText("4, x")  # refused as typed: kept as typed
    win.config.problem_form.fields["scale"].editor.setText("2.5")
    assert fields["sizes"].error is not None
    with qtbot.waitSignal(win.catalogue_loader.loaded, timeout=ENGINE_MS):
        (tmp_path / "release").touch()
    assert win.catalogue.algorithm_ids() == TOY_ALGORITHMS
    assert win.config.algorithm.paper == "A Paper With Every Type"
    assert win.catalogue_pane.current_id == "toy.every_type"
    assert win.catalogue_pane.search.text() == "every"
    assert win.catalogue_pane.visible_algorithms() == ["toy.every_type"]
    win.catalogue_pane.search.clear()
    assert sorted(win.catalogue_pane.visible_algorithms()) == TOY_ALGORITHMS
    fields = win.config.algorithm_form.fields
    assert fields["n"].raw_value() == 7
    assert fields["rate"].editor.text() == "0.75"
    assert fields["mode"].raw_value() == "exact"
    assert fields["sizes"].editor.text() == "4, x" and fields["sizes"].error is not None
    assert win.config.problem_form.fields["scale"].editor.text() == "2.5"
    assert win.config.problem.id == "toy.quadratic"
    assert not win.run_button.isEnabled()  # the refused field still refuses the run
    # The engine's answer is the cache now.
    assert cached_document(catalogue_cache_path)["catalogue"] == TOY_ENTRIES


def test_a_window_closed_before_the_refresh_never_asks_the_engine(
    qtbot, make_window, monkeypatch, tmp_path
):
    CatalogueCache().write(TOY_ENTRIES, CatalogueCache().key())
    monkeypatch.setattr(catalogue_loader, "engine_process", engine_answering(tmp_path, TOY_ENTRIES))
    win = make_window()
    assert win.catalogue_loader.refresh_timer.isActive()
    win.close()
    assert not win.catalogue_loader.refresh_timer.isActive()
    qtbot.wait(catalogue_loader.REFRESH_DELAY_MS + 300)
    assert not (tmp_path / "starts").exists() and win.catalogue_loader.process is None


def test_a_failed_refresh_keeps_the_cached_list_and_says_so(
    qtbot, make_window, monkeypatch, tmp_path
):
    CatalogueCache().write(TOY_ENTRIES, CatalogueCache().key())

    def failing(parent, *args):
        process = QProcess(parent)
        process.setProgram(sys.executable)
        process.setArguments(
            ["-c", "import sys; print('no module named torch', file=sys.stderr); sys.exit(1)"]
        )
        return process

    monkeypatch.setattr(catalogue_loader, "engine_process", failing)
    win = make_window()
    with qtbot.waitSignal(win.catalogue_loader.failed, timeout=ENGINE_MS):
        pass
    assert win.catalogue.algorithm_ids() == TOY_ALGORITHMS and win.catalogue_message.isHidden()
    message = win.statusBar().currentMessage()
    assert message.startswith("The catalogue could not be refreshed: `python") and message.endswith(
        "exited with code 1:"
    )


def fake_engine_folder(root: Path) -> Path:
    folder = root / "engine"
    (folder / "labs" / "bandits").mkdir(parents=True)
    for name, text in [
        ("registry.py", "R = 1\n"),
        ("params.py", "P = 1\n"),
        ("labs/__init__.py", ""),
        ("labs/bandits/ucb.py", "UCB = 1\n"),
    ]:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_fingerprint_follows_every_declaring_file(tmp_path):
    folder = fake_engine_folder(tmp_path)
    first = registry_fingerprint(folder)
    assert registry_fingerprint(folder) == first
    (folder / "labs" / "README.md").write_text("not code")
    (folder / "runner.py").write_text("not a declaration")
    assert registry_fingerprint(folder) == first
    lab = folder / "labs" / "bandits" / "ucb.py"
    stat = lab.stat()
    os.utime(lab, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = registry_fingerprint(folder)
    assert touched != first
    lab.write_text("UCB = 22\n")  # a size of its own
    os.utime(lab, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    resized = registry_fingerprint(folder)
    assert resized not in (first, touched)
    (folder / "labs" / "bandits" / "thompson.py").write_text("T = 1\n")
    added = registry_fingerprint(folder)
    assert added not in (first, touched, resized)
    (folder / "params.py").unlink()
    assert registry_fingerprint(folder) not in (first, touched, resized, added)


def test_a_changed_fingerprint_or_version_ignores_the_cache(tmp_path, monkeypatch):
    folder = fake_engine_folder(tmp_path)
    cache = CatalogueCache(tmp_path / "cache" / "catalogue.json", engine_folder=folder)
    assert cache.write(TOY_ENTRIES, cache.key())
    assert cache.read() == TOY_ENTRIES
    (folder / "labs" / "bandits" / "new_algorithm.py").write_text("NEW = 1\n")
    assert cache.read() is None
    assert cache.write(TOY_ENTRIES, cache.key())
    assert cache.read() == TOY_ENTRIES
    monkeypatch.setattr(catalogue_cache, "installed_version", lambda: "99.0")
    assert cache.read() is None
    # Another checkout's engine, same files: not its cache either.
    other = CatalogueCache(cache.path, engine_folder=fake_engine_folder(tmp_path / "other"))
    assert other.read() is None


def test_a_window_on_a_cache_of_other_files_waits_for_the_engine(
    qtbot, make_window, monkeypatch, tmp_path
):
    cache = CatalogueCache()
    cache.write(stale(TOY_ENTRIES), {**cache.key(), "files": "0" * 64})
    monkeypatch.setattr(catalogue_loader, "engine_process", engine_answering(tmp_path, TOY_ENTRIES))
    win = make_window()
    assert win.catalogue is None and win.catalogue_message.text() == "loading catalogue…"
    qtbot.waitUntil(lambda: win.catalogue is not None, timeout=ENGINE_MS)
    assert win.catalogue.algorithm_ids() == TOY_ALGORITHMS and not win.catalogue_loader.from_cache


def _right_key_bad_entries():
    return json.dumps(
        {
            "format": catalogue_cache.CACHE_FORMAT,
            "format_version": catalogue_cache.CACHE_FORMAT_VERSION,
            "key": CatalogueCache().key(),
            "catalogue": [{"id": 1}, "x"],
        }
    ).encode()


BAD_CACHES = {
    "binary": lambda: b"\x00\xff\xfe garbage",
    "truncated JSON": lambda: json.dumps({"format": catalogue_cache.CACHE_FORMAT})[:-3].encode(),
    "a pickle": lambda: pickle.dumps({"catalogue": TOY_ENTRIES}),
    "another program's JSON": lambda: json.dumps({"catalogue": TOY_ENTRIES}).encode(),
    "a bare list": lambda: json.dumps(TOY_ENTRIES).encode(),
    "nested past any depth": lambda: b"[" * 200_000 + b"]" * 200_000,
    "right key, entries the declarations refuse": _right_key_bad_entries,
    "too large": lambda: b" " * (catalogue_cache.MAX_CACHE_BYTES + 1),
}


@pytest.mark.parametrize("content", list(BAD_CACHES) + ["a folder"])
def test_a_corrupt_or_foreign_cache_is_ignored_and_rewritten(
    qtbot, make_window, monkeypatch, tmp_path, catalogue_cache_path, content
):
    catalogue_cache_path.parent.mkdir(parents=True)
    if content == "a folder":
        catalogue_cache_path.mkdir()
    else:
        catalogue_cache_path.write_bytes(BAD_CACHES[content]())
    monkeypatch.setattr(catalogue_loader, "engine_process", engine_answering(tmp_path, TOY_ENTRIES))
    win = make_window()
    assert win.catalogue is None and win.catalogue_message.text() == "loading catalogue…"
    qtbot.waitUntil(lambda: win.catalogue is not None, timeout=ENGINE_MS)
    assert win.catalogue.algorithm_ids() == TOY_ALGORITHMS
    if content == "a folder":  # cannot be replaced by a file: left as it was, and no cache
        assert catalogue_cache_path.is_dir() and list(catalogue_cache_path.iterdir()) == []
    else:
        document = cached_document(catalogue_cache_path)
        assert document["catalogue"] == TOY_ENTRIES and document["key"] == CatalogueCache().key()
    assert sorted(p.name for p in catalogue_cache_path.parent.iterdir()) == [
        "catalogue.json"
    ]  # no temporary left


STUB_PANDAS = "import sys\nTimestamp = type('Timestamp', (), {})\nsys.stderr.write('pandas was imported\\n')\n"
START_AND_REPORT = """
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])

def report():
    window = next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
    window.catalogue_loader.cancel()
    window.hardware_loader.cancel()
    print(window.catalogue is not None)
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))
    sys.stdout.flush()
    os._exit(0)

QTimer.singleShot(0, report)
from studio.app import main
main(["--db", sys.argv[1]])
"""
HEAVY = {"torch", "pandas", "scipy", "matplotlib", "moocore", "sqlite_utils"}


def test_the_studio_starts_without_heavy_imports(tmp_path):
    """From `main` to a shown window with the catalogue listed (from the cache): no torch,
    and none of the optional heavy modules; pandas is a stand-in that any import reveals."""
    stub = tmp_path / "stub" / "pandas"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(STUB_PANDAS)
    Store(tmp_path / "runs.db").close()  # an existing store, as on every start but the first
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT), str(tmp_path / "stub"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    warm = f"from studio.configure.catalogue_cache import CatalogueCache as C; c = C(); c.write({TOY_ENTRIES!r}, c.key())"
    subprocess.run([sys.executable, "-c", warm], env=env, check=True, timeout=60)
    assert (
        subprocess.run(
            [sys.executable, "-c", "import pandas"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stderr
        == "pandas was imported\n"
    )  # the stand-in is the one found
    result = subprocess.run(
        [sys.executable, "-c", START_AND_REPORT, str(tmp_path / "runs.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed, modules = result.stdout.splitlines()
    assert listed == "True"
    loaded = set(modules.split())
    assert {"PySide6", "pyqtgraph", "studio", "engine"} <= loaded
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
