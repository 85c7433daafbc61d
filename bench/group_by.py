"""Grouping runs in Compare: 50 runs of 10^5 seeds against 50 runs of 10 seeds, side by side.

    python bench/group_by.py                       # 50 runs of each, 10^4 steps, 9 repeats
    python bench/group_by.py --runs 50 --steps 10000 --repeats 9

Each run is a finished UCB1 run as its engine writes it (`bench.open_run.write_run`:
one aggregate row per metric and checkpoint over all its seeds, the per-seed values of
the first min(seeds, 100) seeds, the two theory bounds; synthetic values), written
through `Store.append`; the two kinds go to two store files of their own. What is timed
is what Compare does with the selected runs, grouped by a key they share (all 50 in one
group, so every run's aggregates are pooled into one curve):

- read: `RunData.from_store` for each of the runs (one bulk read of each);
- group: `comparison_figure(rows, datas, "cumulative_regret", "algorithm.id")`: the
  comparable sets, the groups, `pool_aggregates` over the 50 runs and the 95% band.

The two kinds alternate (which goes first alternates too), --repeats times; the table
gives the median seconds of each part and the ratio of the medians (10^5 seeds / 10
seeds), with `uptime` before and after. CPU time of this process (`time.process_time`)
beside wall-clock time: on a shared machine the CPU time is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.open_run import write_run  # noqa: E402
from engine.store import Store  # noqa: E402
from studio.compare.figures import comparison_figure  # noqa: E402
from studio.views.run_data import RunData  # noqa: E402

METRIC = "cumulative_regret"
GROUP_KEY = "algorithm.id"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write_runs(path: Path, seeds: int, runs: int, steps: int) -> list[int]:
    with Store(path) as store:
        return [write_run(store, seeds, steps, 0) for _ in range(runs)]


def compare_once(path: Path, run_ids: list[int]) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of reading the runs and of grouping them into one pooled curve."""
    with Store(path) as store:
        rows = {run_id: store.get_run(run_id) for run_id in run_ids}
        c0, t0 = time.process_time(), time.perf_counter()
        datas = {run_id: RunData.from_store(store, run_id) for run_id in run_ids}
        c1, t1 = time.process_time(), time.perf_counter()
        figure, notes, notice = comparison_figure(rows, datas, METRIC, GROUP_KEY)
        c2, t2 = time.process_time(), time.perf_counter()
    assert len(figure.curves) == 1 and not notice, (notes, notice)
    seeds = json.loads(rows[run_ids[0]]["spec_json"])["run"]["seeds"]
    assert f"{len(run_ids)} runs, {seeds * len(run_ids):,} seeds" in figure.curves[0].label
    return {"read": (t1 - t0, c1 - c0), "group": (t2 - t1, c2 - c1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    kinds = (100_000, 10)
    with tempfile.TemporaryDirectory(prefix="bench-group-by-") as tmp:
        stores = {seeds: Path(tmp) / f"runs-{seeds}.db" for seeds in kinds}
        ids = {seeds: write_runs(stores[seeds], seeds, args.runs, args.steps) for seeds in kinds}
        print(f"uptime before: {uptime()}")
        for seeds in kinds:  # warm-up: imports, first reads
            compare_once(stores[seeds], ids[seeds])
        times = {seeds: {"read": ([], []), "group": ([], [])} for seeds in kinds}
        for repeat in range(args.repeats):
            for seeds in kinds if repeat % 2 == 0 else kinds[::-1]:
                for part, (wall, cpu) in compare_once(stores[seeds], ids[seeds]).items():
                    times[seeds][part][0].append(wall)
                    times[seeds][part][1].append(cpu)
        print(
            f"{args.runs} runs of each kind, {args.steps:,} steps, {args.repeats} repeats; "
            f"medians in ms (CPU / wall)"
        )
        print("| part | 10 seeds | 100,000 seeds | ratio (CPU) | ratio (wall) |")
        print("|---|---|---|---|---|")
        for part in ("read", "group"):
            big, small = times[kinds[0]][part], times[kinds[1]][part]
            cpu = [statistics.median(small[1]), statistics.median(big[1])]
            wall = [statistics.median(small[0]), statistics.median(big[0])]
            print(
                f"| {part} | {cpu[0] * 1e3:.1f} / {wall[0] * 1e3:.1f} "
                f"| {cpu[1] * 1e3:.1f} / {wall[1] * 1e3:.1f} "
                f"| {cpu[1] / cpu[0]:.2f} | {wall[1] / wall[0]:.2f} |",
                flush=True,
            )
        print(f"uptime after: {uptime()}")


if __name__ == "__main__":
    main()
