"""What recording costs now that the engine aggregates over seeds: UCB1 on a 10-armed
Bernoulli bandit on the CPU, with recording (default checkpoints, default keep_seeds =
100: one aggregate row per metric and checkpoint, the first 100 seeds' values) beside the
same loop with recording off (`Recorder.metrics` a no-op: the algorithm still computes
its metric tensors at each checkpoint, nothing is aggregated, copied or written), and the
store file a run leaves.

- throughput: arm pulls per second of `runner.execute`, recording on and off alternating
  (which goes first alternates too), --repeats times (default 9), both per wall-clock
  second and per second of this process's CPU time (`time.process_time`: every thread of
  the process, the store's writer included, and nothing of other processes, so on a shared
  machine it is the figure to read; the wall-clock rate is what a user waits). Each rate is
  the median of its runs; each ratio on / off is the median of the per-repeat ratios, with
  their min and max; `uptime` before and after. --threads N runs torch with N threads (the
  spec's `threads`): with 1, no pool of worker threads spins on a core and the CPU time is
  that of the work alone. The recorder's CPU share: of each recording-on run's CPU time,
  the part spent in `Recorder.metrics`, `Recorder._write` and the writer thread's
  `Store.append` (median, min–max): 1 - share is the on / off ratio the loop would show
  if the rest of it cost the same in both runs, which it does not quite (its own metric
  tensors' allocations vary by tens of percent from run to run at 10^5 seeds and more).
  `SEEDSxSTEPS@REF` records at the density of a default REF-step run instead of this
  run's own default checkpoints: len(record_steps(REF)) checkpoints per REF steps (564
  per 10^4 at REF = 10000, one every 17.7 steps), evenly spaced, the last step included.
  Below 500 steps the default checkpoints are every step, which a real run of 10^4 steps
  or more never records; `@10000` is what a run of 10^4 steps costs per step, in a run
  short enough to repeat here at 10^5 and 10^6 seeds.
- calls: CPU time of one `seed_aggregates` call (this thread's, `time.thread_time`,
  median of 30) at 10^3, 10^5 and 10^6 float32 and float64 values, and per row of one
  `seed_aggregate_rows` call on a table of 65 checkpoints x 1,000 seeds (what the
  recorder aggregates at once at 10^3 seeds), where the code has it.
- parts: the throughput ratio with parts of the recorder's work done an old way (tables
  of checkpoints aggregated one call each; tensors converted by numpy before they are
  copied; aggregate rows one to an INSERT statement) or left out (the store's append; the
  aggregation too), all ways alternating: where the recorder's cost goes.
- size: the store file (after a WAL checkpoint) of one run with default keep_seeds, with
  its row counts, for each seeds x steps given.

    python bench/aggregates.py                                  # both parts, the README's sizes
    python bench/aggregates.py --only throughput --throughput 1000x10000,100000x1000 --threads 1
    python bench/aggregates.py --only throughput --threads 1 \
        --throughput 100000x300,100000x1000@10000,1000000x30,1000000x30@10000
    python bench/aggregates.py --only parts --threads 1 --repeats 7 --throughput 1000x10000
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

import numpy as np  # noqa: E402

from engine import registry, runner  # noqa: E402
from engine import store as store_module  # noqa: E402
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
threads = {threads}
"""


def _spec(seeds: int, steps: int, extra: str = "", threads: int = 0) -> RunSpec:
    return RunSpec.from_toml(
        SPEC.format(seeds=seeds, steps=steps, extra=extra, means=MEANS, threads=threads),
        registry.Catalogue.live(),
    )


def _no_metrics(self, step, values):
    return None


class _Attributed:
    """CPU time spent in the recorder while it is installed: in `Recorder.metrics` and
    `Recorder._write` (the loop's thread), and in `resolve_held` (the aggregation) and
    `Store.append` on the writer's thread (the writes a run with recording off makes too,
    its bounds and progress, are a few ms)."""

    def __init__(self):
        self.seconds = 0.0
        self.originals = []

    def _wrap(self, owner, name):
        original = getattr(owner, name)
        attributed = self

        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                attributed.seconds += time.thread_time() - start

        self.originals.append((owner, name, original))
        setattr(owner, name, timed)

    def __enter__(self):
        self._wrap(runner.Recorder, "metrics")
        self._wrap(runner.Recorder, "_write")
        self._wrap(runner, "resolve_held")
        self._wrap(Store, "append")
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)


def density_of(reference: int):
    """A checkpoint schedule in place of `runner.record_steps`: the density of a default
    `reference`-step run (its checkpoint count per step), evenly spaced, the last step
    included. Both the recording-on and -off runs use it: the loop computes its metric
    tensors at each checkpoint either way."""
    per_step = len(runner.record_steps(reference)) / reference

    def record_steps(steps: int, record_every: int = 0):
        count = max(1, round(steps * per_step))
        return np.unique(np.linspace(steps / count, steps, count).round().astype(np.int64))

    return record_steps


def checkpoints(steps: int, like: int = 0) -> int:
    return len((density_of(like) if like else runner.record_steps)(steps))


def timed_run(
    seeds: int, steps: int, recording: bool, folder: Path, threads: int = 0, like: int = 0
) -> tuple[float, float, float]:
    """Wall seconds and CPU seconds (of this process) of one run, to a fresh store, and
    the CPU seconds spent in the recorder (`_Attributed`). `like`: record at the density
    of a default run of that many steps (`density_of`) instead of this run's default
    checkpoints."""
    path = folder / f"t{time.monotonic_ns()}.db"
    store = Store(path)
    original = runner.Recorder.metrics
    schedule = runner.record_steps
    if not recording:
        runner.Recorder.metrics = _no_metrics
    if like:
        runner.record_steps = density_of(like)
    try:
        spec = _spec(seeds, steps, threads=threads)
        with _Attributed() as attributed:
            c0, t0 = time.process_time(), time.perf_counter()
            _, status = runner.execute(spec, store, "cpu")
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        runner.Recorder.metrics = original
        runner.record_steps = schedule
        store.close()
    assert status == "finished", status
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return seconds, cpu, attributed.seconds


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _spread(values) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def throughput(configs, repeats: int, folder: Path, threads: int = 0) -> None:
    print(f"uptime before: {uptime()}")
    print(f"torch threads: {threads or 'default'}; {repeats} repeats, on and off alternating")
    print(
        "| seeds | steps | checkpoints | CPU: on (pulls/s) | CPU: off (pulls/s) "
        "| CPU: on / off (min–max) | wall: on (pulls/s) | wall: off (pulls/s) "
        "| wall: on / off (min–max) | recorder's CPU share |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seeds, steps, like in configs:
        # warm-up: imports, allocator, thread pools
        timed_run(seeds, min(steps, 50), True, folder, threads)
        timed_run(seeds, min(steps, 50), False, folder, threads)
        wall = {True: [], False: []}
        cpu = {True: [], False: []}
        share = []
        for repeat in range(repeats):
            for recording in (True, False) if repeat % 2 == 0 else (False, True):
                w, c, a = timed_run(seeds, steps, recording, folder, threads, like)
                wall[recording].append(w)
                cpu[recording].append(c)
                if recording:
                    share.append(a / c)
        pulls = seeds * steps
        wall_ratios = [off / on for on, off in zip(wall[True], wall[False])]
        cpu_ratios = [off / on for on, off in zip(cpu[True], cpu[False])]
        schedule = f" (density of {like:,} steps)" if like else ""
        print(
            f"| {seeds:,} | {steps:,} | {checkpoints(steps, like)}{schedule} "
            f"| {pulls / statistics.median(cpu[True]):,.0f} "
            f"| {pulls / statistics.median(cpu[False]):,.0f} | {_spread(cpu_ratios)} "
            f"| {pulls / statistics.median(wall[True]):,.0f} "
            f"| {pulls / statistics.median(wall[False]):,.0f} | {_spread(wall_ratios)} "
            f"| {_spread(share)} |",
            flush=True,
        )
    print(f"uptime after: {uptime()}")


def _no_append(self, run_id, **batch):
    return None


def _drop_held(batch: dict) -> dict:
    batch.pop("held", None)
    return batch


def _row_by_row(conn, params) -> None:
    """The aggregate rows inserted one statement each (the store before it put
    AGGREGATE_ROWS_PER_INSERT rows in a statement)."""
    conn.executemany(store_module._INSERT_AGGREGATE, params)


_EMPTY_TABLES = runner._empty_tables
_RECORDER_INIT = runner.Recorder.__init__


def _one_by_one(keep, tables):
    """The tables aggregated one `seed_aggregate_rows` call each (the writer before it
    stacked the tables of one width and dtype)."""
    return [row for table in tables for row in _EMPTY_TABLES(keep, [table])]


def _numpy_copies(self, *args, **kwargs):
    """A recorder that converts every tensor to numpy before copying it into its tables
    (the recorder before torch copied CPU float tensors itself)."""
    _RECORDER_INIT(self, *args, **kwargs)
    self._tensor = None


PARTS = {
    # what the recorder does otherwise: an old way of one of its parts, or a part left out
    "everything": {},
    "tables aggregated one by one": {(runner, "_empty_tables"): _one_by_one},
    "tensors converted by numpy": {(runner.Recorder, "__init__"): _numpy_copies},
    "aggregate rows one to a statement": {(store_module, "_insert_aggregates"): _row_by_row},
    "no store append": {(Store, "append"): _no_append},
    "no aggregation, no append": {
        (Store, "append"): _no_append,
        (runner, "resolve_held"): _drop_held,
    },
}


def parts(configs, repeats: int, folder: Path, threads: int = 0) -> None:
    """Wall and CPU ratios to recording off of the recording on with parts of the
    recorder's work done an old way or left out (`PARTS`), all alternating within each
    repeat: where the gap goes."""
    print(f"uptime before: {uptime()}")
    print(f"torch threads: {threads or 'default'}; {repeats} repeats, all ways alternating")
    print("| seeds | steps | recording | wall: ratio to off | CPU: ratio to off |")
    print("|---|---|---|---|---|")
    for seeds, steps, like in configs:
        timed_run(seeds, min(steps, 50), True, folder, threads)
        wall, cpu = {}, {}
        ways = [*PARTS, "off"]
        for repeat in range(repeats):
            for way in ways if repeat % 2 == 0 else reversed(ways):
                stand_ins = PARTS.get(way, {})
                saved = {(owner, name): getattr(owner, name) for owner, name in stand_ins}
                for (owner, name), stand_in in stand_ins.items():
                    setattr(owner, name, stand_in)
                try:
                    w, c, _ = timed_run(seeds, steps, way != "off", folder, threads, like)
                finally:
                    for (owner, name), original in saved.items():
                        setattr(owner, name, original)
                wall.setdefault(way, []).append(w)
                cpu.setdefault(way, []).append(c)
        for way in PARTS:
            wall_ratios = [off / on for on, off in zip(wall[way], wall["off"])]
            cpu_ratios = [off / on for on, off in zip(cpu[way], cpu["off"])]
            print(
                f"| {seeds:,} | {steps:,} | {way} | {_spread(wall_ratios)} "
                f"| {_spread(cpu_ratios)} |",
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


def calls(repeats: int = 30) -> None:
    import numpy as np

    from engine.metrics import aggregate

    def cpu_ms(function) -> float:
        times = []
        for _ in range(repeats):
            start = time.thread_time()
            function()
            times.append(time.thread_time() - start)
        return statistics.median(times) * 1e3

    def partitioning(row, ranks):
        return None  # the wide path's fallback: partition around each rank

    bracketed = aggregate._bracketed_pairs
    rng = np.random.default_rng(0)
    print(f"uptime before: {uptime()}")
    print("| values | dtype | seed_aggregates (ms) | wide path partitioning instead (ms) |")
    print("|---|---|---|---|")
    for size in (1_000, 100_000, 1_000_000):
        for dtype in (np.float32, np.float64):
            values = rng.standard_normal(size).astype(dtype)
            ms = cpu_ms(lambda values=values: aggregate.seed_aggregates(values))
            aggregate._bracketed_pairs = partitioning
            try:
                old = cpu_ms(lambda values=values: aggregate.seed_aggregates(values))
            finally:
                aggregate._bracketed_pairs = bracketed
            print(f"| {size:,} | {np.dtype(dtype).name} | {ms:.3f} | {old:.3f} |", flush=True)
    rows = getattr(aggregate, "seed_aggregate_rows", None)
    if rows is not None:
        table = rng.standard_normal((65, 1000))
        ms = cpu_ms(lambda: rows(table)) / len(table)
        print(f"| 65 x 1,000 table | float64 | {ms:.3f} per row |")
    print(f"uptime after: {uptime()}")


def _pairs(text: str):
    return [tuple(int(v) for v in item.split("x")) for item in text.split(",") if item]


def _configs(text: str):
    """SEEDSxSTEPS or SEEDSxSTEPS@REF items: (seeds, steps, REF or 0)."""
    out = []
    for item in text.split(","):
        if item:
            pair, _, like = item.partition("@")
            out.append((*(int(v) for v in pair.split("x")), int(like or 0)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("throughput", "parts", "size", "calls"))
    parser.add_argument(
        "--throughput",
        default="1000x10000,100000x1000,1000000x200",
        help="SEEDSxSTEPS[@REF],... for the throughput table (@REF: the checkpoint density "
        "of a default REF-step run)",
    )
    parser.add_argument(
        "--size",
        default="1000x10000,100000x10000,1000000x1000",
        help="SEEDSxSTEPS,... for the store sizes",
    )
    parser.add_argument("--keep", default="", help='e.g. keep_seeds = "all" for the size table')
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-aggregates-") as tmp:
        if args.only in (None, "throughput"):
            throughput(_configs(args.throughput), args.repeats, Path(tmp), args.threads)
        if args.only == "parts":
            parts(_configs(args.throughput), args.repeats, Path(tmp), args.threads)
        if args.only == "calls":
            calls()
        if args.only in (None, "size"):
            size(_pairs(args.size), Path(tmp), args.keep)


if __name__ == "__main__":
    main()
