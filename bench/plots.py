"""Benchmarks of the studio's plots, offscreen, printed as one table.

    python -m bench.plots                     # everything: about two minutes on 2 cores
    python -m bench.plots --only redraw,load  # some of: hypervolume, redraw, load, baseline,
                                              # stream, frozen, engines, nice, studio

- redraw: a 10^6-point curve in the curves view: append 1,000 points and redraw (the
  live path: seed summary, smoothing when on, thinning, pyqtgraph, paint), and a pan
  (re-thin for the new range, paint); also 20 seeds x 50,000 steps (mean and band).
  Median and worst of 30.
- stream: 4 writer processes streaming runs the way the engine writes them (20 seeds,
  a batch every 0.2 s), watched by 4 live plots in one window: the longest stall of the
  GUI event loop (a 5 ms probe timer's worst lateness), and the latency from a batch's
  commit in the store to the paint that shows it.
- frozen: the same after `gc.freeze()` once the plots are set up (what studio/app.py
  could do after building its window): Python's full garbage collections, each a
  50-150 ms pause here when they scan every Qt wrapper alive, then scan only new objects.
- baseline: the same 4 writers with the window left empty: the stalls the machine's
  load alone causes (on a shared machine, the floor under every stall figure).
- engines: the same with 4 real engine processes (`python -m engine run`, UCB1, 20
  seeds, recording every 30 steps): stall, and latency from a record's creation in the
  engine (run start + its wall time) to its paint, which includes the engine's own
  batching of up to 0.2 s. Four CPU-bound engines on 2 cores leave the GUI one core
  in three; "nice" runs them at nice 10, as batch work beside an interactive program;
  "studio" is the studio's own set-up: engines started as studio/queue/run_process.py
  `lower_priority` starts them (nice 10 and, on Linux, the batch scheduling class), and
  `gc.freeze()` after start-up as studio/app.py does.
  Each stall is reported with the GUI thread's own CPU time inside it: the rest of a
  stall is time the process spent waiting for a core.
- load: a finished run of 10^6 points (1 seed x 10^6 steps; 20 seeds x 50,000 steps)
  from the store into the curves view, painted. Also the store read alone, the floor.
- hypervolume: 10^5 two-objective points, engine.metrics.hypervolume against
  moocore.hypervolume in the same process, same points, values checked equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from bench.streaming import run_stream  # noqa: E402
from engine.blocks import Block  # noqa: E402
from engine.runner import FLUSH_ROWS  # noqa: E402
from engine.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _median_max(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), max(times)


def _timed(action) -> tuple[float, float]:
    """(wall seconds, GUI-thread CPU seconds) of one call: on a shared machine the two differ
    by the time the process waited for a core."""
    wall, cpu = time.perf_counter(), time.thread_time()
    action()
    return time.perf_counter() - wall, time.thread_time() - cpu


def bench_redraw(app) -> list[tuple]:
    rows = _redraw_rows(app, seeds=1, steps=1_000_000, pan=True)
    rows += _redraw_rows(app, seeds=20, steps=50_000, pan=False)
    return rows


def _redraw_rows(app, seeds: int, steps: int, pan: bool) -> list[tuple]:
    from studio.views.run_data import RunData, SeedTable
    from studio.views.series_views import CurvesView

    rng = np.random.default_rng(0)
    data = RunData()
    data.tables["loss"] = table = SeedTable()

    def append(first: int, count: int) -> None:
        new = np.repeat(np.arange(first, first + count), seeds)
        table.add_many(
            new, np.tile(np.arange(seeds), count), rng.normal(size=len(new)).cumsum(), new * 1e-3
        )

    append(1, steps)
    view = CurvesView()
    view.resize(1200, 500)
    view.show()
    view.render(data)
    app.processEvents()
    plot = view.series
    viewport = plot.plot.viewport()
    shape = f"{steps:,} steps" if seeds == 1 else f"{seeds} seeds x {steps:,} steps, mean and band"
    rows = []
    for smoothing in (0.0, 0.6):
        view.set_smoothing(smoothing)
        app.processEvents()
        times, cpus = [], []
        new_steps = 1000 if seeds == 1 else 50
        for _ in range(30):
            append(int(table.steps[-1]) + 1, new_steps)
            wall, cpu = _timed(lambda: (view.render(data), viewport.repaint()))
            times.append(wall)
            cpus.append(cpu)
            app.processEvents()
        median, worst = _median_max(times)
        what = f"append {new_steps * seeds:,} values + redraw" + (", smoothed" if smoothing else "")
        rows.append(
            (
                f"redraw 10^6-point curve ({shape}; {what}), thinned 1:{plot.downsampling_factor}",
                "<= 20 ms",
                f"{median * 1e3:.1f} ms median ({statistics.median(cpus) * 1e3:.1f} ms CPU), "
                f"{worst * 1e3:.1f} ms worst",
                median <= 0.020,
            )
        )
    view.set_smoothing(0.0)
    if pan:
        times, cpus = [], []
        for i in range(30):
            low = 10_000 + i * 20_000
            plot.view_box.setXRange(low, low + 300_000, padding=0)
            wall, cpu = _timed(lambda: (plot.refresh(), viewport.repaint()))
            times.append(wall)
            cpus.append(cpu)
            app.processEvents()
        median, worst = _median_max(times)
        rows.append(
            (
                f"redraw 10^6-point curve ({shape}; pan over 300,000 steps)",
                "<= 20 ms",
                f"{median * 1e3:.1f} ms median ({statistics.median(cpus) * 1e3:.1f} ms CPU), "
                f"{worst * 1e3:.1f} ms worst",
                median <= 0.020,
            )
        )
    view.close()
    return rows


def _write_run(store: Store, seeds: int, steps: int) -> int:
    from bench.stream_writer import _Spec

    run_id = store.create_run(_Spec(seeds, steps), family="bench", plot="curves")
    store.start_run(run_id, {"device": "cpu"})
    rng = np.random.default_rng(seeds)
    chunk = max(1, FLUSH_ROWS // seeds)  # the blocks an engine's recorder writes at most
    for first in range(1, steps + 1, chunk):
        block = np.arange(first, min(steps, first + chunk - 1) + 1)
        store.append(
            run_id,
            blocks=[Block("loss", 0, block, rng.normal(size=(len(block), seeds)), block * 1e-3)],
        )
    store.finish_run(run_id, "finished")
    return run_id


def bench_load(app) -> list[tuple]:
    from studio.views import store_reader
    from studio.views.run_data import RunData
    from studio.views.series_views import CurvesView

    rows = []
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "load.db") as store:
        for seeds, steps in ((1, 1_000_000), (20, 50_000)):
            run_id = _write_run(store, seeds, steps)
            reads, loads = [], []
            for _ in range(5):
                start = time.perf_counter()
                store_reader.series_all(store, run_id)
                reads.append(time.perf_counter() - start)
                view = CurvesView()
                view.resize(1200, 500)
                view.show()
                app.processEvents()
                wall, _ = _timed(
                    lambda view=view, run_id=run_id: (
                        view.render(RunData.from_store(store, run_id)),
                        view.series.plot.viewport().repaint(),
                    )
                )
                loads.append(wall)
                view.close()
                view.deleteLater()
                app.processEvents()
            median, worst = _median_max(loads)
            read = statistics.median(reads)
            rows.append(
                (
                    f"load finished run, {seeds} x {steps:,} = 10^6 points, into the view",
                    "<= 1 s",
                    f"{median:.2f} s median, {worst:.2f} s worst (store read alone {read:.2f} s)",
                    median <= 1.0,
                )
            )
    return rows


def bench_hypervolume() -> list[tuple]:
    import moocore

    from engine.metrics import hypervolume

    rng = np.random.default_rng(0)
    n = 100_000
    x = rng.uniform(size=n)
    cases = {
        "uniform in the unit square": np.column_stack([x, rng.uniform(size=n)]),
        "all on the front (y = 1 - x)": np.column_stack([x, 1.0 - x]),
    }
    reference = np.array([1.1, 1.1])
    rows = []
    for name, points in cases.items():
        ours, theirs = [], []
        for _ in range(15):
            start = time.perf_counter()
            value = hypervolume(points, reference)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            expected = moocore.hypervolume(points, ref=reference)
            theirs.append(time.perf_counter() - start)
        if not np.isclose(value, expected, rtol=1e-12):
            raise AssertionError(f"hypervolume {value} differs from moocore's {expected}")
        ratio = statistics.median(ours) / statistics.median(theirs)
        rows.append(
            (
                f"hypervolume of 10^5 points, {name}",
                "<= 2x moocore",
                f"{statistics.median(ours) * 1e3:.1f} ms vs moocore {statistics.median(theirs) * 1e3:.1f} ms "
                f"({ratio:.2f}x)",
                ratio <= 2.0,
            )
        )
    return rows


def bench_stream(app, engines: bool, priority: str = "", freeze_gc: bool = False) -> list[tuple]:
    from studio.queue import run_process

    preexec = {
        "": None,
        "nice": lambda: os.nice(run_process.ENGINE_NICENESS),
        "studio": run_process.lower_priority,
    }[priority]
    result = run_stream(app, engines=engines, preexec=preexec, freeze_gc=freeze_gc)
    source = "4 engine processes" if engines else "4 writer processes"
    if priority == "nice":
        source += f" at nice {run_process.ENGINE_NICENESS}"
    elif priority == "studio":
        source += (
            f" at nice {run_process.ENGINE_NICENESS} + batch scheduling (as the studio starts them)"
        )
    if freeze_gc:
        source += ", gc.freeze() after start-up"
    latency_name = (
        "record created in engine -> drawn (incl. 0.2 s engine batching)"
        if engines
        else "record committed -> drawn"
    )
    return [
        (
            f"GUI event loop, longest stall, {source} streaming to 4 live plots",
            "<= 50 ms",
            f"{result.worst_stall * 1e3:.0f} ms worst (GUI thread busy {result.worst_stall_cpu * 1e3:.0f} ms of it), "
            f"{result.p99_stall * 1e3:.0f} ms p99 ({result.rows:,} rows in {result.seconds:.0f} s)",
            result.worst_stall <= 0.050,
        ),
        (
            f"latency {latency_name}, {source}",
            "<= 300 ms",
            f"{result.latency_median * 1e3:.0f} ms median, {result.latency_p95 * 1e3:.0f} ms p95",
            result.latency_median <= 0.300,
        ),
    ]


def bench_idle_stall(app) -> list[tuple]:
    """The same 4 writers with an empty window: what the machine's load alone does to the loop."""
    result = run_stream(app, engines=False, watch=False)
    return [
        (
            "GUI event loop, longest stall, 4 writer processes, no plots (the machine's baseline)",
            "-",
            f"{result.worst_stall * 1e3:.0f} ms worst, {result.p99_stall * 1e3:.0f} ms p99",
            True,
        )
    ]


def print_table(rows: list[tuple]) -> None:
    headers = ("measurement", "target", "measured", "met")
    cells = [
        (name, target, measured, "yes" if met else "NO") for name, target, measured, met in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="hypervolume,redraw,load,baseline,stream,frozen,engines,nice,studio",
        help="comma-separated benchmarks to run",
    )
    chosen = parser.parse_args(argv).only.split(",")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    rows = []
    for name, run in (
        ("hypervolume", bench_hypervolume),
        ("redraw", lambda: bench_redraw(app)),
        ("load", lambda: bench_load(app)),
        ("baseline", lambda: bench_idle_stall(app)),
        ("stream", lambda: bench_stream(app, engines=False)),
        ("frozen", lambda: bench_stream(app, engines=False, freeze_gc=True)),
        ("engines", lambda: bench_stream(app, engines=True)),
        ("nice", lambda: bench_stream(app, engines=True, priority="nice")),
        ("studio", lambda: bench_stream(app, engines=True, priority="studio", freeze_gc=True)),
    ):
        if name in chosen:
            print(f"running {name}…", file=sys.stderr, flush=True)
            rows += run()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\n{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}, Qt platform "
        f"{os.environ['QT_QPA_PLATFORM']}, load average at the end {load}\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
