"""Opening a finished run: 10^6 seeds against 10 seeds of the same length, side by side.

    python -m bench.open_run                    # 10^4 steps, both recording schedules
    python -m bench.open_run --steps 10000 --repeats 7
    python -m bench.open_run --runs STORE BIG_RUN SMALL_RUN   # two runs an engine made

What a finished UCB1 run of S seeds x 10^4 steps leaves in the store, written as its
engine writes it (schema 5): for each of its two metrics (cumulative_regret,
best_arm_fraction) one `series_aggregates` row per checkpoint over all S seeds, the
per-seed blocks of the first min(S, keep_seeds = 100) seeds, and the two theory bounds
as seed -1 blocks. The values are synthetic (a mean growing like log t, spread over the
seeds); drawing cost does not depend on them. Two recording schedules: the engine's
automatic one (about 600 checkpoints at 10^4 steps) and every step (10^4 checkpoints,
the most a 10^4-step run records).

"open" is what the studio does when a run is selected: `LivePlot.watch` (one bulk read
of the store into `RunData`, the regret view built and drawn), then the first paint of
its plot, offscreen. Every open is a process of its own, which first opens a tiny run
(so that Qt's and pyqtgraph's first-use costs, paid once per session, are not counted)
and then the measured one: its peak RSS (VmHWM from /proc/self/status) is that of a
studio process (Qt, pyqtgraph, the studio; not torch) that opened this run. The two
seed counts alternate; the table gives the median and worst time, the median peak RSS,
the ratio of the median times, and the load average before and after.

`--runs STORE BIG SMALL` opens two finished runs of a store instead (runs that
`tradeoff run` made, e.g. 10^6 and 10 seeds of the same spec), the same way; the small
run is also the one opened first in each process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KEEP_SEEDS = 100
METRICS = ("cumulative_regret", "best_arm_fraction")
BOUNDS = ("regret_upper_bound", "regret_lower_bound")
FLUSH_VALUES = 50_000  # values per block at most, as the engine's recorder flushes them
Z = np.array([-1.6448536, -0.6744898, 0.0, 0.6744898, 1.6448536])  # normal quantiles 5..95%


def _curves(steps: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(mean, standard deviation over seeds) of each metric at each checkpoint."""
    t = steps.astype(float)
    regret = 6.0 * np.log1p(t) + 0.002 * t
    fraction = 1.0 - 0.8 / np.sqrt(t)
    return {
        "cumulative_regret": (regret, 0.25 * regret),
        "best_arm_fraction": (fraction, 0.1 / np.sqrt(t)),
    }


def write_run(store, seeds: int, steps: int, record_every: int) -> int:
    """A finished UCB1 run's rows, as its engine writes them; returns its id."""
    from engine.blocks import Block
    from engine.runner import record_steps
    from engine.spec import RunSpec

    spec = RunSpec(
        algorithm="bandits.ucb1",
        problem="bandits.bernoulli",
        steps=steps,
        seeds=seeds,
        record_every=record_every,
        keep_seeds=KEEP_SEEDS,
        name=f"bench {seeds:,} seeds",
    )
    run_id = store.create_run(spec, family="bandits", plot="regret")
    store.start_run(run_id, {"device": "cpu", "dtype": "float32", "threads": 1})
    checkpoints = record_steps(steps, record_every)
    wall = checkpoints * 1e-4
    kept = min(seeds, KEEP_SEEDS)
    rng = np.random.default_rng(seeds)
    spread = rng.standard_normal(kept)
    blocks, aggregates = [], []
    for metric, (mean, sd) in _curves(checkpoints).items():
        values = mean[:, None] + sd[:, None] * spread[None, :]
        chunk = max(1, FLUSH_VALUES // kept)
        for first in range(0, len(checkpoints), chunk):
            rows = slice(first, first + chunk)
            blocks.append(Block(metric, 0, checkpoints[rows], values[rows], wall[rows]))
        quantiles = mean[:, None] + sd[:, None] * Z[None, :]
        for i, step in enumerate(checkpoints.tolist()):
            aggregates.append(
                (
                    metric,
                    step,
                    seeds,
                    mean[i],
                    sd[i] ** 2,
                    mean[i] - 4.5 * sd[i],
                    mean[i] + 4.5 * sd[i],
                    *quantiles[i].tolist(),
                    float(wall[i]),
                )
            )
    t = np.arange(1, steps + 1)
    for name, curve in zip(BOUNDS, (8.0 * np.log(t) + 5.0, 3.0 * np.log(t))):
        blocks.append(Block(name, -1, t, curve[:, None], np.zeros(steps)))
    store.append(run_id, blocks=blocks, aggregate_rows=aggregates, steps_done=steps)
    store.finish_run(run_id, "finished")
    return run_id


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_once(db: str, run_id: int, warm_id: int) -> dict:
    """In this process: open a tiny run first (so that Qt's and pyqtgraph's first-use costs,
    paid once per studio session, are not counted), then time opening `run_id` (load -> first
    paint) and read the process's peak RSS."""
    from PySide6.QtWidgets import QApplication

    from engine.store import Store
    from studio.views.live_plot import LivePlot

    app = QApplication.instance() or QApplication([])
    with Store(db) as store:
        times = []
        for target in (warm_id, run_id):
            plot = LivePlot(store)
            plot.resize(1200, 600)
            plot.show()
            app.processEvents()
            start = time.perf_counter()
            plot.watch(target, "regret")
            plot.view.series.plot.viewport().repaint()
            times.append(time.perf_counter() - start)
            plot.stop_timers()
            drawn = len(plot.view.series.layers[0].mean.x)
            plot.close()
            plot.deleteLater()
            app.processEvents()
    assert "torch" not in sys.modules, "the studio side of the bench imported torch"
    return {"time": times[-1], "rss_mb": peak_rss_mb(), "drawn": drawn}


def _child(db: str, run_id: int, warm_id: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.open_run", "--child", db, str(run_id), str(warm_id)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def open_store_runs(db: str, big_id: int, small_id: int, repeats: int) -> None:
    """Open two runs an engine made (alternating, each open in a process of its own)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        seeds = {
            run_id: conn.execute("SELECT seeds FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            for run_id in (big_id, small_id)
        }
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    size = Path(db).stat().st_size / 1e6
    print(
        f"opening runs {big_id} and {small_id} of {db} ({size:.1f} MB); load average {load_before}"
    )
    opens: dict[int, list[dict]] = {big_id: [], small_id: []}
    for _ in range(repeats):
        for run_id in (big_id, small_id):
            opens[run_id].append(_child(db, run_id, small_id))
    medians = {r: statistics.median(o["time"] for o in opens[r]) for r in opens}
    for run_id, found in opens.items():
        times = [o["time"] for o in found]
        rss = statistics.median(o["rss_mb"] for o in found)
        print(
            f"run {run_id} ({seeds[run_id]:,} seeds, {found[0]['drawn']:,} points): open median "
            f"{medians[run_id]:.3f} s, worst {max(times):.3f} s, peak RSS {rss:.0f} MB"
        )
    print(f"ratio: {medians[big_id] / medians[small_id]:.2f}x")
    print("load average after: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument(
        "--seeds", default="1000000,10", help="the two seed counts compared (big,small)"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--child", nargs=3, metavar=("DB", "RUN", "WARM_RUN"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--runs",
        nargs=3,
        metavar=("STORE", "BIG_RUN", "SMALL_RUN"),
        help="open these two finished runs of STORE instead of synthetic ones",
    )
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(open_once(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    if args.runs:
        open_store_runs(args.runs[0], int(args.runs[1]), int(args.runs[2]), args.repeats)
        return
    from engine.store import Store

    big, small = (int(s) for s in args.seeds.split(","))
    load_before = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"opening a finished run, {args.steps:,} steps, {big:,} vs {small:,} seeds (keep_seeds {KEEP_SEEDS}); "
        f"{args.repeats} opens each, each in a process of its own (alternating); load average {load_before}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "open.db")
        for schedule, record_every in (
            ("automatic checkpoints", 0),
            ("a checkpoint every step", 1),
        ):
            with Store(db) as store:
                ids = {
                    seeds: write_run(store, seeds, args.steps, record_every)
                    for seeds in (big, small)
                }
                warm_id = write_run(store, 1, 10, 0)
            opens: dict[int, list[dict]] = {seeds: [] for seeds in ids}
            for _ in range(args.repeats):
                for seeds, run_id in ids.items():
                    opens[seeds].append(_child(db, run_id, warm_id))
            medians = {seeds: statistics.median(o["time"] for o in opens[seeds]) for seeds in ids}
            for seeds in (big, small):
                times = [o["time"] for o in opens[seeds]]
                rss = statistics.median(o["rss_mb"] for o in opens[seeds])
                rows.append(
                    (
                        f"{seeds:,} seeds, {schedule} ({opens[seeds][0]['drawn']:,} points)",
                        f"{medians[seeds]:.3f} s",
                        f"{max(times):.3f} s",
                        f"{rss:.0f} MB",
                    )
                )
            rows.append(
                (
                    f"ratio {big:,} / {small:,} seeds, {schedule}",
                    f"{medians[big] / medians[small]:.2f}x",
                    "",
                    "",
                )
            )
    header = ("case", "open median", "worst", "peak RSS (median)")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))
    print("load average after: " + ", ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
