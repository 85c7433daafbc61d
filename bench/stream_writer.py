"""A writer that streams a run into a store the way the engine does, and logs when each batch committed.

    python -m bench.stream_writer STORE SECONDS LOG [--seeds 20] [--steps-per-batch 10]

Like `engine.runner.Recorder`: one run row, records buffered and written in one
transaction every FLUSH_SECONDS (0.2 s), a cumulative-regret-like metric and a second
metric for every seed at every step. After each commit it notes (last step, commit
time), so the benchmark can tell how long each record took from the store to the screen.
No torch: it starts in a fraction of a second and leaves the CPU to the studio.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from engine.blocks import Block
from engine.runner import FLUSH_SECONDS
from engine.store import Store


class _Spec:
    """The few fields `Store.create_run` reads from a RunSpec."""

    def __init__(self, seeds: int, steps: int):
        self.name, self.algorithm, self.problem = "bench-stream", "bench.stream", "bench.stream"
        self.seeds, self.steps = seeds, steps

    def to_toml(self) -> str:
        return f"# benchmark stream: {self.seeds} seeds\n"

    def to_dict(self) -> dict:
        return {"run": {"seeds": self.seeds, "steps": self.steps}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("seconds", type=float)
    parser.add_argument("log")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--steps-per-batch", type=int, default=10)
    args = parser.parse_args()
    batches = int(args.seconds / FLUSH_SECONDS)
    store = Store(args.store)
    run_id = store.create_run(
        _Spec(args.seeds, batches * args.steps_per_batch), family="bench", plot="regret"
    )
    store.start_run(run_id, {"device": "cpu"})
    rng = np.random.default_rng(run_id)
    regret = np.zeros(args.seeds)
    t0 = time.monotonic()
    commits = []
    step = 0
    for batch in range(batches):
        steps, regrets, walls = [], [], []
        for _ in range(args.steps_per_batch):
            step += 1
            regret += rng.uniform(0.0, 0.2, args.seeds)
            steps.append(step)
            regrets.append(regret.copy())
            walls.append(time.monotonic() - t0)
        steps, walls = np.asarray(steps), np.asarray(walls)
        blocks = [
            Block("cumulative_regret", 0, steps, np.stack(regrets), walls),
            Block("best_arm_fraction", 0, steps, np.full((len(steps), args.seeds), 0.5), walls),
        ]
        # Sleep to the next flush time, as the engine's recorder flushes every FLUSH_SECONDS.
        time.sleep(max(0.0, t0 + (batch + 1) * FLUSH_SECONDS - time.monotonic()))
        store.append(run_id, blocks=blocks, steps_done=step)
        commits.append((step, time.time()))
    store.finish_run(run_id, "finished")
    with open(args.log, "w", encoding="utf-8") as out:
        json.dump({"run_id": run_id, "commits": commits}, out)


if __name__ == "__main__":
    main()
