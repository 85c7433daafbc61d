"""The grid baseline of Lab 3: one model per preference, each minimising a weighted sum."""

from __future__ import annotations

import torch

from engine.labs.pareto.problems import REGRESSION_PROBLEMS
from engine.labs.pareto.recording import (
    FRONT_METRICS,
    PARETO_SNAPSHOTS,
    FrontRecorder,
    preference_grid,
)
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

__all__ = ["LinearScalarisation", "PARETO_SNAPSHOTS"]


class LinearScalarisation(Algorithm):
    """Linear (weighted-sum) scalarisation of a multi-task objective: the classic
    weighted-sum method (Zadeh 1963; Miettinen, Nonlinear Multiobjective Optimization,
    1999), run as a grid of preferences, one shared-weight model per preference.

    Preferences w_p lie on an even grid of the simplex (P points w_1 = p / (P - 1) for two
    tasks; the P (P + 1) / 2 points with step 1 / (P - 1) for three). Each model p
    minimises the scalarised loss by full-batch gradient descent,

        theta_p <- theta_p - lr * grad [ sum_k w_pk L_k(theta_p) ],

    for all seeds and preferences at once (theta is [seeds, P, d]). For w in the open
    simplex the minimiser of a weighted sum is Pareto optimal; on a non-convex front the
    weighted sum misses the concave parts (see the Deep Sea Treasure runs of
    `pareto.pd_morl`), which is why this is the baseline the other Lab 3 methods are
    compared with. Here the losses are convex, so it finds points of the whole front.

    Choices of this implementation: every preference of a seed starts from the same
    random theta_0 ~ N(0, init_scale^2 I) drawn from the algorithm's stream, so the
    spread of the points comes from the preferences alone; the hypervolume is taken per
    seed over that seed's P points against the problem's reference point; Pareto points
    are recorded at ~30 log-spaced checkpoints and the last, the metrics at every checkpoint.

    Metrics, per seed: ``hypervolume`` of the seed's points; ``hypervolume_ratio``, that
    over the true front's hypervolume (below 1 even at convergence, since P points cover
    less than the continuous front); ``scalarised_loss``, the mean over preferences of
    sum_k w_k L_k; ``scalarised_suboptimality``, that mean minus its value at the
    closed-form optima theta_w, which falls linearly (a straight line on a log axis) to
    rounding level and may dip just below zero in float32.
    """

    id = "pareto.linear_scalarisation"
    family = "pareto"
    paper = "(baseline) weighted-sum scalarisation"
    summary = "One model per preference w, each minimising sum_k w_k L_k by gradient descent."
    params = (
        Param(
            "preferences",
            "int",
            11,
            "Grid size P: P evenly spaced preferences for two tasks, P (P + 1) / 2 for three.",
            low=2,
            high=200,
        ),
        Param(
            "lr",
            "float",
            0.05,
            "Gradient-descent step size; stable below 1 / lambda_max(X^T X / n).",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param(
            "init_scale",
            "float",
            0.01,
            "Standard deviation of the initial weights (0 starts at theta = 0).",
            low=0.0,
            high=100.0,
        ),
    )
    problems = REGRESSION_PROBLEMS
    plot = "pareto"
    metrics = (*FRONT_METRICS, "scalarised_loss", "scalarised_suboptimality")

    def run(self, steps, rec):
        prob = self.problem
        grid, labels = preference_grid(prob.tasks, self.p["preferences"])
        weights = torch.tensor(grid, device=self.device, dtype=self.dtype)  # [P, K]
        count = len(labels)
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        start = torch.randn(
            (self.seeds, 1, prob.n_features), generator=g, device=self.device, dtype=torch.float64
        )
        theta = (self.p["init_scale"] * start).to(self.dtype).expand(-1, count, -1).clone()

        front = FrontRecorder(rec, prob, labels)
        optimal = (prob.task_losses(prob.scalarised_optimum(weights)) * weights).sum(dim=2)

        for t in range(1, steps + 1):
            theta = theta - self.p["lr"] * prob.scalarised_gradient(theta, weights)
            if rec.should_record(t):
                losses = prob.task_losses(theta)  # [seeds, P, K]
                scalarised = (losses * weights).sum(dim=2)  # [seeds, P]
                front.record(
                    t,
                    losses.detach().double().cpu().numpy(),
                    {
                        "scalarised_loss": scalarised.mean(dim=1),
                        "scalarised_suboptimality": (scalarised - optimal).mean(dim=1),
                    },
                )
            rec.progress(t)
