"""Run pressed -> first record in the store: the studio's old path against the engine's queue.

    python -m bench.queue_start [--repeats 5] [--workers 2]

Four ways one small run (UCB1, 2 seeds, 2,000 steps, 1 torch thread) starts, each timed
from the moment the studio would start its first engine process to the moment the run's
row has steps_done > 0 (what the live plot waits for), read from the store every 20 ms:

- run: `tradeoff run SPEC` in a process of its own (the studio before its queue was the
  engine's): one Python start, one torch import.
- submit, then scheduler: `tradeoff submit SPEC` (which checks the spec as `run` does,
  importing the catalogue and torch), then `tradeoff scheduler --workers W`, whose pool
  workers import torch again, one after the other.
- scheduler with submit: the scheduler (`--linger 60`) started alongside the submit, as
  the studio's Run does where no scheduler serves the store: the imports overlap.
- lingering scheduler: the submit while a scheduler that served a run a moment ago still
  lingers, its workers idle with torch imported (a second Run within a minute).
- warmed scheduler: the submit 10 s after a scheduler was started with nothing queued, as
  the studio starts one when the user sets up a run (the first Run of a session).

Engines start as the studio starts them (nice 10, batch scheduling: run_process.DETACHED).
The ways alternate within each repeat; medians and worst are printed with the load.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.queue.run_process import DETACHED

SPEC = """[run]
name = "{name}"
seeds = 2
steps = {steps}

[algorithm]
id = "bandits.ucb1"

[problem]
id = "bandits.bernoulli"

[hardware]
device = "cpu"
threads = 1
"""
POLL_SECONDS = 0.02
LIMIT_SECONDS = 120.0
WARM_SECONDS = 10.0  # from the scheduler's start (the focus in the form) to Run


def engine(*args: str, detached: bool = False, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **(DETACHED if detached else {}),
        **kwargs,
    )


def spec_file(folder: Path, name: str, steps: int = 2000) -> str:
    path = folder / f"{name}.toml"
    path.write_text(SPEC.format(name=name, steps=steps), encoding="utf-8")
    return str(path)


def first_record(db: Path, name: str, t0: float) -> float:
    """Seconds from t0 until the run named `name` has a step done."""
    while time.monotonic() - t0 < LIMIT_SECONDS:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
                    row = conn.execute(
                        "SELECT steps_done FROM runs WHERE name=? ORDER BY id DESC LIMIT 1",
                        (name,),
                    ).fetchone()
            except sqlite3.OperationalError:
                row = None
            if row and row[0]:
                return time.monotonic() - t0
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"run {name} recorded nothing in {LIMIT_SECONDS} s")


def plain_run(folder: Path, db: Path, i: int) -> float:
    name = f"run-{i}"
    spec = spec_file(folder, name)
    t0 = time.monotonic()
    process = engine("run", spec, "--db", str(db), "--json", detached=True)
    took = first_record(db, name, t0)
    process.wait()
    return took


def submit_then_scheduler(folder: Path, db: Path, i: int, workers: int) -> float:
    name = f"after-{i}"
    spec = spec_file(folder, name)
    t0 = time.monotonic()
    engine("submit", spec, "--db", str(db), "--json").wait()
    scheduler = engine("scheduler", "--db", str(db), "--workers", str(workers), detached=True)
    took = first_record(db, name, t0)
    scheduler.wait()  # it exits once its queue is empty
    return took


def scheduler_with_submit(folder: Path, db: Path, i: int, workers: int) -> float:
    name = f"with-{i}"
    spec = spec_file(folder, name)
    t0 = time.monotonic()
    scheduler = engine(
        "scheduler", "--db", str(db), "--workers", str(workers), "--linger", "60", detached=True
    )
    engine("submit", spec, "--db", str(db), "--json").wait()
    took = first_record(db, name, t0)
    scheduler.kill()
    scheduler.wait()
    return took


def lingering_scheduler(folder: Path, db: Path, i: int, workers: int) -> float:
    first = f"first-{i}"
    engine("submit", spec_file(folder, first), "--db", str(db)).wait()
    scheduler = engine(
        "scheduler", "--db", str(db), "--workers", str(workers), "--linger", "60", detached=True
    )
    first_record(db, first, time.monotonic())
    time.sleep(3.0)  # the first run has ended; the workers wait
    return submit_to(scheduler, folder, db, f"next-{i}")


def warmed_scheduler(folder: Path, db: Path, i: int, workers: int) -> float:
    """A scheduler started with nothing queued a few seconds before Run, as the studio
    starts one when the user sets up a run (`MainWindow.warm_engine_now`)."""
    scheduler = engine(
        "scheduler", "--db", str(db), "--workers", str(workers), "--linger", "60", detached=True
    )
    time.sleep(WARM_SECONDS)  # the user is still setting the run up
    return submit_to(scheduler, folder, db, f"warmed-{i}")


def submit_to(scheduler: subprocess.Popen, folder: Path, db: Path, name: str) -> float:
    """Seconds from the submit of run `name` to its first record, served by `scheduler`
    (killed afterwards)."""
    spec = spec_file(folder, name)
    t0 = time.monotonic()
    engine("submit", spec, "--db", str(db), "--json").wait()
    took = first_record(db, name, t0)
    scheduler.kill()
    scheduler.wait()
    return took


WAYS = {
    "run": lambda folder, db, i, workers: plain_run(folder, db, i),
    "submit, then scheduler": submit_then_scheduler,
    "scheduler with submit": scheduler_with_submit,
    "lingering scheduler": lingering_scheduler,
    "warmed scheduler": warmed_scheduler,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    loads = [os.getloadavg()[0]]
    for i in range(args.repeats):
        for way, measure in WAYS.items():
            with tempfile.TemporaryDirectory() as tmp:
                took = measure(Path(tmp), Path(tmp) / "bench.db", i, args.workers)
            times[way].append(took)
            loads.append(os.getloadavg()[0])
            print(f"repeat {i + 1} {way}: {took:.2f} s", flush=True)
    print(f"\nload average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f}")
    base = statistics.median(times["run"])
    print(f"{'way':<24}{'median':>9}{'worst':>9}{'vs run':>9}")
    for way, values in times.items():
        median = statistics.median(values)
        print(f"{way:<24}{median:>8.2f}s{max(values):>8.2f}s{median / base:>8.2f}x")


if __name__ == "__main__":
    main()
