"""Off-policy value estimators on logged bandit data, their exact moments, and SharpeRatio@k.

Logged data are n rounds (x_i, a_i, r_i) with the logging propensity p_i = π0(a_i | x_i);
a target policy π gives π(a_i | x_i). Every function works on trailing axes and keeps the
leading ones (seeds, policies) as batch dimensions.
"""

from __future__ import annotations

import torch


def smoothed_ips(
    target_prob: torch.Tensor, logging_prob: torch.Tensor, rewards: torch.Tensor, alpha: float
) -> torch.Tensor:
    """V̂_α = (1/n) Σ_i π(a_i|x_i) / π0(a_i|x_i)^α · r_i over the last axis.

    α = 1 is IPS; α = 0 drops the correction, (1/n) Σ_i π(a_i|x_i) r_i.
    """
    return (target_prob * logging_prob.pow(-alpha) * rewards).mean(-1)


def clipped_ips(
    target_prob: torch.Tensor, logging_prob: torch.Tensor, rewards: torch.Tensor, threshold: float
) -> torch.Tensor:
    """V̂_τ = (1/n) Σ_i π(a_i|x_i) / max(π0(a_i|x_i), τ) · r_i (clipping of the propensity;
    τ = 0 is IPS)."""
    return (target_prob / logging_prob.clamp(min=threshold) * rewards).mean(-1)


def ips(
    target_prob: torch.Tensor, logging_prob: torch.Tensor, rewards: torch.Tensor
) -> torch.Tensor:
    """V̂_IPS = (1/n) Σ_i w_i r_i, w_i = π(a_i|x_i) / π0(a_i|x_i)."""
    return (target_prob / logging_prob * rewards).mean(-1)


def snips(
    target_prob: torch.Tensor, logging_prob: torch.Tensor, rewards: torch.Tensor
) -> torch.Tensor:
    """V̂_SNIPS = Σ_i w_i r_i / Σ_i w_i (self-normalised IPS). Where every w_i is 0 the
    estimate is 0 (no logged action has mass under π)."""
    weights = target_prob / logging_prob
    total = weights.sum(-1)
    safe = torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, (weights * rewards).sum(-1) / safe, torch.zeros_like(total))


def direct_method(target_probs_all: torch.Tensor, reward_model_all: torch.Tensor) -> torch.Tensor:
    """V̂_DM = (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a): both [..., n, K]."""
    return (target_probs_all * reward_model_all).sum(-1).mean(-1)


def doubly_robust(
    target_probs_all: torch.Tensor,
    reward_model_all: torch.Tensor,
    target_prob: torch.Tensor,
    logging_prob: torch.Tensor,
    rewards: torch.Tensor,
    reward_model_logged: torch.Tensor,
) -> torch.Tensor:
    """V̂_DR = V̂_DM + (1/n) Σ_i w_i (r_i − q̂(x_i, a_i))."""
    correction = (target_prob / logging_prob * (rewards - reward_model_logged)).mean(-1)
    return direct_method(target_probs_all, reward_model_all) + correction


def exact_moments(
    weight: torch.Tensor, logging: torch.Tensor, reward: torch.Tensor, samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of an importance-weighted estimator (1/n) Σ_i ω(x_i, a_i) r(x_i, a_i)
    with x uniform over a finite context set and a ~ π0(·|x), computed exactly.

    weight, logging, reward: [..., N, K] (ω, π0 and r at every context and action). One
    term Z has E[Z] = (1/N) Σ_x Σ_a π0(a|x) ω(x,a) r(x,a) and E[Z²] likewise with ω² r²;
    the mean of n independent terms has mean E[Z] and variance (E[Z²] − E[Z]²) / n.
    """
    term = weight * reward
    first = (logging * term).sum(-1).mean(-1)
    second = (logging * term * term).sum(-1).mean(-1)
    return first, (second - first * first).clamp(min=0) / samples


def policy_value(policy: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    """V(π) = (1/N) Σ_x Σ_a π(a|x) r(x, a) over a finite context set: [..., N, K] -> [...]."""
    return (policy * reward).sum(-1).mean(-1)


def top_k_portfolio(
    estimates: torch.Tensor,
    true_values: torch.Tensor,
    baseline: torch.Tensor,
    ks: range | list[int],
) -> dict[str, torch.Tensor]:
    """The top-k policy portfolio of an estimator and its SharpeRatio@k, for each k.

    estimates, true_values: [..., M] (M candidate policies); baseline: [...] the true value
    J(π_b) of the behaviour policy (the risk-free return). Policies are ranked by estimate
    (ties keep the lower index first); Π_k are the first k. Then, for each k in ks,

        best@k = max_{π ∈ Π_k} J(π),
        std@k  = sqrt( (1/k) Σ_{π ∈ Π_k} (J(π) − mean_{Π_k} J)² ),
        SharpeRatio@k = (best@k − J(π_b)) / std@k,

    and SharpeRatio@k is NaN where std@k = 0 (always at k = 1, a portfolio without risk).
    Returns {"best", "std", "sharpe"} each [..., len(ks)].
    """
    order = torch.sort(estimates, dim=-1, descending=True, stable=True).indices
    ranked = torch.gather(true_values.expand_as(estimates), -1, order)
    best, std = [], []
    for k in ks:
        top = ranked[..., :k]
        best.append(top.max(-1).values)
        std.append(top.std(-1, unbiased=False) if k > 1 else torch.zeros_like(top[..., 0]))
    best_t, std_t = torch.stack(best, -1), torch.stack(std, -1)
    excess = best_t - baseline.unsqueeze(-1)
    positive = std_t > 0
    sharpe = torch.where(
        positive,
        excess / torch.where(positive, std_t, torch.ones_like(std_t)),
        torch.full_like(std_t, float("nan")),
    )
    return {"best": best_t, "std": std_t, "sharpe": sharpe}
