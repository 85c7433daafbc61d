"""Sweeps on Ray against the local pool: overhead per point, and the driver's store writing.

    python -m bench.ray_sweep                     # 3 repeats
    python -m bench.ray_sweep --repeats 5 --tiny-points 10 --seeds 4000 --steps 2000
    python -m bench.ray_sweep --only long --long-seeds 200 --long-steps 200000

Needs the ray extra. One local Ray instance is started in this process (ray.init with
the bench's CPUs, loopback, no dashboard) and serves every Ray measurement; the local
pool's are `tradeoff run` commands as a user runs them in (a), the scheduler in this
process in (c).

(a) Overhead per point, the same tiny sweep (2 seeds x 10 steps, `--tiny-points` points,
one at a time) on both backends: for each run after the first, its first record's time
minus the previous run's end (`bench.sweeps.first_record_times`). On the pool that is the
worker reporting, the scheduler claiming the next point, the worker building it; on Ray
it adds the call to the slot's Ray actor and the messages to the driver.
The two backends alternate within each repeat.

(c) Overhead per point for points of seconds (the Ray issue's target: Ray <= 1.5x the
pool for points of >= 5 s): the same sweep of `--long-points` UCB1 points of
`--long-seeds` seeds x `--long-steps` steps (6 to 15 s each on this machine, by its
load), one slot, on both backends through the scheduler in this process (`LocalPool` of one worker,
`RayBackend` of one slot), alternating. For each point after the first:
- overhead = (the time the scheduler gets its end) - (the time it got the previous
  point's end) - compute, where compute is the run's own time measured inside it, in the
  worker (its last checkpoint's wall time, counted by the recorder from just after the
  run's row is made). It is everything a point costs beside its computation: handing it
  over, building it, writing its row, start and end, its records' way to the store, the
  end's way back to the scheduler.
- gap = its first record's time minus the previous run's end, as in (a).
The first point of each sweep is left out of both: it pays the workers' start.

(b) Records from a remote point to the store: one point of `--seeds` seeds x `--steps`
steps keeping every seed (UCB1: per-seed values and aggregates at ~570 checkpoints),
run on Ray. The driver counts the values it writes (per-seed values and aggregate
fields) and the seconds it spends writing them (`store.append` of each batch): values /
those seconds is what the driver can take, the target's measure (>= 10^5 values/s);
values / the run's duration is what this run delivered, bounded by the point's own
speed on the worker.

Medians over the repeats; `uptime` before and after. A shared machine's load moves:
compare the columns of one table, not tables of two runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.sweeps import SWEEP, first_record_times, sweep_wall, uptime


def pool_overheads(folder: Path, points: int, tag: str) -> list[float]:
    spec = folder / "tiny-sweep.toml"
    spec.write_text(
        SWEEP.format(seeds=2, steps=10) + f'[sweep.zip]\n"run.seed" = {list(range(points))}\n',
        encoding="utf-8",
    )
    db = folder / f"pool-{tag}.db"
    sweep_wall(spec, db, workers=1)
    return _gaps(db)


def _gaps(db: Path) -> list[float]:
    runs = first_record_times(db)
    ids = sorted(runs)
    return [runs[b][1] - runs[a][2] for a, b in zip(ids, ids[1:])]


def serve_on_ray(text: str, db: Path, slots: int):
    """Queue the sweep in `db` and serve it on the Ray instance of this process; returns the
    backend (its counters) after the sweep ended."""
    from engine import registry, sweep
    from engine.ray_backend import RayBackend
    from engine.scheduler import Scheduler
    from engine.store import Store

    found = sweep.from_toml(text, registry.Catalogue.live(), "bench")
    with Store(db) as store:
        store.create_sweep(found)
    backends = []

    def factory():
        backends.append(RayBackend(db, threads=1, slots=slots))
        return backends[-1]

    sched = Scheduler(db, factory)
    try:
        sched.serve()
    finally:
        counters = (backends[-1].values_written, backends[-1].write_seconds)
        sched.close()
    with Store(db) as store:
        statuses = {r[0] for r in store.conn.execute("SELECT status FROM runs")}
    if statuses != {"finished"}:
        raise SystemExit(f"the Ray sweep did not finish: {statuses}")
    return counters


def ray_overheads(folder: Path, points: int, tag: str) -> list[float]:
    text = SWEEP.format(seeds=2, steps=10) + f'[sweep.zip]\n"run.seed" = {list(range(points))}\n'
    db = folder / f"ray-{tag}.db"
    serve_on_ray(text, db, slots=1)
    return _gaps(db)


def serve_timed(text: str, db: Path, backend: str) -> list[float]:
    """Queue the sweep in `db` and serve it in this process with one slot on `backend`
    ("pool": a `LocalPool` of one worker; "ray": a `RayBackend` of one slot on this
    process's Ray instance). Returns the time (time.time) at which the scheduler got each
    point's end, in the points' order."""
    from engine import registry, sweep
    from engine.scheduler import LocalPool, Scheduler
    from engine.store import Store

    found = sweep.from_toml(text, registry.Catalogue.live(), "bench")
    with Store(db) as store:
        store.create_sweep(found)

    def factory():
        if backend == "pool":
            return LocalPool(db, workers=1, threads=1)
        from engine.ray_backend import RayBackend

        return RayBackend(db, threads=1, slots=1)

    ends: dict[int, float] = {}

    def on_event(event):
        if event.kind == "ended":
            ends[event.idx] = time.time()

    sched = Scheduler(db, factory)
    try:
        sched.serve(on_event)
    finally:
        sched.close()
    with Store(db) as store:
        statuses = {r[0] for r in store.conn.execute("SELECT status FROM runs")}
    if statuses != {"finished"}:
        raise SystemExit(f"the {backend} sweep did not finish: {statuses}")
    return [ends[i] for i in sorted(ends)]


def long_overheads(folder: Path, points: int, seeds: int, steps: int, backend: str, tag: str):
    """Per point after the first: (gap, overhead, compute), seconds. compute: the run's own
    time measured inside it (its last checkpoint's wall time, counted by the recorder in the
    worker from just after the run's row was made); overhead: the time between the
    scheduler getting the previous point's end and getting this one's, minus compute; gap:
    this run's first record minus the previous run's end (as in the tiny mode)."""
    from engine.store import Store

    text = SWEEP.format(seeds=seeds, steps=steps) + (
        f'[sweep.zip]\n"run.seed" = {list(range(points))}\n'
    )
    db = folder / f"long-{backend}-{tag}.db"
    ends = serve_timed(text, db, backend)
    with Store(db) as store:
        runs = [p["run_id"] for p in store.sweep(1)["points"]]
        compute = [
            store.conn.execute(
                "SELECT max(wall_time) FROM series_aggregates WHERE run_id=?", (r,)
            ).fetchone()[0]
            for r in runs
        ]
    firsts = first_record_times(db)
    rows = []
    for i in range(1, len(runs)):
        gap = firsts[runs[i]][1] - firsts[runs[i - 1]][2]
        rows.append((gap, ends[i] - ends[i - 1] - compute[i], compute[i]))
    return rows


def throughput(folder: Path, seeds: int, steps: int, tag: str) -> tuple[float, float, int]:
    """(driver's values/s while writing, values/s over the run, values)."""
    from engine.store import Store

    text = (
        SWEEP.format(seeds=seeds, steps=steps).replace("seed = 0", 'seed = 0\nkeep_seeds = "all"')
        + '[sweep.zip]\n"run.seed" = [0]\n'
    )
    db = folder / f"throughput-{tag}.db"
    values, seconds = serve_on_ray(text, db, slots=1)
    with Store(db) as store:
        started, finished = store.conn.execute(
            "SELECT started_at, finished_at FROM runs"
        ).fetchone()
    return values / seconds, values / (finished - started), values


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny-points", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--long-points", type=int, default=4)
    parser.add_argument("--long-seeds", type=int, default=200)
    parser.add_argument("--long-steps", type=int, default=200000)
    parser.add_argument("--cpus", type=int, default=2, help="the local Ray instance's CPUs")
    parser.add_argument("--only", default="overhead,long,throughput")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    import ray

    from engine.ray_backend import connect

    print(f"before: {uptime()}", flush=True)
    print(f"cores available: {len(os.sched_getaffinity(0))}", flush=True)
    t0 = time.perf_counter()
    connect(None, num_cpus=args.cpus)
    print(f"local Ray instance started in {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if "overhead" in only:
                pool, remote = [], []
                for rep in range(args.repeats):
                    p = pool_overheads(folder, args.tiny_points, str(rep))
                    r = ray_overheads(folder, args.tiny_points, str(rep))
                    pool += p
                    remote += r
                    print(
                        f"  repeat {rep}: pool median {statistics.median(p) * 1e3:.0f} ms, "
                        f"Ray median {statistics.median(r) * 1e3:.0f} ms",
                        flush=True,
                    )
                mp, mr = statistics.median(pool), statistics.median(remote)
                print(
                    f"(a) overhead per point: pool {mp * 1e3:.0f} ms ({len(pool)} runs), "
                    f"Ray {mr * 1e3:.0f} ms ({len(remote)} runs), Ray / pool {mr / mp:.1f}x",
                    flush=True,
                )
            if "long" in only:
                got = {"pool": [], "ray": []}
                for rep in range(args.repeats):
                    for backend in ("pool", "ray"):
                        rows = long_overheads(
                            folder, args.long_points, args.long_seeds, args.long_steps,
                            backend, str(rep),
                        )  # fmt: skip
                        got[backend] += rows
                        print(
                            f"  repeat {rep} {backend}: overhead "
                            + ", ".join(f"{r[1] * 1e3:.0f}" for r in rows)
                            + " ms; gap "
                            + ", ".join(f"{r[0] * 1e3:.0f}" for r in rows)
                            + " ms; compute "
                            + ", ".join(f"{r[2]:.2f}" for r in rows)
                            + " s",
                            flush=True,
                        )
                med = {
                    b: [statistics.median(r[k] for r in rows) for k in range(3)]
                    for b, rows in got.items()
                }
                (pg, po, pc), (rg, ro, rc) = med["pool"], med["ray"]
                print(
                    f"(c) points of {args.long_seeds} seeds x {args.long_steps} steps "
                    f"(compute: pool {pc:.2f} s, Ray {rc:.2f} s), medians of "
                    f"{len(got['pool'])} points each:\n"
                    f"    overhead (end to end minus compute): pool {po * 1e3:.0f} ms, "
                    f"Ray {ro * 1e3:.0f} ms, Ray / pool {ro / po:.2f}x\n"
                    f"    gap (previous end to first record): pool {pg * 1e3:.0f} ms, "
                    f"Ray {rg * 1e3:.0f} ms, Ray / pool {rg / pg:.2f}x",
                    flush=True,
                )
            if "throughput" in only:
                rows = []
                for rep in range(args.repeats):
                    rows.append(throughput(folder, args.seeds, args.steps, str(rep)))
                    driver, run, values = rows[-1]
                    print(
                        f"  repeat {rep}: {values:.3g} values; driver writing {driver:.3g} "
                        f"values/s; over the run {run:.3g} values/s",
                        flush=True,
                    )
                print(
                    f"(b) {args.seeds} seeds x {args.steps} steps, every seed kept: driver "
                    f"writing {statistics.median(r[0] for r in rows):.3g} values/s, over the "
                    f"run {statistics.median(r[1] for r in rows):.3g} values/s "
                    f"(medians of {args.repeats})",
                    flush=True,
                )
    finally:
        ray.shutdown()
    print(f"after: {uptime()}", flush=True)


if __name__ == "__main__":
    main()
