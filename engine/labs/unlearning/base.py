"""What the unlearning algorithms share: their declarations, a clock, and the loop of the
iterative baselines (one full-batch step per run step, measured at ~20 snapshot steps)."""

from __future__ import annotations

import time

import torch

from engine.labs.pareto.recording import pareto_snapshot_steps
from engine.labs.unlearning.evaluation import METRICS, UnlearningEvaluation
from engine.registry import Algorithm

PROBLEMS = ("unlearning.gaussian_blobs",)
SNAPSHOTS = (
    20  # measured (and drawn on the front) at about this many log-spaced steps, and the last
)


class UnlearningAlgorithm(Algorithm):
    family = "unlearning"
    problems = PROBLEMS
    plot = "pareto"
    metrics = METRICS
    measured = ("wall_time_s",)  # wall-clock time: differs between identical runs


class Clock:
    """Wall time of the unlearning work alone: started and stopped around it."""

    def __init__(self):
        self.total = 0.0
        self._since = None

    def __enter__(self):
        self._since = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.total += time.perf_counter() - self._since


class IterativeUnlearning(UnlearningAlgorithm):
    """A baseline that takes one full-batch step per run step from a starting model.

    Subclasses give `start()` (the model the steps begin from), `step(params, t)` (the new
    parameters) and `examples_per_step` (examples whose gradient one step computes, per seed).
    """

    def start(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def step(self, params: list[torch.Tensor], t: int) -> list[torch.Tensor]:
        raise NotImplementedError

    def examples_per_step(self) -> torch.Tensor:
        raise NotImplementedError

    def run(self, steps, rec):
        evaluation = UnlearningEvaluation(rec, self.problem)
        snapshots = set(pareto_snapshot_steps(rec.checkpoints, SNAPSHOTS).tolist())
        clock = Clock()
        with clock:
            params = self.start()
        per_step = self.examples_per_step()
        for t in range(1, steps + 1):
            with clock:
                params = self.step(params, t)
            if t in snapshots:
                evaluation.record(
                    t,
                    evaluation.measure(params),
                    {"iteration": t},
                    {"wall_time_s": clock.total, "gradient_evaluations": per_step * t},
                )
            rec.progress(t)
        self.params = params
