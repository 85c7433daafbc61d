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


# A stand-in for the engine's queue, without torch: `submit SPEC --db DB --json` queues a
# run spec (toy catalogue) as the engine does (`sweep_store.create_run_point`), refusing one
# named "bad..." with an `error:` line and exit 2; `scheduler --db DB --workers N` holds
# the store's scheduler lock (or refuses, exit 2, where a live one does) and runs up to N
# claimed points at once (with `--linger S`, waiting S seconds with an empty queue before
# it gives the lock back), each writing its run as a worker does (run row named as its
# point's, heartbeats, steps_done, final status and the point's). A run goes on until the
# test releases it (a file `release-<run name>` or `release-all` in the folder), its point
# is cancelled (`tradeoff cancel`: the run ends cancelled), or at once for a run named
# "fail...". While a file `hold-scheduler` exists the scheduler waits before it takes the
# lock; while `refuse-scheduler` exists it refuses to start (exit 2), as the engine's
# does for workers x threads above the cores. Every other command (cancel, priority) is the real engine's.
STANDIN_ENGINE = r"""
import json, sys, threading, time
from pathlib import Path
from engine import sweep_store
from engine.registry import Catalogue
from engine.spec import RunSpec, SpecError
from engine.store import Store

catalogue_file, folder, command, *rest = sys.argv[1:]
folder = Path(folder)
if command not in ("submit", "scheduler"):
    from engine.cli import main

    sys.exit(main([command, *rest]))
catalogue = Catalogue.from_json(json.loads(Path(catalogue_file).read_text()))
db = rest[rest.index("--db") + 1]


def run_point(point):
    store = Store(db)
    sweep_id, idx = point["sweep_id"], point["idx"]
    spec = RunSpec.from_dict(point["spec"], catalogue, f"sweep {sweep_id} point {idx}")
    plot = catalogue.algorithm(spec.algorithm).plot
    run_id = store.create_run(spec, family="toy", plot=plot)
    sweep_store.set_point_run(store.conn, sweep_id, idx, run_id)
    store.start_run(run_id, {"device": "cpu", "dtype": spec.dtype, "threads": 1})
    step, cancelled, began = 0, False, time.monotonic()
    # At most two minutes: a test that died without releasing it leaves no engine behind.
    while not spec.name.startswith("fail") and time.monotonic() - began < 120:
        if (folder / f"release-{spec.name}").exists() or (folder / "release-all").exists():
            break
        if sweep_store.point_status(store.conn, sweep_id, idx) == "cancelled":
            cancelled = True
            break
        step = min(spec.steps - 1, step + 1)
        store.heartbeat(run_id, step)
        time.sleep(0.05)
    if cancelled:
        status, error = "cancelled", None
    elif spec.name.startswith("fail"):
        status, error = "failed", "Traceback (most recent call last):\n  ...\nZeroDivisionError: boom"
    else:
        store.append(run_id, [("loss", spec.steps, 0, 0.5, 0.1)], steps_done=spec.steps)
        status, error = "finished", None
    store.finish_run(run_id, status, error)
    sweep_store.finish_point(store.conn, sweep_id, idx, status)
    store.close()


if command == "submit":
    try:
        spec = RunSpec.from_file(rest[0], catalogue)
        if spec.name.startswith("bad"):
            raise SpecError(rest[0], "run.name", "refused by the stand-in engine")
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    store = Store(db)
    sweep_id = sweep_store.create_run_point(store.conn, spec)
    print(json.dumps({"sweep_id": sweep_id, "points": 1, "run": True, "db": db}))
    sys.exit(0)
workers = int(rest[rest.index("--workers") + 1])
linger = float(rest[rest.index("--linger") + 1]) if "--linger" in rest else 0.0
if (folder / "refuse-scheduler").exists():
    print("error: 2 workers x 2 torch threads = 4 threads on 2 cores; give fewer workers or "
          "hardware.threads, or --oversubscribe", file=sys.stderr)
    sys.exit(2)
held_since = time.monotonic()
while (folder / "hold-scheduler").exists() and time.monotonic() - held_since < 120:
    time.sleep(0.05)
store = Store(db)
if not sweep_store.acquire_lock(store.conn):
    print(f"error: a scheduler already serves {db}", file=sys.stderr)
    sys.exit(2)
going, idle_since = [], None
while True:
    sweep_store.beat_lock(store.conn)
    going = [t for t in going if t.is_alive()]
    while len(going) < workers:
        point = sweep_store.claim_next(store.conn)
        if point is None:
            break
        going.append(threading.Thread(target=run_point, args=(point,)))
        going[-1].start()
    idle_since = None if going else idle_since or time.monotonic()
    if idle_since and time.monotonic() - idle_since >= linger:
        if sweep_store.release_lock_if_idle(store.conn):
            break
    time.sleep(0.05)
"""


class StandIn:
    def __init__(self, folder: Path):
        self.folder = folder

    def release(self, name: str) -> None:
        (self.folder / f"release-{name}").touch()

    def release_all(self) -> None:
        (self.folder / "release-all").touch()

    def hold_scheduler(self) -> None:
        (self.folder / "hold-scheduler").touch()

    def refuse_scheduler(self, refuse: bool = True) -> None:
        path = self.folder / "refuse-scheduler"
        path.touch() if refuse else path.unlink(missing_ok=True)

    def let_scheduler_go(self) -> None:
        (self.folder / "hold-scheduler").unlink(missing_ok=True)


@pytest.fixture
def standin_engine(tmp_path, monkeypatch):
    """The engine's submit and scheduler are the stand-in above (with the toy catalogue)."""
    from studio.queue import engine_command, run_process

    folder = tmp_path / "standin"
    folder.mkdir()
    script = folder / "engine_standin.py"
    script.write_text(STANDIN_ENGINE, encoding="utf-8")
    catalogue_file = folder / "catalogue.json"
    catalogue_file.write_text(json.dumps(TOY_ENTRIES), encoding="utf-8")

    def argv(*args):
        return [sys.executable, str(script), str(catalogue_file), str(folder), *args]

    monkeypatch.setattr(run_process, "engine_argv", argv)
    monkeypatch.setattr(engine_command, "engine_argv", argv)
    yield StandIn(folder)
    StandIn(folder).let_scheduler_go()
    StandIn(folder).release_all()


def stop_schedulers(queue) -> None:
    """The schedulers a queue started, killed (a test's end: none may outlive it)."""
    for popen, _folder in queue._schedulers:
        if popen.poll() is None:
            popen.kill()
            popen.wait(10)


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
        # pytest-qt closes the window before this fixture's end: a test that leaves runs
        # in flight (one that failed half-way) must not meet the modal question there.
        win.ask_close_choice = lambda _in_flight: "background"
        # No scheduler ahead of a Run: a test's clicks into the form would start engines.
        win.warm_engine = False
        qtbot.addWidget(win)
        win.show()
        built.append(win)
        return win

    yield build
    for win in built:
        win.ask_close_choice = lambda _in_flight: "background"
        stop_schedulers(win.queue)
        for entry in win.queue.entries:
            if entry.adopted and entry.live and entry.pid and entry.host == win.queue.host:
                # a run of this test adopted from the store (a CLI run the test started)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(entry.pid, signal.SIGKILL)
        win.queue.stop_polling()
        win.watch.stop_timers()
        win.studio_panels.stop_polling()
