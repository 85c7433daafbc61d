"""What recording costs now that the engine aggregates over seeds: UCB1 on a 10-armed
Bernoulli bandit on the CPU, with recording (default checkpoints, default keep_seeds =
100: one aggregate row per metric and checkpoint, the first 100 seeds' values) beside the
same loop with recording off (`Recorder.metrics` a no-op: the algorithm still computes
its metric tensors at each checkpoint, nothing is aggregated, copied or written), and the
store file a run leaves.

- throughput: arm pulls per second (seeds x steps / wall seconds of `runner.execute`),
  recording on and off alternating, --repeats times (default 3); each rate the median of
  its runs, the ratio the median of the per-repeat ratios; `uptime` before and after.
- size: the store file (after a WAL checkpoint) of one run with default keep_seeds, with
  its row counts, for each seeds x steps given.

    python bench/aggregates.py                                  # both parts, the README's sizes
    python bench/aggregates.py --only throughput --throughput 1000x10000,100000x1000
    python bench/aggregates.py --only size --size 1000000x1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import registry, runner  # noqa: E402
from engine.spec import RunSpec  # noqa: E402
from engine.store import Store  # noqa: E402

MEANS = [round(0.1 + 0.08 * i, 2) for i in range(10)]
SPEC = """
[run]
seeds = {seeds}
steps = {steps}
seed = 1
{extra}
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = {means}
[hardware]
device = "cpu"
"""


def _spec(seeds: int, steps: int, extra: str = "") -> RunSpec:
    return RunSpec.from_toml(
        SPEC.format(seeds=seeds, steps=steps, extra=extra, means=MEANS), registry.Catalogue.live()
    )


def _no_metrics(self, step, values):
    return None


def timed_run(seeds: int, steps: int, recording: bool, folder: Path) -> float:
    """Wall seconds of one run in this process, to a fresh store."""
    path = folder / f"t{time.monotonic_ns()}.db"
    store = Store(path)
    original = runner.Recorder.metrics
    if not recording:
        runner.Recorder.metrics = _no_metrics
    try:
        t0 = time.perf_counter()
        _, status = runner.execute(_spec(seeds, steps), store, "cpu")
        seconds = time.perf_counter() - t0
    finally:
        runner.Recorder.metrics = original
        store.close()
    assert status == "finished", status
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return seconds


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def throughput(configs, repeats: int, folder: Path) -> None:
    print(f"uptime before: {uptime()}")
    print(
        "| seeds | steps | checkpoints | recording on (pulls/s) | recording off (pulls/s) | on / off |"
    )
    print("|---|---|---|---|---|---|")
    for seeds, steps in configs:
        timed_run(seeds, min(steps, 50), True, folder)  # warm-up: imports, allocator, thread pools
        on, off, ratios = [], [], []
        for _ in range(repeats):
            a = timed_run(seeds, steps, True, folder)
            b = timed_run(seeds, steps, False, folder)
            on.append(seeds * steps / a)
            off.append(seeds * steps / b)
            ratios.append(b / a)
        checkpoints = len(runner.record_steps(steps))
        print(
            f"| {seeds:,} | {steps:,} | {checkpoints} | {statistics.median(on):,.0f} | "
            f"{statistics.median(off):,.0f} | {statistics.median(ratios):.3f} "
            f"({', '.join(f'{r:.3f}' for r in ratios)}) |",
            flush=True,
        )
    print(f"uptime after: {uptime()}")


def size(configs, folder: Path, keep: str = "") -> None:
    print(
        "| seeds | steps | keep_seeds | checkpoints | store file | aggregate rows | per-seed values | run seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seeds, steps in configs:
        path = folder / f"s{seeds}x{steps}.db"
        store = Store(path)
        t0 = time.perf_counter()
        run_id, status = runner.execute(_spec(seeds, steps, keep), store, "cpu")
        seconds = time.perf_counter() - t0
        assert status == "finished", status
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        aggregates = store.conn.execute("SELECT count(*) FROM series_aggregates").fetchone()[0]
        values = store.conn.execute(
            "SELECT coalesce(sum(n * width), 0) FROM series_blocks WHERE seed0 >= 0"
        ).fetchone()[0]
        store.close()
        total = sum(
            os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}")
        )
        print(
            f"| {seeds:,} | {steps:,} | {keep.split('=')[-1].strip() or 100} | {len(runner.record_steps(steps))} | "
            f"{total / 1e6:.2f} MB | {aggregates:,} | {values:,} | {seconds:.0f} |",
            flush=True,
        )
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def _pairs(text: str):
    return [tuple(int(v) for v in item.split("x")) for item in text.split(",") if item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("throughput", "size"))
    parser.add_argument(
        "--throughput",
        default="1000x10000,100000x1000,1000000x200",
        help="SEEDSxSTEPS,... for the throughput table",
    )
    parser.add_argument(
        "--size",
        default="1000x10000,100000x10000,1000000x1000",
        help="SEEDSxSTEPS,... for the store sizes",
    )
    parser.add_argument("--keep", default="", help='e.g. keep_seeds = "all" for the size table')
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-aggregates-") as tmp:
        if args.only in (None, "throughput"):
            throughput(_pairs(args.throughput), args.repeats, Path(tmp))
        if args.only in (None, "size"):
            size(_pairs(args.size), Path(tmp), args.keep)


if __name__ == "__main__":
    main()
