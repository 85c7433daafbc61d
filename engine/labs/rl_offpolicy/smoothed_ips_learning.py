"""Off-policy learning by maximising the exponentially smoothed IPS estimate, swept over α."""

from __future__ import annotations

import torch

from engine.labs.rl_offpolicy.classification_bandit import ClassificationBandit
from engine.labs.rl_offpolicy.smoothed_ips_evaluation import (
    ALPHA_PARAMS,
    CLIP_THRESHOLD,
    alpha_grid,
    check_alpha_range,
)
from engine.params import Param
from engine.registry import Algorithm

# Policies for this many values of α are fitted side by side in one batch.
FITS_AT_ONCE = 16


class SmoothedIPSLearning(Algorithm):
    """Exponential Smoothing for Off-Policy Learning (Aouali, Brunel, Rohde & Korba, 2023),
    the estimator used for learning.

    A linear softmax policy π_θ(a|x) = softmax(φ(x)ᵀθ)_a is fitted to each seed's logged
    rounds by maximising an importance-weighted estimate of its value with an L2 penalty,

        θ̂ = argmax_θ (1/n) Σ_i π_θ(a_i|x_i) ω_i r_i − (λ/2) ‖θ‖²,

    with ω_i = π0(a_i|x_i)^(−α) (smoothed IPS), 1/max(π0(a_i|x_i), τ) (clipped IPS) or
    1/π0(a_i|x_i) (IPS), by `iterations` steps of Adam from θ = 0 (the uniform policy).
    Step t of the run stands for α_t on an even grid from `alpha_start` to `alpha_end` (the
    metric `alpha`): the smoothed policy is refitted from scratch at each α. The clipped and
    IPS policies do not depend on α; they are fitted once and recorded at every step as
    flat references. The fits for up to 16 values of α run side by side as one batch. What is recorded is each learned policy's true value V(π_θ̂), exact
    over the problem's context set.

    Departures: the paper minimises its two-sided PAC-Bayes bound over Gaussian-perturbed
    linear policies (a KL term to a prior plus the smoothed risk); here the smoothed
    estimate is maximised directly with an L2 penalty (the KL between isotropic Gaussian
    posterior and prior of fixed variance, up to a constant) and a deterministic linear
    softmax policy.

    Metrics (per seed): `alpha`; `smoothed_value`, `clipped_value`, `ips_value` the true
    values of the learned policies; `smoothed_estimate` the smoothed estimate of the
    smoothed policy on its own training data (optimistic); `logging_value` V(π0).
    """

    id = "rl.smoothed_ips_learning"
    family = "rl"
    paper = "Exponential Smoothing for Off-Policy Learning"
    summary = "Learn a softmax policy from logged data with smoothed, clipped or plain IPS; true value per α."
    problems = (ClassificationBandit.id,)
    plot = "curves"
    metrics = (
        "alpha",
        "smoothed_value",
        "clipped_value",
        "ips_value",
        "smoothed_estimate",
        "logging_value",
    )
    params = ALPHA_PARAMS + (
        CLIP_THRESHOLD,
        Param("l2", "float", 1e-3, "λ of the L2 penalty on θ.", low=0.0, high=1e6),
        Param("iterations", "int", 200, "Adam steps per fitted policy.", low=1, high=100_000),
        Param("lr", "float", 0.1, "Adam learning rate.", low=0.0, low_open=True, high=100.0),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        check_alpha_range(params)

    def fit(
        self, features: torch.Tensor, actions: torch.Tensor, weighted_rewards: torch.Tensor
    ) -> torch.Tensor:
        """θ̂ [B, seeds, d + 1, K] maximising (1/n) Σ_i π_θ(a_i|x_i) ω_i r_i − (λ/2)‖θ‖², one
        fit per row b of weighted_rewards ω_i r_i [B, seeds, n] and per seed, all at once.

        features [seeds, n, d + 1], actions [seeds, n]. The objectives are summed: each
        (b, seed) has its own θ and gets its own gradient (Adam is elementwise).
        """
        batch = weighted_rewards.shape[0]
        theta = torch.zeros(
            batch,
            features.shape[0],
            features.shape[-1],
            self.problem.k,
            device=self.device,
            dtype=self.dtype,
            requires_grad=True,
        )
        index = actions.unsqueeze(0).expand(batch, -1, -1).unsqueeze(-1)
        optimiser = torch.optim.Adam([theta], lr=self.p["lr"])
        for _ in range(self.p["iterations"]):
            optimiser.zero_grad()
            probs = torch.softmax(features @ theta, -1).gather(-1, index).squeeze(-1)
            objective = (probs * weighted_rewards).mean(-1) - 0.5 * self.p["l2"] * theta.pow(2).sum(
                (-2, -1)
            )
            (-objective.sum()).backward()
            optimiser.step()
        return theta.detach()

    def policy(self, theta: torch.Tensor) -> torch.Tensor:
        """π_θ over the context set, [..., seeds, N, K]."""
        return torch.softmax(self.problem.features @ theta, -1)

    def run(self, steps, rec):
        prob, p = self.problem, self.p
        logged = prob.log()
        features = prob.features[logged["context"]]
        actions, reward, propensity = logged["action"], logged["reward"], logged["propensity"]
        fixed = self.policy(
            self.fit(
                features,
                actions,
                torch.stack(
                    [reward / propensity.clamp(min=p["clip_threshold"]), reward / propensity]
                ),
            )
        )
        clipped, plain = prob.value(fixed[0]), prob.value(fixed[1])
        logging_value = prob.value(prob.logging).expand(self.seeds)
        grid = alpha_grid(p["alpha_start"], p["alpha_end"], steps)
        recorded = [t for t in range(1, steps + 1) if rec.should_record(t)]
        seed_index = torch.arange(self.seeds, device=self.device).unsqueeze(-1)
        done = 0
        for first in range(0, len(recorded), FITS_AT_ONCE):
            chunk = recorded[first : first + FITS_AT_ONCE]
            alphas = torch.tensor(
                [grid[t - 1] for t in chunk], device=self.device, dtype=self.dtype
            )
            weighted = reward * propensity.pow(-alphas.view(-1, 1, 1))  # [B, S, n]
            learned = self.policy(self.fit(features, actions, weighted))  # [B, S, N, K]
            for b, t in enumerate(chunk):
                chosen = learned[b][seed_index, logged["context"], actions]
                rec.metrics(
                    t,
                    {
                        "alpha": torch.full(
                            (self.seeds,), grid[t - 1], device=self.device, dtype=self.dtype
                        ),
                        "smoothed_value": prob.value(learned[b]),
                        "clipped_value": clipped,
                        "ips_value": plain,
                        "smoothed_estimate": (chosen * weighted[b]).mean(-1),
                        "logging_value": logging_value,
                    },
                )
            for step in range(done + 1, chunk[-1] + 1):
                rec.progress(step)
            done = chunk[-1]
        for step in range(done + 1, steps + 1):
            rec.progress(step)
