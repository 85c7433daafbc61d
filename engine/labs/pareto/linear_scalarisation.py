from __future__ import annotations

import numpy as np
import torch

from engine.metrics import hypervolume
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

OBJECTIVES = ("task1_loss", "task2_loss")
# Pareto points are written at about this many log-spaced checkpoints (plus the last):
# a front every checkpoint would be ~560 x seeds x preferences rows, while a log-spaced
# subset still shows both the early sweep and the converged front.
PARETO_SNAPSHOTS = 30


def pareto_snapshot_steps(checkpoints: np.ndarray, count: int = PARETO_SNAPSHOTS) -> np.ndarray:
    """A log-spaced subset of the runner's checkpoints: the nearest checkpoint (in log
    step) to each of `count` geometric targets between the first and the last, plus the last."""
    checkpoints = np.asarray(checkpoints, dtype=np.int64)
    targets = np.log(np.geomspace(checkpoints[0], checkpoints[-1], num=count))
    nearest = np.abs(np.log(checkpoints)[None, :] - targets[:, None]).argmin(axis=1)
    return np.union1d(checkpoints[nearest], checkpoints[-1:])


class LinearScalarisation(Algorithm):
    """Linear (weighted-sum) scalarisation of a multi-task objective: the classic
    weighted-sum method (Zadeh 1963; Miettinen, Nonlinear Multiobjective Optimization,
    1999), run as a grid of preferences, one shared-weight model per preference.

    Preferences w_p = p / (P - 1), p = 0..P-1, weight task 1 by w_p and task 2 by
    1 - w_p. Each model p minimises the scalarised loss by full-batch gradient descent,

        theta_p <- theta_p - lr * grad [ w_p L1(theta_p) + (1 - w_p) L2(theta_p) ],

    for all seeds and preferences at once (theta is [seeds, P, d]). For w in (0, 1) the
    minimiser of a weighted sum is Pareto optimal; on a non-convex front the weighted
    sum misses the concave parts, which is why this is the baseline the other Lab 3
    methods are compared with (here the losses are convex, so it finds the whole front).

    Choices of this implementation: every preference of a seed starts from the same
    random theta_0 ~ N(0, init_scale^2 I) drawn from the algorithm's stream, so the
    spread of the points comes from the preferences alone; the hypervolume is taken per
    seed over that seed's P points against the problem's reference point; Pareto points
    are recorded at ~30 log-spaced checkpoints and the last (see `pareto_snapshot_steps`),
    the metrics at every checkpoint.

    Metrics, per seed: ``hypervolume`` of the seed's P points; ``scalarised_loss``, the
    mean over preferences of w L1 + (1 - w) L2; ``scalarised_suboptimality``, that mean
    minus its value at the closed-form optima theta_w, which falls linearly (a straight
    line on a log axis) to rounding level and may dip just below zero in float32.
    """

    id = "pareto.linear_scalarisation"
    family = "pareto"
    paper = "(baseline) weighted-sum scalarisation"
    summary = "One model per preference w, each minimising w L1 + (1 - w) L2 by gradient descent."
    params = (
        Param("preferences", "int", 11, "Number P of evenly spaced preferences w in [0, 1].", low=2, high=200),
        Param("lr", "float", 0.05, "Gradient-descent step size; stable below 1 / lambda_max(X^T X / n).",
              low=0.0, low_open=True, high=100.0),
        Param("init_scale", "float", 0.01, "Standard deviation of the initial weights (0 starts at theta = 0).",
              low=0.0, high=100.0),
    )
    problems = ("pareto.two_task_regression",)
    plot = "pareto"
    metrics = ("hypervolume", "scalarised_loss", "scalarised_suboptimality")

    def run(self, steps, rec):
        prob = self.problem
        count = self.p["preferences"]
        # Integer ratios keep each label pair exact complements (0.3 and 0.7, not 0.30000001).
        labels = [{"weight_task1": p / (count - 1), "weight_task2": (count - 1 - p) / (count - 1)}
                  for p in range(count)]
        weights = torch.tensor([lab["weight_task1"] for lab in labels], device=self.device, dtype=self.dtype)
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        start = torch.randn((self.seeds, 1, prob.n_features), generator=g, device=self.device, dtype=torch.float64)
        theta = (self.p["init_scale"] * start).to(self.dtype).expand(-1, count, -1).clone()

        reference_point = prob.reference_point()
        rec.objectives(list(OBJECTIVES), ["min", "min"], reference_point)
        optimal = self._scalarised(prob.task_losses(prob.scalarised_optimum(weights)), weights)
        snapshot_steps = set(pareto_snapshot_steps(rec.checkpoints).tolist())
        point_seeds = np.repeat(np.arange(self.seeds), count)

        for t in range(1, steps + 1):
            theta = theta - self.p["lr"] * prob.scalarised_gradient(theta, weights)
            if rec.should_record(t):
                losses = prob.task_losses(theta)                                  # [seeds, P, 2]
                scalarised = self._scalarised(losses, weights)                    # [seeds, P]
                points = losses.detach().double().cpu().numpy()
                volumes = [hypervolume(points[s], reference_point) for s in range(self.seeds)]
                rec.metrics(t, {
                    "hypervolume": np.asarray(volumes),
                    "scalarised_loss": scalarised.mean(dim=1),
                    "scalarised_suboptimality": (scalarised - optimal).mean(dim=1),
                })
                if t in snapshot_steps:
                    rec.pareto(t, points.reshape(-1, 2), point_seeds, labels * self.seeds)
            rec.progress(t)

    @staticmethod
    def _scalarised(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """w L1 + (1 - w) L2 for losses [seeds, P, 2] and task-1 weights [P]."""
        return weights * losses[..., 0] + (1 - weights) * losses[..., 1]
