from __future__ import annotations

import time

import torch

from engine.params import Param
from engine.registry import Algorithm

RADIUS = Param(
    "radius",
    "float",
    2.0,
    "Radius U of the RKHS ball the hypothesis is kept in (||f||_H <= U).",
    low=0.0,
    low_open=True,
    high=1000.0,
)


def adaptive_step(radius: float, gradient_sq_sum: torch.Tensor) -> torch.Tensor:
    """eta_t = U / sqrt( sum_{s<=t} ||g_s||_H^2 ) (0 while every gradient so far was 0)."""
    return torch.where(
        gradient_sq_sum > 0,
        radius / gradient_sq_sum.clamp_min(1e-300).sqrt(),
        torch.zeros_like(gradient_sq_sum),
    )


class StepClock:
    """Wall seconds per step since the last checkpoint, as a [seeds] tensor for the recorder."""

    def __init__(self):
        self.start, self.step = time.perf_counter(), 0

    def lap(self, step: int, like: torch.Tensor) -> torch.Tensor:
        now = time.perf_counter()
        per_step = (now - self.start) / max(step - self.step, 1)
        self.start, self.step = now, step
        return torch.full_like(like, per_step)


class KernelOGD(Algorithm):
    """Exact kernel online gradient descent with the adaptive step, the comparison for the
    ALD learners (paper: "Nearly Optimal Algorithms with Sublinear Computational Complexity
    for Online Kernel Regression", Li & Liao 2023 -- the O(T)-per-round baseline its
    algorithms approximate).

    f_t = sum_{s<t} beta_s k(x_s, .). At round t, predict f_t(x_t), suffer
    (f_t(x_t) - y_t)^2, with gradient g_t phi(x_t), g_t = 2 (f_t(x_t) - y_t); then

        G_t = G_{t-1} + g_t^2 k(x_t, x_t),   eta_t = U / sqrt(G_t),
        f_{t+1} = Pi_U( f_t - eta_t g_t phi(x_t) )        (Pi_U: rescale onto ||f||_H <= U),

    so every point joins the basis: O(t) time and memory in round t. ||f||_H is tracked
    exactly from ||f - e g phi||^2 = ||f||^2 - 2 e g f(x) + e^2 g^2 k(x, x).

    Recorded: ``cumulative_regret`` = sum_t (f_t(x_t) - y_t)^2 - sum_t (f(x_t) - y_t)^2
    against the stream's own target f (a fixed predictor inside the ball when
    U >= ||f||_H), ``basis_size`` (t), ``seconds_per_step`` (all seeds together), and
    ``regret_bound`` = 3 U sqrt(G_t), what projected OGD with this step guarantees
    against every f in the ball (D^2 / (2 eta_T) + sum eta_t ||g_t||^2 / 2 with D = 2U).
    """

    id = "bandits.kernel_ogd"
    family = "bandits"
    paper = "Nearly Optimal Algorithms with Sublinear Computational Complexity for Online Kernel Regression"
    summary = "Exact kernel online gradient descent (every point in the basis): the comparison for AOGD-ALD."
    params = (RADIUS,)
    problems = ("bandits.kernel_regression",)
    plot = "regret"
    metrics = ("cumulative_regret", "basis_size", "seconds_per_step", "regret_bound")
    measured = ("seconds_per_step",)  # wall-clock time: differs between identical runs

    def run(self, steps, rec):
        prob = self.problem
        data = prob.stream(steps)
        radius = self.p["radius"]
        s = self.seeds
        beta = torch.zeros((s, steps), dtype=self.dtype, device=self.device)
        zero = torch.zeros(s, dtype=self.dtype, device=self.device)
        norm_sq, grad_sq, loss, comparator = zero.clone(), zero.clone(), zero.clone(), zero.clone()
        clock = StepClock()
        for t in range(steps):
            x = data.inputs[:, t : t + 1]
            k = prob.kernel(data.inputs[:, :t], x).squeeze(-1)
            kxx = prob.kernel(x, x).reshape(s)
            pred = (beta[:, :t] * k).sum(-1)
            g = 2.0 * (pred - data.targets[:, t])
            grad_sq += g * g * kxx
            eta = adaptive_step(radius, grad_sq)
            beta[:, t] = -eta * g
            norm_sq = (norm_sq - 2.0 * eta * g * pred + (eta * g) ** 2 * kxx).clamp_min(0.0)
            shrink = (radius / norm_sq.clamp_min(1e-300).sqrt()).clamp(max=1.0)
            beta[:, : t + 1] *= shrink.unsqueeze(-1)
            norm_sq = norm_sq * shrink**2
            loss += (pred - data.targets[:, t]) ** 2
            comparator += (data.clean[:, t] - data.targets[:, t]) ** 2
            if rec.should_record(t + 1):
                rec.metrics(
                    t + 1,
                    {
                        "cumulative_regret": loss - comparator,
                        "basis_size": torch.full_like(loss, t + 1),
                        "seconds_per_step": clock.lap(t + 1, loss),
                        "regret_bound": 3.0 * radius * grad_sq.sqrt(),
                    },
                )
            rec.progress(t + 1)
