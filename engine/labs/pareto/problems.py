"""Multi-task regression problems whose Pareto front is known in closed form."""

from __future__ import annotations

import math

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class TwoTaskRegression(Problem):
    """Two linear regression tasks on one design, solved by one shared weight vector.

    For every seed s: a design X [n, d] with standard normal entries, two true weight
    vectors a1, a2 of unit norm whose cosine is exactly ``task_similarity``, and targets

        y_k = X a_k + noise * eps_k,   eps_k ~ N(0, I),   k = 1, 2.

    A shared model theta has task losses L_k(theta) = ||X theta - y_k||^2 / n (mean
    squared error). Every weighted sum w L1 + (1 - w) L2 is a least-squares loss on the
    mixed targets w y1 + (1 - w) y2, so its minimiser is

        theta_w = (X^T X)^{-1} X^T (w y1 + (1 - w) y2),

    and the Pareto front is the curve w -> (L1(theta_w), L2(theta_w)), w in [0, 1].
    With task_similarity = 1 and noise = 0 both tasks share their optimum and the
    front is a single point.

    Seeds are a batch dimension: every tensor leads with [seeds]. The data are drawn
    in float64 from the problem's own stream and then cast, so a seed gives the same
    data set whatever the run's dtype.
    """

    id = "pareto.two_task_regression"
    family = "pareto"
    title = "Two-task linear regression with a shared model"
    summary = "Two least-squares tasks whose weight vectors have a chosen cosine; the front is known in closed form."
    params = (
        Param("n_samples", "int", 200, "Rows of the design X (at least n_features, so X^T X is invertible).",
              low=2, high=1_000_000),
        Param("n_features", "int", 5, "Columns of X: the dimension of the shared weight vector.", low=2, high=10_000),
        Param("task_similarity", "float", 0.0, "Cosine between the two tasks' true weight vectors.",
              low=-1.0, high=1.0),
        Param("noise", "float", 0.1, "Standard deviation of the Gaussian noise added to each target.", low=0.0),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n, d = params["n_samples"], params["n_features"]
        if n < d:
            raise ValueError(f"n_samples ({n}) must be at least n_features ({d}) for X^T X to be invertible")
        self.n_samples, self.n_features = n, d
        g = generator(device, seed, PROBLEM_STREAM)
        f64 = dict(generator=g, device=device, dtype=torch.float64)

        design = torch.randn((seeds, n, d), **f64)
        # Gram-Schmidt on two Gaussian directions gives an orthonormal pair (e1, e2)
        # uniformly oriented; a2 = s e1 + sqrt(1 - s^2) e2 then has cosine exactly s with a1 = e1.
        u, v = torch.randn((seeds, d), **f64), torch.randn((seeds, d), **f64)
        e1 = u / u.norm(dim=1, keepdim=True)
        v = v - (v * e1).sum(dim=1, keepdim=True) * e1
        e2 = v / v.norm(dim=1, keepdim=True)
        s = params["task_similarity"]
        true_weights = torch.stack([e1, s * e1 + math.sqrt(max(0.0, 1.0 - s * s)) * e2], dim=1)
        eps = torch.randn((seeds, 2, n), **f64)
        targets = torch.einsum("snd,skd->skn", design, true_weights) + params["noise"] * eps

        self.design = design.to(dtype)                # X      [seeds, n, d]
        self.true_weights = true_weights.to(dtype)    # a_k    [seeds, 2, d]
        self.targets = targets.to(dtype)              # y_k    [seeds, 2, n]
        # Sufficient statistics: the losses and their gradients need only these, so a
        # gradient step costs O(d^2) per model whatever n is.
        self.gram = self.design.transpose(1, 2) @ self.design / n                # X^T X / n   [seeds, d, d]
        self.moments = self.targets @ self.design / n                             # X^T y_k / n [seeds, 2, d]
        self.single_task_optima = torch.linalg.solve(
            self.gram, self.moments.transpose(1, 2)).transpose(1, 2)              # [seeds, 2, d]
        residuals = self.single_task_optima @ self.design.transpose(1, 2) - self.targets
        self.irreducible_losses = (residuals**2).mean(dim=2)                      # L_k at its own optimum [seeds, 2]

    def task_losses(self, theta: torch.Tensor) -> torch.Tensor:
        """L1, L2 of weight vectors theta [seeds, m, d]; returns [seeds, m, 2].

        Uses L_k(theta) = L_k(theta_k*) + (theta - theta_k*)^T (X^T X / n) (theta - theta_k*),
        exact for least squares, with theta_k* the task's own optimum: both terms are
        non-negative, so small losses near an optimum lose no precision to cancellation.
        """
        seeds, m, d = theta.shape
        diff = (theta.unsqueeze(2) - self.single_task_optima.unsqueeze(1)).reshape(seeds, 2 * m, d)
        curvature = ((diff @ self.gram) * diff).sum(dim=2).reshape(seeds, m, 2)
        return self.irreducible_losses.unsqueeze(1) + curvature

    def scalarised_gradient(self, theta: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Gradient of w L1 + (1 - w) L2 at theta [seeds, m, d], w = weights [m]: 2 (G theta - b_w)."""
        mixed = weights[:, None] * self.moments[:, :1] + (1 - weights[:, None]) * self.moments[:, 1:]
        return 2.0 * (theta @ self.gram - mixed)

    def scalarised_optimum(self, weights: torch.Tensor) -> torch.Tensor:
        """theta_w = (X^T X)^{-1} X^T (w y1 + (1 - w) y2) for task-1 weights [m]; returns [seeds, m, d]."""
        mixed = weights[:, None] * self.moments[:, :1] + (1 - weights[:, None]) * self.moments[:, 1:]
        return torch.linalg.solve(self.gram, mixed.transpose(1, 2)).transpose(1, 2)

    def zero_model_losses(self) -> torch.Tensor:
        """L1, L2 of theta = 0, i.e. the mean squared target of each task; [seeds, 2]."""
        return (self.targets**2).mean(dim=2)

    def reference_point(self) -> list[float]:
        """Hypervolume reference point: 1.1 x the worst loss on each task, over all seeds, among
        the zero model and the two single-task optima.

        L1(theta_w) decreases as w grows (and L2 increases), so on the front L1 is largest
        at w = 0, the task-2 optimum, and L2 at w = 1: the two single-task optima give the
        front's nadir, and every scalarised optimum of every seed strictly dominates this
        point. The zero model is included so the reference stays positive when the two
        optima coincide (task_similarity = 1, noise = 0) and so a model started near zero
        already counts.
        """
        other = self.task_losses(self.single_task_optima)                        # [seeds, 2 models, 2 tasks]
        worst = torch.cat([self.zero_model_losses().unsqueeze(1), other], dim=1).amax(dim=(0, 1))
        return (1.1 * worst).double().cpu().tolist()
