"""Imprecise Bayesian Continual Learning: a credal knowledge base of Gaussian posteriors and
zero-shot models for any task-trade-off preference."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch

from engine.labs.pareto.problems import REGRESSION_PROBLEMS
from engine.labs.pareto.recording import FRONT_METRICS, FrontRecorder, preference_grid
from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

PRIOR_CHAINS = ("previous_posterior", "initial_prior")
MODEL_CHOICES = ("hdr_centre", "hdr_sample")


def conjugate_update(
    prior_mean: torch.Tensor,
    prior_precision: torch.Tensor,
    gram: torch.Tensor,
    moment: torch.Tensor,
    noise_std: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact posterior of Bayesian linear regression y = X theta + N(0, sigma^2) under a
    Gaussian prior N(mu_0, Lambda_0^-1), from the sufficient statistics X^T X (`gram`) and
    X^T y (`moment`):

        Lambda = Lambda_0 + X^T X / sigma^2,    mu = Lambda^-1 (Lambda_0 mu_0 + X^T y / sigma^2).

    prior_mean [..., d], prior_precision [..., d, d], gram [..., d, d], moment [..., d]
    (broadcast); returns (mean [..., d], precision [..., d, d]).
    """
    precision = prior_precision + gram / noise_std**2
    information = (prior_precision @ prior_mean.unsqueeze(-1)).squeeze(-1) + moment / noise_std**2
    return torch.linalg.solve(precision, information.unsqueeze(-1)).squeeze(-1), precision


def diagonal_std(precision: torch.Tensor) -> torch.Tensor:
    """Marginal standard deviations sqrt(diag(Lambda^-1)); [..., d]."""
    return torch.linalg.inv(precision).diagonal(dim1=-2, dim2=-1).sqrt()


class CredalKnowledgeBase:
    """The extreme points of IBCL's finitely generated credal set, for every seed at once.

    m priors N(0, s_j^2 I) (j = 1..m) span the prior set. Task k's update turns the m
    priors of task k into m exact posteriors (`conjugate_update`); with
    ``prior_chain = "previous_posterior"`` these posteriors are the priors of task k + 1,
    with ``"initial_prior"`` every task starts again from the m original priors.

    A new posterior whose 2-Wasserstein distance (between its diagonal Gaussian and the
    stored one) to the nearest stored extreme point is at most ``discard_threshold`` is
    not stored: the nearest one stands in for it (and, in the chain, is the next prior).

    ``posterior_updates`` counts the Bayesian updates, the only training IBCL does; the
    zero-shot models of `preference_distribution` leave it unchanged.
    """

    def __init__(
        self,
        prior_stds,
        tasks: int,
        seeds: int,
        features: int,
        prior_chain: str,
        discard_threshold: float,
        device,
    ):
        self.tasks, self.seeds, self.features = tasks, seeds, features
        self.extremes = len(prior_stds)
        self.chain = prior_chain == "previous_posterior"
        self.threshold = discard_threshold
        f64 = {"dtype": torch.float64, "device": device}
        stds = torch.tensor(prior_stds, **f64)
        eye = torch.eye(features, **f64)
        self.initial_mean = torch.zeros((seeds, self.extremes, features), **f64)
        self.initial_precision = (eye / stds.view(-1, 1, 1) ** 2).expand(seeds, -1, -1, -1).clone()
        self.prior_mean, self.prior_precision = self.initial_mean, self.initial_precision
        # Every posterior ever computed, [seeds, K, m, ...]; `stands_in` maps each (k, j), as the
        # flat index k m + j, to the stored extreme point that represents it.
        self.means = torch.zeros((seeds, tasks, self.extremes, features), **f64)
        self.stds = torch.zeros_like(self.means)
        self.precisions = torch.zeros((seeds, tasks, self.extremes, features, features), **f64)
        self.stands_in = torch.zeros(
            (seeds, tasks * self.extremes), dtype=torch.long, device=device
        )
        self.stored = [[] for _ in range(seeds)]
        self.seen = 0
        self.posterior_updates = 0

    def learn_task(
        self, task: int, gram: torch.Tensor, moment: torch.Tensor, noise_std: float
    ) -> None:
        """Add task `task` (tasks arrive in order 0, 1, ...) from its statistics X^T X [seeds, d, d]
        and X^T y [seeds, d]."""
        if task != self.seen:
            raise ValueError(f"tasks arrive in order: expected task {self.seen}, got {task}")
        mean, precision = conjugate_update(
            self.prior_mean, self.prior_precision, gram.unsqueeze(1), moment.unsqueeze(1), noise_std
        )
        self.posterior_updates += self.extremes
        self.means[:, task], self.precisions[:, task], self.stds[:, task] = (
            mean,
            precision,
            diagonal_std(precision),
        )
        flat_means = self.means.reshape(self.seeds, -1, self.features)
        flat_stds = self.stds.reshape(self.seeds, -1, self.features)
        for s in range(self.seeds):
            for j in range(self.extremes):
                index = task * self.extremes + j
                self.stands_in[s, index] = index
                if self.stored[s]:
                    kept = torch.tensor(self.stored[s], device=mean.device)
                    distance = (
                        (
                            (flat_means[s, kept] - mean[s, j]) ** 2
                            + (flat_stds[s, kept] - self.stds[s, task, j]) ** 2
                        )
                        .sum(dim=1)
                        .sqrt()
                    )
                    nearest = int(distance.argmin())
                    if distance[nearest] <= self.threshold:
                        self.stands_in[s, index] = self.stored[s][nearest]
                        continue
                self.stored[s].append(index)
        self.seen += 1
        if self.chain:
            standing = self.stands_in[:, task * self.extremes : (task + 1) * self.extremes]
            rows = torch.arange(self.seeds, device=mean.device).unsqueeze(1)
            self.prior_mean = flat_means[rows, standing]
            self.prior_precision = self.precisions.reshape(
                self.seeds, -1, self.features, self.features
            )[rows, standing]

    @property
    def size(self) -> torch.Tensor:
        """Stored extreme points per seed; [seeds]."""
        return torch.tensor([len(kept) for kept in self.stored], dtype=torch.float64)

    def extreme_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(means, stds) [seeds, K, m, d] of the distribution each (task, extreme) contributes:
        its stored stand-in for a seen task; for a task not yet seen, the prior its update
        would start from (the knowledge base's belief about it before its data)."""
        rows = torch.arange(self.seeds, device=self.means.device).unsqueeze(1)
        means = self.means.reshape(self.seeds, -1, self.features)[rows, self.stands_in].reshape(
            self.means.shape
        )
        stds = self.stds.reshape(self.seeds, -1, self.features)[rows, self.stands_in].reshape(
            self.stds.shape
        )
        unseen_mean = self.prior_mean.unsqueeze(1).expand(-1, self.tasks - self.seen, -1, -1)
        unseen_std = (
            diagonal_std(self.prior_precision)
            .unsqueeze(1)
            .expand(-1, self.tasks - self.seen, -1, -1)
        )
        return (
            torch.cat([means[:, : self.seen], unseen_mean], dim=1),
            torch.cat([stds[:, : self.seen], unseen_std], dim=1),
        )

    def preference_distribution(
        self, preferences: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The preference-weighted combination q_w for preferences w [P, K]: every extreme point
        of task k gets weight beta_kj = w_k / m, and, as in the authors' implementation, the
        combination is the diagonal Gaussian with mu_w = sum beta_kj mu_kj and
        sigma_w = sum beta_kj sigma_kj. Returns (mu_w, sigma_w), each [seeds, P, d]. No training."""
        means, stds = self.extreme_points()
        beta = preferences.to(torch.float64) / self.extremes
        return torch.einsum("pk,skjd->spd", beta, means), torch.einsum("pk,skjd->spd", beta, stds)


def highest_density_box(
    mean: torch.Tensor, std: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per coordinate, the central interval of N(mu, sigma^2) holding 1 - alpha of its mass,
    mu -+ z sigma with z = Phi^-1(1 - alpha / 2): for a symmetric unimodal marginal the central
    interval is its highest-density region."""
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return mean - z * std, mean + z * std


class ImpreciseBayesianContinualLearning(Algorithm):
    """IBCL: Zero-shot Model Generation for Task Trade-offs in Continual Learning

    Tasks arrive one at a time. The knowledge base is a finitely generated credal set: the
    convex hull of Gaussian posteriors over the shared linear model's weights. Upon task k,
    each of m priors p_k^j (extreme points of a prior set) is updated by Bayes' rule, here
    exactly (conjugate Gaussian prior, Gaussian likelihood with noise sigma):

        Lambda_kj = Lambda(p_k^j) + X^T X / sigma^2,
        mu_kj = Lambda_kj^-1 (Lambda(p_k^j) mu(p_k^j) + X^T y_k / sigma^2),
        p_{k+1}^j = q_kj                       (prior_chain = "previous_posterior", the paper's),

    and q_kj joins the knowledge base unless a stored extreme point lies within distance d
    (`discard_threshold`), which then stands in for it (the paper's sublinear buffer
    growth). For a preference w on the simplex of tasks, zero-shot (no training):

        beta_kj = w_k / m,   q_w = sum_kj beta_kj q_kj,
        R_alpha(q_w) = its highest-density region of mass 1 - alpha,

    and the model for w is a parameter in R_alpha(q_w). The paper's guarantee: R_alpha
    contains the parameter that is Pareto-optimal for w with probability at least 1 - alpha.
    One point per preference: the model's per-task losses L_1..L_K.

    The run's steps are the task sequence: task k is learned at step ceil(k steps / K), so
    with steps = K one task per step; the front is read at every checkpoint. A task not yet
    seen contributes the prior its update would start from.

    Departures: the paper learns Bayesian neural networks by variational inference; here
    the model is linear and the posteriors are exact (full covariance; no optimiser, so
    nothing to tune and everything checkable in closed form). The paper writes q_w as a
    mixture; like the authors' released code, q_w is taken as the diagonal Gaussian whose
    mean and standard deviations are the beta-weighted sums (the mixture has the same
    mean), and R_alpha is the box of per-coordinate central intervals of mass 1 - alpha
    (so the box's joint mass is (1 - alpha)^d under independent marginals, not 1 - alpha;
    the authors' code puts mass alpha, not 1 - alpha, in each interval).
    The model is the box's centre mu_w, the highest-density point, by default
    (`model = "hdr_centre"`); `"hdr_sample"` instead draws it uniformly from the box, as
    the authors' code samples its models, once per preference and seed for the whole run.
    The distance between extreme points is the 2-Wasserstein distance between their
    diagonal Gaussians (the authors' code uses a size-normalised sum of the mean and std
    norms). The posteriors are computed in float64 whatever the run's dtype.

    With the chain, posterior k is conditioned on tasks 1..k, so on these regression tasks
    (same design, so the joint least-squares optimum is the average of the task optima)
    vertex k of the simplex gives about (theta_1* + ... + theta_k*) / k: the zero-shot
    models span only the part of the front between task 1's optimum and the joint one.
    With ``prior_chain = "initial_prior"`` every vertex is a task's own posterior and the
    models span the whole front (theta_w = sum_k w_k theta_k* up to the prior's shrinkage).

    Metrics per seed, besides the front's: ``scalarised_suboptimality``, the mean over
    preferences of sum_k w_k L_k(model) minus its minimum sum_k w_k L_k(theta_w) (the gap
    to the true front along each preference); ``hdr_coverage``, the fraction of
    preferences whose box contains theta_w (the paper's guarantee, checked);
    ``knowledge_base_size``, the stored extreme points; ``posterior_updates``, the Bayesian
    updates made so far (m per task; generating models adds none).
    """

    id = "pareto.ibcl"
    family = "pareto"
    paper = "IBCL: Zero-shot Model Generation for Task Trade-offs in Continual Learning"
    summary = (
        "A convex hull of per-task Gaussian posteriors learned task by task; a model for any "
        "preference from their weighted combination, without training."
    )
    params = (
        Param(
            "preferences",
            "int",
            11,
            "Evaluation grid size P: P evenly spaced preferences for two tasks, "
            "P (P + 1) / 2 for three.",
            low=2,
            high=200,
        ),
        Param(
            "prior_stds",
            "floats",
            [0.5, 1.0, 2.0],
            "Standard deviations s_j of the m isotropic Gaussian "
            "priors N(0, s_j^2 I): the extreme points of the prior set.",
            low=0.0,
            low_open=True,
            high=1e6,
            max_len=16,
        ),
        Param(
            "noise_std",
            "float",
            0.1,
            "Noise standard deviation sigma the likelihood assumes.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "prior_chain",
            "choice",
            "previous_posterior",
            "previous_posterior: task k's posteriors are task "
            "k + 1's priors (the paper's continual update); initial_prior: every task starts from the m "
            "original priors.",
            choices=PRIOR_CHAINS,
        ),
        Param(
            "discard_threshold",
            "float",
            0.0,
            "d: a new posterior within this 2-Wasserstein distance of a "
            "stored one is not stored; the stored one stands in (0 keeps all unless identical).",
            low=0.0,
            high=1e6,
        ),
        Param(
            "alpha",
            "float",
            0.05,
            "Significance alpha: the highest-density region holds 1 - alpha per coordinate.",
            low=0.0,
            low_open=True,
            high=1.0,
            high_open=True,
        ),
        Param(
            "model",
            "choice",
            "hdr_centre",
            "Which parameter of the region is the model: its centre "
            "(the highest-density point) or a uniform draw from it.",
            choices=MODEL_CHOICES,
        ),
    )
    problems = REGRESSION_PROBLEMS
    plot = "pareto"
    metrics = (
        *FRONT_METRICS,
        "scalarised_suboptimality",
        "hdr_coverage",
        "knowledge_base_size",
        "posterior_updates",
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if len(set(params["prior_stds"])) != len(params["prior_stds"]):
            raise ParamError(
                "algorithm.prior_stds", f"lists a standard deviation twice: {params['prior_stds']}"
            )

    def knowledge_base(self) -> CredalKnowledgeBase:
        prob = self.problem
        return CredalKnowledgeBase(
            self.p["prior_stds"],
            prob.tasks,
            self.seeds,
            prob.n_features,
            self.p["prior_chain"],
            self.p["discard_threshold"],
            self.device,
        )

    def learn(self, base: CredalKnowledgeBase, task: int) -> None:
        """Bayes' rule on task `task`'s data, via X^T X = n G and X^T y_k = n b_k."""
        prob = self.problem
        n = prob.n_samples
        base.learn_task(
            task, n * prob.gram.double(), n * prob.moments[:, task].double(), self.p["noise_std"]
        )

    def preference_models(
        self,
        base: CredalKnowledgeBase,
        preferences: torch.Tensor,
        position: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Zero-shot models for preferences [P, K]: (models, box lower, box upper), each
        [seeds, P, d] in float64. `position` in [0, 1]^d picks a point of each box (the centre
        when None)."""
        mean, std = base.preference_distribution(preferences)
        lower, upper = highest_density_box(mean, std, self.p["alpha"])
        models = mean if position is None else lower + position * (upper - lower)
        return models, lower, upper

    def run(self, steps, rec):
        prob = self.problem
        grid, labels = preference_grid(prob.tasks, self.p["preferences"])
        weights = torch.tensor(grid, device=self.device, dtype=torch.float64)  # [P, K]
        base = self.knowledge_base()
        front = FrontRecorder(rec, prob, labels)
        position = None
        if self.p["model"] == "hdr_sample":
            g = generator(self.device, self.seed, ALGORITHM_STREAM)
            position = torch.rand(
                (self.seeds, len(labels), prob.n_features),
                generator=g,
                device=self.device,
                dtype=torch.float64,
            )
        optimum = prob.scalarised_optimum(weights.to(self.dtype)).double()  # theta_w
        optimal = (torch.as_tensor(prob.front_losses(grid), device=self.device) * weights).sum(
            dim=2
        )
        arrivals = [math.ceil((k + 1) * steps / prob.tasks) for k in range(prob.tasks)]
        for t in range(1, steps + 1):
            for task in (k for k, arrival in enumerate(arrivals) if arrival == t):
                self.learn(base, task)
            if rec.should_record(t) or t in arrivals:
                models, lower, upper = self.preference_models(base, weights, position)
                losses = prob.task_losses(models.to(self.dtype)).double()  # [seeds, P, K]
                inside = ((optimum >= lower) & (optimum <= upper)).all(dim=2).to(torch.float64)
                front.record(
                    t,
                    losses.cpu().numpy(),
                    {
                        "scalarised_suboptimality": ((losses * weights).sum(dim=2) - optimal).mean(
                            dim=1
                        ),
                        "hdr_coverage": inside.mean(dim=1),
                        "knowledge_base_size": base.size,
                        "posterior_updates": np.full(self.seeds, float(base.posterior_updates)),
                    },
                )
            rec.progress(t)
