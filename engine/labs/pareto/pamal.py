"""Pareto Manifold Learning (PaMaL): a weight-space ensemble of single-task members."""

from __future__ import annotations

import torch

from engine.labs.pareto.front_learning import EVALUATION_GRID, FrontLearner, dirichlet
from engine.params import Param, ParamError


def multi_forward_penalty(alphas: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """The multi-forward regulariser for a window of B preferences: alphas, losses [seeds, B, K].

    For each task k the window is ordered by alpha_k, largest first, and a consecutive pair
    violates the intended order when the larger weight gives the larger loss,
    d = L_k(larger alpha_k) - L_k(smaller alpha_k) > 0. Per task
    R_k = log( sum_i exp(relu(d_i)) / (B - 1) ), zero exactly when no pair is violated;
    the penalty is sum_k R_k, per seed [seeds].
    """
    order = alphas.argsort(dim=1, descending=True)  # per task
    ordered = losses.gather(1, order)  # [seeds, B, K]
    violation = torch.relu(ordered[:, :-1] - ordered[:, 1:])
    return torch.log(violation.exp().sum(dim=1) / (alphas.shape[1] - 1)).sum(dim=1)


class ParetoManifoldLearning(FrontLearner):
    """Pareto Manifold Learning: Tackling multiple tasks via ensembles of single-task models.

    K members theta_1..theta_K, one per task, each initialised independently; for a
    preference alpha on the simplex the model is their weight-space interpolation
    theta(alpha) = sum_k alpha_k theta_k, and the front is traced at inference by moving
    alpha. One training run: at each step a window of B preferences
    alpha_1..alpha_B ~ Dir(p 1) is drawn and

        J = (1 / B) sum_b sum_k alpha_bk L_k(theta(alpha_b)) + lambda R,
        theta_k <- theta_k - lr dJ/dtheta_k,

    with R the multi-forward regulariser (`multi_forward_penalty`), which asks each task's
    loss to fall as its weight rises across the window; as in the authors' code it is added
    only while lambda R is below the task term.

    On these regression problems every task loss has the same Hessian 2G, so the optimum
    for alpha is theta*_alpha = sum_k alpha_k theta_k* and the members' optimum is
    theta_k = theta_k*: the gradient of sum_k alpha_k L_k at theta(alpha) is
    2G (theta(alpha) - theta*_alpha) = 0 for every alpha at once, and the objective is a
    strictly convex quadratic of the members (E[alpha alpha^T] is positive definite). At
    convergence the interpolated front is then exactly the true front; on isotropic
    quadratics (design = "whitened", G = I) with two tasks it is
    sqrt(L_1 - c_1) + sqrt(L_2 - c_2) = |theta_1* - theta_2*|.

    Departures: the paper trains deep networks (every layer an ensemble of K members,
    Adam, mini-batches); here the shared model is the linear predictor itself, trained by
    full-batch gradient descent, so "the members" are K weight vectors. The window's losses
    are averaged rather than summed, so lr means the same for every window size. The
    regulariser follows the paper's stated aim (loss falls as its weight rises); the
    authors' released code orders the window the other way round. Its default weight is
    0, as in the authors' configurations.

    Metrics per seed, besides the front's: ``training_loss`` (J) and
    ``member_excess_loss``, the mean over tasks of L_k(theta_k) - L_k(theta_k*), which
    goes to 0 as the members reach the single-task optima.
    """

    id = "pareto.pamal"
    paper = "Pareto Manifold Learning: Tackling multiple tasks via ensembles of single-task models"
    summary = "One model per task, trained jointly through random weight-space interpolations; any mix at inference."
    params = (
        EVALUATION_GRID,
        Param(
            "window",
            "int",
            4,
            "Preferences B drawn per step (the paper's multi-forward window).",
            low=1,
            high=256,
        ),
        Param(
            "concentration",
            "float",
            1.0,
            "Dirichlet concentration p of the sampled preferences.",
            low=0.0,
            low_open=True,
            high=1000.0,
        ),
        Param(
            "regularisation",
            "float",
            0.0,
            "Weight lambda of the multi-forward regulariser (needs a window of at least 2).",
            low=0.0,
            high=1000.0,
        ),
        Param(
            "lr", "float", 0.1, "Gradient-descent step size.", low=0.0, low_open=True, high=100.0
        ),
        Param(
            "init_scale",
            "float",
            1.0,
            "Standard deviation of each member's independent initial weights.",
            low=0.0,
            high=100.0,
        ),
    )
    metrics = (*FrontLearner.metrics, "member_excess_loss")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if params["regularisation"] > 0 and params["window"] < 2:
            raise ParamError(
                "algorithm.regularisation",
                "compares the losses within a window, so it needs "
                f"window >= 2, got window = {params['window']}",
            )

    def initial_parameters(self, g):
        prob = self.problem
        self.preference_sampler = dirichlet(self.p["concentration"], prob.tasks, self.device)
        start = torch.randn(
            (self.seeds, prob.tasks, prob.n_features),
            generator=g,
            device=self.device,
            dtype=torch.float64,
        )
        return {"members": (self.p["init_scale"] * start).to(self.dtype)}

    def model_weights(self, params, alphas):
        return (
            alphas @ params["members"]
            if alphas.dim() == 3
            else torch.einsum("mk,skd->smd", alphas, params["members"])
        )

    def training_loss(self, params, step, steps):
        prob = self.problem
        alphas = self.preference_sampler.sample((self.seeds, self.p["window"])).to(
            self.dtype
        )  # [seeds, B, K]
        losses = prob.task_losses(self.model_weights(params, alphas))  # [seeds, B, K]
        task_term = (alphas * losses).sum(dim=2).mean(dim=1)
        if self.p["regularisation"] == 0:
            return task_term
        penalty = self.p["regularisation"] * multi_forward_penalty(alphas, losses)
        return task_term + torch.where(penalty < task_term, penalty, torch.zeros_like(penalty))

    def diagnostics(self, params):
        prob = self.problem
        own = prob.task_losses(params["members"]).diagonal(
            dim1=1, dim2=2
        )  # L_k(theta_k) [seeds, K]
        return {"member_excess_loss": (own - prob.irreducible_losses).mean(dim=1)}
