"""Fixtures for the studio's tests: a small catalogue with every parameter type, stores,
settings in a temporary folder, hardware reports, a stand-in engine, windows."""

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# tests/conftest.py sets this too; kept here so these tests also run on their own.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.registry import Catalogue  # noqa: E402
from engine.spec import RunSpec  # noqa: E402
from engine.store import Store, StoreReader  # noqa: E402

TOY_ENTRIES = [
    {
        "id": "toy.every_type",
        "kind": "algorithm",
        "family": "toy",
        "paper": "A Paper With Every Type",
        "summary": "Declares one parameter of each type.",
        "plot": "curves",
        "metrics": ["loss"],
        "problems": ["toy.quadratic"],
        "params": [
            {"name": "n", "type": "int", "default": 3, "help": "A count.", "low": 1, "high": 10},
            {
                "name": "rate",
                "type": "float",
                "default": 0.5,
                "help": "A rate.",
                "low": 0.0,
                "high": 1.0,
                "low_open": True,
            },
            {"name": "flag", "type": "bool", "default": True, "help": "A switch."},
            {
                "name": "mode",
                "type": "choice",
                "default": "fast",
                "help": "A mode.",
                "choices": ["fast", "exact"],
            },
            {"name": "label", "type": "str", "default": "x", "help": "A label."},
            {
                "name": "weights",
                "type": "floats",
                "default": [0.25, 0.75],
                "help": "Weights.",
                "low": 0.0,
                "high": 1.0,
                "min_len": 2,
                "max_len": 3,
            },
            {
                "name": "sizes",
                "type": "ints",
                "default": [8, 16],
                "help": "Sizes.",
                "low": 1,
                "high": 100,
                "min_len": 1,
            },
        ],
    },
    {
        "id": "toy.regret",
        "kind": "algorithm",
        "family": "toy",
        "paper": "Regret",
        "summary": "",
        "plot": "regret",
        "metrics": ["cumulative_regret"],
        "problems": ["toy.quadratic"],
        "params": [],
    },
    {
        "id": "toy.front",
        "kind": "algorithm",
        "family": "toy",
        "paper": "Fronts",
        "summary": "",
        "plot": "pareto",
        "metrics": ["hypervolume"],
        "problems": ["toy.quadratic"],
        "params": [],
    },
    {
        "id": "other.only",
        "kind": "algorithm",
        "family": "other",
        "paper": "Other",
        "summary": "",
        "plot": "curves",
        "metrics": [],
        "problems": ["toy.plane"],
        "params": [],
    },
    {
        "id": "toy.quadratic",
        "kind": "problem",
        "family": "toy",
        "paper": "A quadratic",
        "summary": "",
        "params": [
            {
                "name": "scale",
                "type": "float",
                "default": 1.0,
                "help": "Scale.",
                "low": 0.0,
                "high": 10.0,
            }
        ],
    },
    {
        "id": "toy.plane",
        "kind": "problem",
        "family": "toy",
        "paper": "A plane",
        "summary": "",
        "params": [],
    },
]


@pytest.fixture
def toy_catalogue():
    return Catalogue.from_json(TOY_ENTRIES)


@pytest.fixture
def store(tmp_path):
    """The test's writer on its store: the test plays the engine through it."""
    with Store(tmp_path / "studio.db") as opened:
        yield opened


@pytest.fixture
def reader(store):
    """A reader on the test's store, as the studio opens one: the windows' store."""
    with StoreReader(store.path) as opened:
        yield opened


@pytest.fixture
def started_run(store, toy_catalogue):
    """A run row in the store, as an engine writes it, for a given algorithm id."""

    def start(algorithm: str, seeds: int = 3, steps: int = 100) -> int:
        spec = RunSpec.from_dict(
            {
                "run": {"seeds": seeds, "steps": steps},
                "algorithm": {"id": algorithm},
                "problem": {"id": "toy.quadratic"},
            },
            toy_catalogue,
        )
        entry = toy_catalogue.algorithm(algorithm)
        run_id = store.create_run(spec, family=entry.family, plot=entry.plot)
        store.start_run(run_id, {"device": "cpu"})
        return run_id

    return start


@pytest.fixture(scope="session")
def engine_catalogue():
    """The real catalogue, asked of the engine once per session (it imports torch: ~2 s)."""
    out = subprocess.run(
        [sys.executable, "-m", "engine", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return Catalogue.from_json(json.loads(out.stdout))


# What `tradeoff hardware --json` says on a machine without CUDA, and on one with a GPU.
HARDWARE_NO_CUDA = {
    "cpu_cores": 2,
    "cpu_name": "x86_64",
    "memory_bytes": 16 * 2**30,
    "torch_version": "2.13.0+cpu",
    "torch_threads": 2,
    "cuda": [],
}
HARDWARE_ONE_CUDA = {
    "cpu_cores": 16,
    "cpu_name": "x86_64",
    "memory_bytes": 128 * 2**30,
    "torch_version": "2.13.0+cu128",
    "torch_threads": 16,
    "cuda": [
        {
            "index": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_bytes": 80 * 2**30,
            "capability": "9.0",
        }
    ],
}


@pytest.fixture(autouse=True)
def studio_settings_folder(tmp_path):
    """Every test gets its own settings file (and presets folder): never the user's."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def catalogue_cache_path(tmp_path, monkeypatch):
    """Every test gets its own catalogue cache, empty at first: never the user's."""
    from studio.configure import catalogue_cache

    path = tmp_path / "cache" / "catalogue.json"
    monkeypatch.setattr(catalogue_cache, "default_cache_path", lambda: path)
    return path


# A stand-in for `python -m engine run SPEC --db DB --json`, without torch: it writes the
# run to the store as the engine does (queued -> running -> final status, heartbeats,
# steps_done), prints the same lines, exits with the same codes, and goes on until the
# test releases it (a file `release-<run name>` or `release-all` in its folder), the
# studio stops it (SIGTERM: cancelled, exit 3), or at once for a run named "fail...".
STANDIN_ENGINE = r"""
import json, signal, sys, time
from pathlib import Path
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import Store

catalogue_file, folder, _run, spec_path, _db_flag, db = sys.argv[1:7]
folder = Path(folder)
spec = RunSpec.from_file(spec_path, Catalogue.from_json(json.loads(Path(catalogue_file).read_text())))
cancelled = []
signal.signal(signal.SIGTERM, lambda *_: cancelled.append(True))
store = Store(db)
run_id = store.create_run(spec, family="toy", plot="curves")
print(f"run {run_id} started: {spec.title} ({spec.seeds} seeds x {spec.steps} steps, cpu)", file=sys.stderr, flush=True)
store.start_run(run_id, {"device": "cpu", "dtype": spec.dtype, "threads": 1})
step = 0
while not spec.name.startswith("fail") and not cancelled:
    if (folder / f"release-{spec.name}").exists() or (folder / "release-all").exists():
        break
    step = min(spec.steps - 1, step + 1)
    store.heartbeat(run_id, step)
    time.sleep(0.05)
if cancelled:
    status, error, code = "cancelled", None, 3
elif spec.name.startswith("fail"):
    status, error, code = "failed", "Traceback (most recent call last):\n  ...\nZeroDivisionError: boom", 1
else:
    store.append(run_id, [("loss", spec.steps, 0, 0.5, 0.1)], steps_done=spec.steps)
    status, error, code = "finished", None, 0
store.finish_run(run_id, status, error)
print(json.dumps({"run_id": run_id, "status": status, "seconds": 0.1, "db": db,
                  "error": error.splitlines()[-1] if error else None}))
sys.exit(code)
"""


class StandIn:
    def __init__(self, folder: Path):
        self.folder = folder

    def release(self, name: str) -> None:
        (self.folder / f"release-{name}").touch()

    def release_all(self) -> None:
        (self.folder / "release-all").touch()


@pytest.fixture
def standin_engine(tmp_path, monkeypatch):
    """Runs go to the stand-in engine above (with the toy catalogue) instead of the real one."""
    from studio.queue import run_process

    folder = tmp_path / "standin"
    folder.mkdir()
    script = folder / "engine_standin.py"
    script.write_text(STANDIN_ENGINE, encoding="utf-8")
    catalogue_file = folder / "catalogue.json"
    catalogue_file.write_text(json.dumps(TOY_ENTRIES), encoding="utf-8")
    monkeypatch.setattr(
        run_process,
        "engine_argv",
        lambda *args: [sys.executable, str(script), str(catalogue_file), str(folder), *args],
    )
    yield StandIn(folder)
    StandIn(folder).release_all()


@pytest.fixture
def make_window(qtbot, reader):
    """Build studio windows on the test's store; afterwards no engine is left running.

    A window reads through a `StoreReader` (`reader`), as the studio's does: any writer
    method called on its store would raise AttributeError, and its connection refuses
    writes. The test writes through its own `Store` (`store`), as an engine would.
    The hardware report is given (a machine without CUDA); `hardware=None` asks the engine.
    """
    from studio.window import MainWindow

    built = []

    def build(catalogue=None, hardware=HARDWARE_NO_CUDA, on_store=None):
        on_store = reader if on_store is None else on_store
        assert type(on_store) is StoreReader, "the studio's window reads; it gets no writer"
        win = MainWindow(on_store, catalogue=catalogue, hardware=hardware)
        # No modal question when pytest-qt closes the window after a test (its teardown
        # runs before this fixture's): a test that left runs going would hang there.
        win.ask_close_choice = lambda _in_flight: "background"
        qtbot.addWidget(win)
        win.show()
        built.append(win)
        return win

    yield build
    for win in built:
        win.ask_close_choice = lambda _in_flight: "background"
        for entry in win.queue.entries:
            process = entry.process
            if process is not None and process.popen is not None:
                process.popen.kill()
                process.popen.wait(10)
            elif entry.adopted and entry.live and entry.pid and entry.host == win.queue.host:
                # a run of this test adopted from the store (started by an earlier window)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(entry.pid, signal.SIGKILL)
        win.queue.stop_polling()
        win.watch.stop_timers()
        win.studio_panels.stop_polling()
    # Engines let go by a closed window (a test that failed before stopping them).
    from studio.queue import run_process

    for popen, _workdir in run_process._released:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)
    run_process.reap_released()
