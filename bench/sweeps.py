"""Sweeps on the local pool: parallel speed-up and the scheduler's overhead per run.

    python -m bench.sweeps                      # 3 repeats, 2 workers
    python -m bench.sweeps --repeats 5 --steps 10000 --seeds 20

(a) A 3 x 2 grid (c in 0.5, 2, 8 x UCB1, KL-UCB) of 20 seeds x 10^4 steps each. The
six points are first run one after another in this process (`runner.execute`, torch
imported once), which gives each run's own time; then the sweep runs as a user runs it,
`tradeoff run SWEEP --workers 2` in a fresh process, timed from the command's start to
its last line (so worker start-up, torch imports and the final line are in). The ratio is
sweep wall / (slowest single run x 6 / workers): 1.0 is a perfect split of the slowest
run's time over the workers.

(b) Overhead per run, from "the run may start" to its first record in the store:
- pool: a sweep of tiny runs (2 seeds x 10 steps) on one warm worker; for each run
  after the first, its first record's time minus the previous run's end (the worker is
  free from then on: reporting, the scheduler's claim of the next point, building it);
- fresh process: `tradeoff run SPEC` of the same tiny run, from just before the process
  is started to its first record (a Python start, torch and the catalogue imported).
The first record's time is the run's `created_at` plus the wall time of its first
aggregate row (which the recorder counts from just after the run row is made).

Medians over the repeats; `uptime` before and after. Runs on a shared machine are
slowed by whatever else runs: compare the columns of one table, not tables of two runs.
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

ROOT = Path(__file__).resolve().parent.parent

SWEEP = """
[run]
seeds = {seeds}
steps = {steps}
seed = 0
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.1, 0.3, 0.5, 0.55, 0.6]
[hardware]
device = "cpu"
threads = 1
"""
GRID = '[sweep.grid]\n"algorithm.c" = [0.5, 2.0, 8.0]\n"algorithm.id" = ["bandits.ucb1", "bandits.kl_ucb"]\n'


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def single_runs(text: str, db: Path) -> list[float]:
    """Each point of the sweep run alone, in this process; their own times (s)."""
    import torch

    from engine import registry, runner, sweep
    from engine.store import Store

    torch.set_num_threads(1)
    found = sweep.from_toml(text, registry.Catalogue.live(), "bench")
    times = []
    with Store(db) as store:
        for point in found.points:
            device = runner.prepare(point.spec)
            t0 = time.perf_counter()
            runner.execute(point.spec, store, device)
            times.append(time.perf_counter() - t0)
    return times


def sweep_wall(spec: Path, db: Path, workers: int) -> float:
    t0 = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(spec), "--db", str(db), "--json"]
        + ["--workers", str(workers)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"the sweep failed: {result.stderr}")
    return wall


def sweep_breakdown(db: Path, started: float) -> tuple[float, float, float]:
    """(command start -> first run created, first run created -> last run finished, the
    longest run's own time inside the sweep), in seconds."""
    from engine.store import Store

    with Store(db) as store:
        rows = store.conn.execute("SELECT created_at, started_at, finished_at FROM runs").fetchall()
    first = min(r[0] for r in rows)
    return first - started, max(r[2] for r in rows) - first, max(r[2] - r[1] for r in rows)


def first_record_times(db: Path) -> dict[int, tuple[float, float, float]]:
    """run id -> (created_at, first record's absolute time, finished_at)."""
    from engine.store import Store

    out = {}
    with Store(db) as store:
        for run_id, created, finished in store.conn.execute(
            "SELECT id, created_at, finished_at FROM runs ORDER BY id"
        ).fetchall():
            first = store.conn.execute(
                "SELECT min(wall_time) FROM series_aggregates WHERE run_id=?", (run_id,)
            ).fetchone()[0]
            out[run_id] = (created, created + (first or 0.0), finished)
    return out


def pool_overheads(folder: Path, points: int, index: int) -> list[float]:
    spec = folder / "tiny-sweep.toml"
    spec.write_text(
        SWEEP.format(seeds=2, steps=10) + f'[sweep.zip]\n"run.seed" = {list(range(points))}\n',
        encoding="utf-8",
    )
    db = folder / f"pool{index}.db"
    sweep_wall(spec, db, workers=1)
    runs = first_record_times(db)
    ids = sorted(runs)
    return [runs[b][1] - runs[a][2] for a, b in zip(ids, ids[1:])]


def fresh_overhead(folder: Path, index: int) -> float:
    spec = folder / "tiny.toml"
    spec.write_text(SWEEP.format(seeds=2, steps=10), encoding="utf-8")
    db = folder / f"fresh{index}.db"
    t0 = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(spec), "--db", str(db), "--json", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"the run failed: {result.stderr}")
    (run,) = first_record_times(db).values()
    return run[1] - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--tiny-points", type=int, default=8)
    parser.add_argument("--only", default="speedup,overhead")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    print(f"before: {uptime()}", flush=True)
    print(f"cores available: {len(os.sched_getaffinity(0))}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = SWEEP.format(seeds=args.seeds, steps=args.steps) + GRID
        spec = folder / "sweep.toml"
        spec.write_text(text, encoding="utf-8")
        if "speedup" in only:
            rows = []
            for rep in range(args.repeats):
                singles = single_runs(text, folder / f"single{rep}.db")
                started = time.time()
                wall = sweep_wall(spec, folder / f"sweep{rep}.db", args.workers)
                startup, span, longest = sweep_breakdown(folder / f"sweep{rep}.db", started)
                ideal = max(singles) * len(singles) / args.workers
                rows.append(
                    (wall, max(singles), sum(singles), wall / ideal, startup, span, span / ideal)
                )
                print(
                    f"  repeat {rep}: sweep {wall:.1f} s (start-up to the first run {startup:.1f} s, "
                    f"first run to last end {span:.1f} s, longest run in the sweep {longest:.1f} s); "
                    f"single runs {', '.join(f'{t:.1f}' for t in singles)} s; "
                    f"ratio {wall / ideal:.2f} (runs only {span / ideal:.2f})",
                    flush=True,
                )
            med = [statistics.median(r[i] for r in rows) for i in range(7)]
            print(
                f"(a) 3 x 2 grid, {args.seeds} seeds x {args.steps} steps, {args.workers} workers: "
                f"sweep wall {med[0]:.1f} s (start-up {med[4]:.1f} s, runs {med[5]:.1f} s); "
                f"slowest single run {med[1]:.1f} s (all six one after another {med[2]:.1f} s); "
                f"sweep / (slowest x 6 / {args.workers}) = {med[3]:.2f}, "
                f"runs only {med[6]:.2f} (medians of {args.repeats})",
                flush=True,
            )
        if "overhead" in only:
            pool, fresh = [], []
            for rep in range(args.repeats):
                pool += pool_overheads(folder, args.tiny_points, rep)
                fresh.append(fresh_overhead(folder, rep))
                print(
                    f"  repeat {rep}: pool {statistics.median(pool) * 1000:.0f} ms so far, "
                    f"fresh process {fresh[-1]:.2f} s",
                    flush=True,
                )
            p, f = statistics.median(pool), statistics.median(fresh)
            print(
                f"(b) overhead to a run's first record: pool {p * 1000:.0f} ms (median of "
                f"{len(pool)} runs), fresh `tradeoff run` process {f:.2f} s (median of "
                f"{len(fresh)}); fresh / pool = {f / p:.0f}x",
                flush=True,
            )
    print(f"after: {uptime()}", flush=True)


if __name__ == "__main__":
    main()
