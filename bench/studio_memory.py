"""The studio's memory over many runs: RSS and live objects after each, offscreen.

    python -m bench.studio_memory                       # 100 runs written to the store, 26 engine runs
    python -m bench.studio_memory --store-runs 100 --engine-runs 0 --repeats 3
    python -m bench.studio_memory --trace               # also the top tracemalloc growth sites
    python -m bench.studio_memory --clear-queue         # Clear finished pressed after every run

One main window (studio/window.py) on a fresh store, with the real catalogue. Each run
goes through it as a user's does: it appears in the queue, Watch follows it in a tile
(the fifth replaces the least wanted of four), the tile reads it to the end, and every
fourth run the user closes a tile with its ×.

- engine runs: real `python -m engine run` processes started by the window's Run
  (window.start_run) on example specs cut to 2 seeds x 200 steps (UCB1 and Thompson,
  Pareto linear scalarisation, tabular DPO: the three plot kinds).
- store runs: runs written into the store in this process with the engine's Store API
  (create, start, a few blocks, finish), as an engine writes them; the window adopts
  them from the store and watches them. The queue's and the tile's reads, which their
  timers would make within a second, are called at once. About a second per run here
  instead of an engine start-up.

After each run: RSS (/proc/self/statm) and the counts of live QWidgets and of the plot
classes. Printed: RSS after the warm-up and at the end, the growth per run over the
second half (least-squares slope), and the live-object counts at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "resources" / "examples"
ENGINE_SPECS = ("ucb-vs-thompson.toml", "pareto-two-task.toml", "dpo-tabular.toml")
TINY = ("run.seeds=2", "run.steps=200")
PAGE = os.sysconf("SC_PAGE_SIZE")
WATCHED_CLASSES = (
    "RunTile",
    "LivePlot",
    "RunData",
    "SeedTable",
    "CurvesView",
    "RegretView",
    "ParetoView",
    "SeriesPlot",
    "SeriesLayer",
    "DecimatedCurve",
    "PlotItem",
    "ViewBox",
    "PlotDataItem",
    "QueueEntry",
    "RunProcess",
)


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def live_counts() -> dict[str, int]:
    from PySide6.QtWidgets import QApplication

    counts = dict.fromkeys(WATCHED_CLASSES, 0)
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in counts:
            counts[name] += 1
    counts["QWidget"] = len(QApplication.allWidgets())
    return counts


def widget_classes() -> dict[str, int]:
    from PySide6.QtWidgets import QApplication

    classes: dict[str, int] = {}
    for widget in QApplication.allWidgets():
        classes[type(widget).__name__] = classes.get(type(widget).__name__, 0) + 1
    return classes


def slope(values: list[float]) -> float:
    """Least-squares growth per run of `values` (one per run)."""
    if len(values) < 2:
        return 0.0
    return float(np.polyfit(np.arange(len(values)), values, 1)[0])


def wait_until(app, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the studio did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app, seconds: float = 0.3) -> None:
    """Let timers fire and deferred deletions happen, as an idle event loop would."""
    from PySide6.QtCore import QCoreApplication, QEvent

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        time.sleep(0.01)


def store_run(store, catalogue, index: int) -> int:
    """One tiny run written as an engine writes it: 2 seeds x 200 steps, the plot kind
    cycling through regret, pareto and curves. Returns its id, left running."""
    from engine.spec import RunSpec

    spec = RunSpec.from_file(EXAMPLES / ENGINE_SPECS[index % 3], catalogue, overrides=TINY)
    entry = catalogue.algorithm(spec.algorithm)
    run_id = store.create_run(spec, family=entry.family, plot=entry.plot)
    store.start_run(run_id, {"device": "cpu", "dtype": "float32", "threads": 1})
    return run_id


def store_run_data(store, run_id: int, index: int, part: int) -> None:
    """Half of the run's records (part 0 or 1): series for every kind, Pareto points for pareto."""
    kind = index % 3
    steps = range(part * 100 + 1, part * 100 + 101)
    rows = []
    for seed in range(2):
        for step in steps:
            if kind == 0:
                rows.append(
                    (
                        "cumulative_regret",
                        step,
                        seed,
                        np.log1p(step) * (1 + 0.1 * seed),
                        0.001 * step,
                    )
                )
            else:
                rows.append(("loss", step, seed, 1.0 / step + 0.01 * seed, 0.001 * step))
    if kind == 0:
        rows += [("ucb_bound", step, -1, 8 * np.log1p(step), 0.0) for step in steps]
    pareto = []
    if kind == 1:
        if part == 0:
            store.set_objectives(run_id, ["task 1", "task 2"], ["min", "min"], [2.0, 2.0])
        for seed in range(2):
            for point in range(11):
                w = point / 10
                pareto.append((steps[-1], seed, point, [w + 0.01 * part, 1 - w], {"preference": w}))
    store.append(run_id, series_rows=rows, pareto_rows=pareto, steps_done=steps[-1])


def run_store_runs(app, window, catalogue, count: int, on_run) -> None:
    """`count` runs written into the store, each followed by the window from start to end.

    The queue's and the tile's timers would read the store within a second; they are
    called here at once (the same reads), so that a run takes a fraction of a second."""
    store = window.store
    for index in range(count):
        run_id = store_run(store, catalogue, index)
        window.queue.adopt_live_runs()
        tile = window.watch.tile(run_id)
        if tile is None:
            raise RuntimeError(f"Watch did not follow run {run_id}")
        store_run_data(store, run_id, index, 0)
        tile.plot.poll()
        tile.plot.redraw(spread=False)
        store_run_data(store, run_id, index, 1)
        store.finish_run(run_id, "finished")
        window.queue.poll()
        tile.plot.poll()
        entry = window.queue.entry_for(run_id)
        wait_until(app, lambda entry=entry, tile=tile: not entry.live and tile.over)
        user_closes(app, window, index)
        if os.environ.get(CLEAR_QUEUE):
            window.queue.clear_finished()
        on_run(index)


CLEAR_QUEUE = "STUDIO_MEMORY_CLEAR_QUEUE"  # set by --clear-queue for the measuring process


def run_engine_runs(app, window, catalogue, count: int, on_run) -> None:
    from engine.spec import RunSpec

    for index in range(count):
        spec = RunSpec.from_file(EXAMPLES / ENGINE_SPECS[index % 3], catalogue, overrides=TINY)
        window.config.apply_spec(spec)
        entry = window.start_run()
        if entry is None:
            raise RuntimeError(f"the window did not start {spec.title}")
        wait_until(app, lambda entry=entry: not entry.live)
        if entry.state != "finished":
            raise RuntimeError(f"run {entry.run_id} {entry.state}: {entry.error}")
        wait_until(
            app,
            lambda run_id=entry.run_id: (
                window.watch.tile(run_id) is None or window.watch.tile(run_id).over
            ),
        )
        user_closes(app, window, index)
        on_run(index)


def user_closes(app, window, index: int) -> None:
    """Every fourth run the user closes the oldest tile with its ×."""
    settle(app, 0.02)
    if index % 4 == 3 and window.watch.tiles:
        tile = window.watch.tiles[0]
        tile.close_requested.emit(tile)
        settle(app, 0.02)


def measure(mode: str, runs: int, trace: bool) -> dict:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from engine.registry import Catalogue
    from engine.store import Store
    from studio.window import MainWindow

    app = QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="studio-memory-"))
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder / "settings")
    )
    catalogue = Catalogue.from_json(
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "engine", "list", "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    )
    hardware = {
        "cpu_cores": 2,
        "cpu_name": "x86_64",
        "memory_bytes": 16 * 2**30,
        "torch_version": "",
        "torch_threads": 2,
        "cuda": [],
    }
    store = Store(folder / "studio.db")
    window = MainWindow(store, catalogue=catalogue, hardware=hardware)
    window.actions.follow_runs.setChecked(True)
    window.show()
    settle(app, 0.5)
    counts_start, classes_start = live_counts(), widget_classes()
    gc.freeze()  # as studio/app.py does after building the window
    rss = [rss_mb()]
    snapshots = []
    if trace:
        tracemalloc.start(25)

    def on_run(index: int) -> None:
        rss.append(rss_mb())
        if index in (runs // 2 - 1, runs - 1) and trace:
            gc.collect()
            snapshots.append(tracemalloc.take_snapshot())
        print(f"  run {index + 1:3d}: RSS {rss[-1]:7.1f} MB", file=sys.stderr, flush=True)

    started = time.monotonic()
    if mode == "store":
        run_store_runs(app, window, catalogue, runs, on_run)
    else:
        run_engine_runs(app, window, catalogue, runs, on_run)
    seconds = time.monotonic() - started
    window.watch.clear()
    settle(app, 0.5)
    gc.unfreeze()
    gc.collect()
    settle(app, 0.2)
    counts = live_counts()
    classes = widget_classes()
    new_widgets = {
        name: classes.get(name, 0) - classes_start.get(name, 0)
        for name in set(classes) | set(classes_start)
        if classes.get(name, 0) != classes_start.get(name, 0)
    }
    result = {
        "mode": mode,
        "runs": runs,
        "seconds": seconds,
        "rss_start": rss[0],
        "rss_end": rss[-1],
        "per_run_all": slope(rss[1:]),
        "per_run_second_half": slope(rss[1 + runs // 2 :]),
        "counts_start": counts_start,
        "counts": counts,
        "new_widgets": new_widgets,
        "rss": rss,
    }
    if trace and len(snapshots) == 2:
        stats = snapshots[1].compare_to(snapshots[0], "traceback")
        result["trace"] = [
            f"{s.size_diff / 1024:+.1f} KiB, {s.count_diff:+d} blocks\n    "
            + "\n    ".join(s.traceback.format()[-8:])
            for s in stats[:12]
        ]
    window.ask_close_choice = lambda _in_flight: "background"
    window.close()
    store.close()
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-runs", type=int, default=100)
    parser.add_argument("--engine-runs", type=int, default=26)
    parser.add_argument(
        "--repeats", type=int, default=1, help="each measurement in a fresh process, N times"
    )
    parser.add_argument(
        "--trace", action="store_true", help="tracemalloc: where the second half's growth went"
    )
    parser.add_argument(
        "--clear-queue",
        action="store_true",
        help="press the queue's Clear finished after every run (its rows are the rest of the growth)",
    )
    parser.add_argument("--one", choices=("store", "engine"), help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        # One measurement in this process (each repeat gets a fresh one: RSS never shrinks back).
        print(json.dumps(measure(args.one, args.runs, args.trace)))
        return 0
    if args.clear_queue:
        os.environ[CLEAR_QUEUE] = "1"
    print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    for mode, runs in (("store", args.store_runs), ("engine", args.engine_runs)):
        if runs <= 0:
            continue
        results = []
        for _ in range(args.repeats):
            out = subprocess.run(
                [sys.executable, "-m", "bench.studio_memory", "--one", mode, "--runs", str(runs)]
                + (["--trace"] if args.trace else []),
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return out.returncode
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        median = {
            key: statistics.median(r[key] for r in results)
            for key in ("seconds", "rss_start", "rss_end", "per_run_all", "per_run_second_half")
        }
        print(f"{mode} runs: {runs} ({args.repeats} repeat(s), median), {median['seconds']:.0f} s")
        if runs >= 26:
            at_26 = statistics.median(r["rss"][26] for r in results)
            print(
                f"  RSS after 26 runs {at_26:.1f} MB: {(at_26 - median['rss_start']) / 26:.2f} MB per run"
            )
        print(
            f"  RSS {median['rss_start']:.1f} -> {median['rss_end']:.1f} MB; growth per run "
            f"{median['per_run_all'] * 1024:.0f} KiB overall, {median['per_run_second_half'] * 1024:.0f} KiB "
            f"over the second half"
        )
        print(
            "  per repeat, second half: "
            + ", ".join(f"{r['per_run_second_half'] * 1024:.0f} KiB" for r in results)
        )
        start, end = results[-1]["counts_start"], results[-1]["counts"]
        print(
            "  alive before the first run -> after closing every tile: "
            + ", ".join(f"{name} {start[name]} -> {end[name]}" for name in end)
        )
        for block in results[-1].get("trace", []):
            print("  " + block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
