"""Off-policy evaluation with exponentially smoothed importance weights, swept over α."""

from __future__ import annotations

import torch

from engine.labs.rl_offpolicy.classification_bandit import ClassificationBandit, softmax_policy
from engine.labs.rl_offpolicy.estimators import clipped_ips, exact_moments, ips, smoothed_ips
from engine.params import Param, ParamError
from engine.registry import Algorithm

ALPHA_PARAMS = (
    Param("alpha_start", "float", 0.0, "α at the first step.", low=0.0, high=1.0),
    Param(
        "alpha_end",
        "float",
        1.0,
        "α at the last step (evenly spaced in between).",
        low=0.0,
        high=1.0,
    ),
)
CLIP_THRESHOLD = Param(
    "clip_threshold",
    "float",
    0.1,
    "τ of clipped IPS, π/max(π0, τ) (0 gives plain IPS).",
    low=0.0,
    high=1.0,
)


def alpha_grid(start: float, end: float, steps: int) -> list[float]:
    """α_t = α_start + (t − 1)(α_end − α_start)/(T − 1), t = 1 … T (α_start alone when T = 1)."""
    if steps == 1:
        return [start]
    return [start + (end - start) * (t - 1) / (steps - 1) for t in range(1, steps + 1)]


def check_alpha_range(params: dict) -> None:
    if params["alpha_end"] < params["alpha_start"]:
        raise ParamError(
            "algorithm.alpha_end",
            f"must be >= alpha_start ({params['alpha_start']}), got {params['alpha_end']}",
        )


def target_policy(prob: ClassificationBandit, p: dict) -> torch.Tensor:
    """The evaluated policy as a table [N, K] (see `target_policy` in the class docstring)."""
    if p["target_policy"] == "labels":
        return (1 - p["target_uniform"]) * prob.reward + p["target_uniform"] / prob.k
    return softmax_policy(prob.class_logits, p["target_temperature"], 0.0)


class SmoothedIPSEvaluation(Algorithm):
    """Exponential Smoothing for Off-Policy Learning (Aouali, Brunel, Rohde & Korba, 2023),
    the estimator used for evaluation.

    The smoothed estimator replaces the importance weight π/π0 by π/π0^α:

        V̂_α(π) = (1/n) Σ_i π(a_i|x_i) / π0(a_i|x_i)^α · r_i,   α ∈ [0, 1],

    α = 1 is IPS (unbiased, weights unbounded), α = 0 is (1/n) Σ π(a_i|x_i) r_i (no
    correction at all). Compared at each α with clipped IPS, π/max(π0, τ), and plain IPS.
    Step t of the run stands for α_t on an even grid from `alpha_start` to `alpha_end`;
    the metric `alpha` records it. On the finite context set of the problem every
    estimator's bias E[V̂] − V(π) and variance Var(V̂) over logged data sets of n rounds
    are exact (`exact_moments`); each seed also logs its own n rounds and records its
    estimate's error V̂ − V(π), whose mean over seeds estimates the bias.

    The target policy (`target_policy`) is either "labels", π = (1 − η) 1[a = y] + η/K, a
    policy better than the logging one that puts its mass where the logging classifier is
    confidently wrong (large weights: the regime where smoothing pays), or "classifier",
    π = softmax(ℓ/τ), a sharper copy of the logging classifier (weights stay moderate).

    Departures: the paper writes costs c = −r and studies the estimator within a PAC-Bayes
    bound; here only the estimator is evaluated, on rewards. Clipped IPS clips the
    propensity (π/max(π0, τ)), the form the paper compares with.

    Metrics: `alpha`; `true_value` V(π); for each estimator e ∈ {smoothed, clipped, ips}:
    `e_bias`, `e_variance`, `e_mse` = bias² + variance (exact, the same for every seed) and
    `e_error` = V̂ − V(π) on the seed's logged rounds.
    """

    id = "rl.smoothed_ips_evaluation"
    family = "rl"
    paper = "Exponential Smoothing for Off-Policy Learning"
    summary = "Bias, variance and MSE of IPS with weights π/π0^α against clipped and plain IPS, swept over α."
    problems = (ClassificationBandit.id,)
    plot = "curves"
    metrics = ("alpha", "true_value") + tuple(
        f"{e}_{m}"
        for e in ("smoothed", "clipped", "ips")
        for m in ("bias", "variance", "mse", "error")
    )
    params = ALPHA_PARAMS + (
        CLIP_THRESHOLD,
        Param(
            "target_policy",
            "choice",
            "labels",
            "labels: (1 − η) on the true class, η spread uniformly; "
            "classifier: softmax(ℓ/τ) of the nearest-mean classifier.",
            choices=("labels", "classifier"),
        ),
        Param("target_uniform", "float", 0.1, "η of the labels target policy.", low=0.0, high=1.0),
        Param(
            "target_temperature",
            "float",
            0.2,
            "τ of the classifier target policy (smaller: greedier).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        check_alpha_range(params)

    def run(self, steps, rec):
        prob, p = self.problem, self.p
        target = target_policy(prob, p)  # [N, K]
        true_value = prob.value(target)
        logged = prob.log()
        j, a = logged["context"], logged["action"]
        target_prob, propensity, reward = target[j, a], logged["propensity"], logged["reward"]

        def moments(weight):
            mean, variance = exact_moments(weight, prob.logging, prob.reward, prob.rounds)
            bias = mean - true_value
            return {"bias": bias, "variance": variance, "mse": bias * bias + variance}

        fixed = {
            "clipped": (
                moments(target / prob.logging.clamp(min=p["clip_threshold"])),
                clipped_ips(target_prob, propensity, reward, p["clip_threshold"]) - true_value,
            ),
            "ips": (
                moments(target / prob.logging),
                ips(target_prob, propensity, reward) - true_value,
            ),
        }
        for t, alpha in enumerate(alpha_grid(p["alpha_start"], p["alpha_end"], steps), start=1):
            if rec.should_record(t):
                rows = dict(fixed)
                rows["smoothed"] = (
                    moments(target * prob.logging.pow(-alpha)),
                    smoothed_ips(target_prob, propensity, reward, alpha) - true_value,
                )
                values = {
                    "alpha": torch.full((self.seeds,), alpha, device=self.device, dtype=self.dtype),
                    "true_value": true_value.expand(self.seeds),
                }
                for name, (exact, error) in rows.items():
                    for m, v in exact.items():
                        values[f"{name}_{m}"] = v.expand(self.seeds)
                    values[f"{name}_error"] = error
                rec.metrics(t, values)
            rec.progress(t)
