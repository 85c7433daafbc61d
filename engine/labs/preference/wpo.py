"""WPO: DPO with each pair weighted by its probability under the current policy."""

from __future__ import annotations

import torch

from engine.labs.preference.base import PreferenceOptimisation
from engine.labs.preference.dpo import dpo_losses


class WPO(PreferenceOptimisation):
    """Weighted Preference Optimization (Zhou, Agrawal, Zhang, Indurthi, Zhao, Song, Xu &
    Zhu, "WPO: Enhancing RLHF with Weighted Preference Optimization", 2024).

    Off-policy pairs (drawn from π_ref, not from the policy being trained) are reweighted
    to resemble on-policy data: each pair's DPO loss is multiplied by the probability of
    both responses under the current policy, with no gradient through the weight. With
    the "sampled" weight alignment, each response's weight is its probability divided by
    the probability a response sampled from the policy would have,

        w(y) = π_θ(y) / Σ_v π_θ(v)²,        so that E_{y∼π_θ}[w(y)] = 1,
        L(θ) = − E_(y_w, y_l) [ min(1, w(y_w) w(y_l)) · log σ(β h(y_w, y_l)) ]
        θ ← θ − lr · optimizer(∇θ L)

    (per token and length-normalised in the paper; here a response is one token). The
    weights reweight the pairs without moving the optimum of each: with noiseless
    Bradley–Terry labels and every pair covered, the KL-regularised optimum
    π_ref exp(r/β)/Z zeroes every pair's gradient, so it is still WPO's fixed point.

    Departures from the paper: the product of the weights is clamped at 1, as in the
    authors' code; one prompt, tabular or log-linear policy, Adam or SGD.
    """

    id = "preference.wpo"
    paper = "WPO: Enhancing RLHF with Weighted Preference Optimization"
    summary = "DPO with each pair weighted by its (aligned) probability under the current policy."

    def pair_losses(self, batch):
        weight = wpo_weights(batch.log_policy.detach(), batch.pairs.chosen, batch.pairs.rejected)
        return weight * dpo_losses(batch.chosen_logratio, batch.rejected_logratio, self.p["beta"])


def aligned_log_weights(log_policy: torch.Tensor) -> torch.Tensor:
    """log w(y) = log π(y) − log Σ_v π(v)² for every response [seeds, K]."""
    return log_policy - torch.logsumexp(2.0 * log_policy, dim=1, keepdim=True)


def wpo_weights(
    log_policy: torch.Tensor, chosen: torch.Tensor, rejected: torch.Tensor
) -> torch.Tensor:
    """min(1, w(y_w) w(y_l)) for every pair [seeds, n], from log π [seeds, K]."""
    log_weight = aligned_log_weights(log_policy)
    return torch.exp(log_weight.gather(1, chosen) + log_weight.gather(1, rejected)).clamp(max=1.0)
