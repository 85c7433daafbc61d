"""Multi-task regression problems whose Pareto front is known in closed form."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from engine.labs.pareto.true_front import DEFAULT_DIVISIONS, sampled_front_hypervolume
from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def equicorrelated_cholesky(tasks: int, similarity: float) -> list[list[float]]:
    """Lower-triangular L with L L^T = (1 - s) I + s 1 1^T: row k gives the coordinates of
    unit vector a_k in an orthonormal frame so that every pair has cosine s.

    The matrix is positive semi-definite exactly when s >= -1 / (tasks - 1); at the ends
    (s = 1, or s = -1 / (tasks - 1)) it is singular, so a zero pivot gives a zero column
    instead of a division by zero.
    """
    rows = [[0.0] * tasks for _ in range(tasks)]
    for k in range(tasks):
        for j in range(k):
            dot = similarity - sum(rows[k][m] * rows[j][m] for m in range(j))
            rows[k][j] = dot / rows[j][j] if rows[j][j] > 1e-12 else 0.0
        rows[k][k] = math.sqrt(max(0.0, 1.0 - sum(v * v for v in rows[k][:k])))
    return rows


def _regression_params(tasks: int) -> tuple[Param, ...]:
    return (
        Param(
            "n_samples",
            "int",
            200,
            "Rows of the design X (at least n_features, so X^T X is invertible).",
            low=2,
            high=1_000_000,
        ),
        Param(
            "n_features",
            "int",
            5,
            "Columns of X: the dimension of the shared weight vector"
            + ("." if tasks == 2 else f" (at least {tasks}, one direction per task)."),
            low=tasks,
            high=10_000,
        ),
        Param(
            "task_similarity",
            "float",
            0.0,
            "Cosine between the tasks' true weight vectors"
            + ("." if tasks == 2 else " (every pair)."),
            low=-1.0 / (tasks - 1),
            high=1.0,
        ),
        Param(
            "noise",
            "float",
            0.1,
            "Standard deviation of the Gaussian noise added to each target.",
            low=0.0,
        ),
        Param(
            "design",
            "choice",
            "gaussian",
            "gaussian: X has N(0, 1) entries; whitened: X is rescaled so X^T X / n = I exactly, which "
            "makes every task loss an isotropic quadratic.",
            choices=("gaussian", "whitened"),
        ),
    )


class MultiTaskRegression(Problem):
    """K linear regression tasks on one design, solved by one shared weight vector.

    For every seed s: a design X [n, d], K true weight vectors a_k of unit norm whose
    pairwise cosines all equal ``task_similarity``, and targets

        y_k = X a_k + noise * eps_k,   eps_k ~ N(0, I),   k = 1..K.

    A shared model theta has task losses L_k(theta) = ||X theta - y_k||^2 / n. With
    G = X^T X / n and theta_k* the task's own least-squares optimum,

        L_k(theta) = c_k + (theta - theta_k*)^T G (theta - theta_k*),

    so every task loss is a quadratic with the same Hessian 2G. A weighted sum
    sum_k w_k L_k (w on the simplex) is then minimised at theta_w = sum_k w_k theta_k*
    (its gradient 2G sum_k w_k (theta - theta_k*) vanishes there), and because the losses
    are convex, every Pareto-optimal point minimises some weighted sum. The Pareto front
    is therefore exactly w -> L(theta_w) over the simplex, known in closed form:

        L_k(theta_w) = c_k + (w - e_k)^T M (w - e_k).   M = Theta* G Theta*^T  [K, K],

    with Theta* the matrix of single-task optima. `true_front_hypervolume` samples it
    densely (see `engine.labs.pareto.true_front` for the density and the error bound).

    With ``design = "whitened"`` G = I, so each loss is an isotropic quadratic
    c_k + ||theta - theta_k*||^2.

    Seeds are a batch dimension: every tensor leads with [seeds]. The data are drawn in
    float64 from the problem's own stream and then cast, so a seed gives the same data
    set whatever the run's dtype; the closed forms are kept in float64.
    """

    family = "pareto"
    tasks: ClassVar[int] = 0

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n, d, k = params["n_samples"], params["n_features"], self.tasks
        if n < d:
            raise ParamError(
                "problem.n_samples",
                f"must be at least n_features ({d}) for X^T X to be invertible, got {n}",
            )
        if d < k:
            raise ParamError(
                "problem.n_features", f"must be at least the number of tasks ({k}), got {d}"
            )
        self.n_samples, self.n_features = n, d
        g = generator(device, seed, PROBLEM_STREAM)
        f64 = dict(generator=g, device=device, dtype=torch.float64)

        design = torch.randn((seeds, n, d), **f64)
        # Built directly (not from a spec), a problem may omit the newer key.
        if params.get("design", "gaussian") == "whitened":
            design = math.sqrt(n) * torch.linalg.qr(design).Q
        # Gram-Schmidt on K Gaussian directions gives an orthonormal frame e_1..e_K, uniformly
        # oriented; a_k = sum_j L[k, j] e_j then has unit norm and cosine s with every other a_j.
        frame = []
        for _ in range(k):
            v = torch.randn((seeds, d), **f64)
            for e in frame:
                v = v - (v * e).sum(dim=1, keepdim=True) * e
            frame.append(v / v.norm(dim=1, keepdim=True))
        frame = torch.stack(frame, dim=1)  # [seeds, K, d]
        cholesky = torch.tensor(
            equicorrelated_cholesky(k, params["task_similarity"]),
            dtype=torch.float64,
            device=device,
        )
        true_weights = torch.einsum("kj,sjd->skd", cholesky, frame)
        eps = torch.randn((seeds, k, n), **f64)
        targets = torch.einsum("snd,skd->skn", design, true_weights) + params["noise"] * eps

        gram = design.transpose(1, 2) @ design / n  # G = X^T X / n  [seeds, d, d]
        moments = targets @ design / n  # X^T y_k / n    [seeds, K, d]
        optima = torch.linalg.solve(gram, moments.transpose(1, 2)).transpose(
            1, 2
        )  # theta_k*       [seeds, K, d]
        residuals = optima @ design.transpose(1, 2) - targets
        irreducible = (residuals**2).mean(dim=2)  # c_k            [seeds, K]
        # The front's quadratic form in preference space; float64 keeps the closed form exact.
        self.front_form = optima @ gram @ optima.transpose(1, 2)  # M              [seeds, K, K]
        self.irreducible_losses64 = irreducible

        self.design = design.to(dtype)  # X      [seeds, n, d]
        self.true_weights = true_weights.to(dtype)  # a_k    [seeds, K, d]
        self.targets = targets.to(dtype)  # y_k    [seeds, K, n]
        # Sufficient statistics: the losses and their gradients need only these, so a
        # gradient step costs O(d^2) per model whatever n is.
        self.gram = gram.to(dtype)
        self.moments = moments.to(dtype)
        self.single_task_optima = optima.to(dtype)
        self.irreducible_losses = irreducible.to(dtype)

    # -- objectives ---------------------------------------------------------------
    @property
    def objective_names(self) -> list[str]:
        return [f"task{k + 1}_loss" for k in range(self.tasks)]

    @property
    def objective_directions(self) -> list[str]:
        return ["min"] * self.tasks

    def task_losses(self, theta: torch.Tensor) -> torch.Tensor:
        """L_1..L_K of weight vectors theta [seeds, m, d]; returns [seeds, m, K].

        Uses L_k(theta) = L_k(theta_k*) + (theta - theta_k*)^T G (theta - theta_k*), exact
        for least squares: both terms are non-negative, so small losses near an optimum
        lose no precision to cancellation.
        """
        seeds, m, d = theta.shape
        k = self.tasks
        diff = (theta.unsqueeze(2) - self.single_task_optima.unsqueeze(1)).reshape(seeds, k * m, d)
        curvature = ((diff @ self.gram) * diff).sum(dim=2).reshape(seeds, m, k)
        return self.irreducible_losses.unsqueeze(1) + curvature

    def preference_matrix(self, weights: torch.Tensor) -> torch.Tensor:
        """Preferences as [m, K]; a 1-D tensor of task-1 weights w means (w, 1 - w) for two tasks."""
        if weights.dim() == 1:
            if self.tasks != 2:
                raise ValueError(
                    f"a 1-D preference (task-1 weights) needs two tasks, this problem has {self.tasks}"
                )
            return torch.stack([weights, 1 - weights], dim=1)
        return weights

    def scalarised_gradient(self, theta: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Gradient of sum_k w_k L_k at theta [seeds, m, d] for preferences [m, K] (or task-1 weights [m]):
        2 (G theta - b_w), with b_w = sum_k w_k X^T y_k / n."""
        mixed = torch.einsum("mk,skd->smd", self.preference_matrix(weights), self.moments)
        return 2.0 * (theta @ self.gram - mixed)

    def scalarised_optimum(self, weights: torch.Tensor) -> torch.Tensor:
        """theta_w = sum_k w_k theta_k* for preferences [m, K] (or task-1 weights [m]); returns [seeds, m, d]."""
        return torch.einsum("mk,skd->smd", self.preference_matrix(weights), self.single_task_optima)

    def front_losses(self, weights: np.ndarray) -> np.ndarray:
        """Closed-form L(theta_w) in float64 for preferences [m, K]: c_k + (w - e_k)^T M (w - e_k). [seeds, m, K]."""
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64), device=self.front_form.device)
        offsets = w.unsqueeze(1) - torch.eye(
            self.tasks, dtype=torch.float64, device=w.device
        )  # [m, K, K]
        quad = torch.einsum("mki,sij,mkj->smk", offsets, self.front_form, offsets)
        return (self.irreducible_losses64.unsqueeze(1) + quad).cpu().numpy()

    def zero_model_losses(self) -> torch.Tensor:
        """L_k of theta = 0, i.e. the mean squared target of each task; [seeds, K]."""
        return (self.targets**2).mean(dim=2)

    def reference_point(self) -> list[float]:
        """Hypervolume reference point: 1.1 x the worst loss on each task, over all seeds, among
        the zero model and the single-task optima.

        L_k(theta_w) is convex in w (a convex quadratic of a linear map), so its largest value
        on the simplex is at a vertex: the single-task optima give the front's nadir, and
        every scalarised optimum of every seed strictly dominates this point. The zero model
        is included so the reference stays positive when all optima coincide
        (task_similarity = 1, noise = 0) and so a model started near zero already counts.
        """
        other = self.task_losses(self.single_task_optima)  # [seeds, K models, K tasks]
        worst = torch.cat([self.zero_model_losses().unsqueeze(1), other], dim=1).amax(dim=(0, 1))
        return (1.1 * worst).double().cpu().tolist()

    def true_front_hypervolume(self, reference_point, divisions: int | None = None) -> np.ndarray:
        """Per seed, an upper bound on the hypervolume of the true front within the stated error
        (see `engine.labs.pareto.true_front`); [seeds]."""
        _, upper = sampled_front_hypervolume(
            self, reference_point, divisions or DEFAULT_DIVISIONS[self.tasks]
        )
        return upper


class TwoTaskRegression(MultiTaskRegression):
    __doc__ = MultiTaskRegression.__doc__
    id = "pareto.two_task_regression"
    title = "Two-task linear regression with a shared model"
    summary = "Two least-squares tasks whose weight vectors have a chosen cosine; the front is known in closed form."
    tasks = 2
    params = _regression_params(2)


class ThreeTaskRegression(MultiTaskRegression):
    __doc__ = MultiTaskRegression.__doc__
    id = "pareto.three_task_regression"
    title = "Three-task linear regression with a shared model"
    summary = "Three least-squares tasks, all pairs of weight vectors at one cosine; closed-form front surface."
    tasks = 3
    params = _regression_params(3)


REGRESSION_PROBLEMS = (TwoTaskRegression.id, ThreeTaskRegression.id)
