"""Stochastic K-armed bandit problems, generated from a seed."""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """kl(p, q) between Bernoulli distributions, with 0 log 0 = 0."""
    eps = 1e-15
    p = p.clamp(0.0, 1.0)
    q = q.clamp(eps, 1 - eps)
    a = torch.where(p > 0, p * torch.log(p.clamp_min(eps) / q), torch.zeros_like(p))
    b = torch.where(p < 1, (1 - p) * torch.log((1 - p).clamp_min(eps) / (1 - q)), torch.zeros_like(p))
    return a + b


class BernoulliBandit(Problem):
    """K arms; arm i pays 1 with probability means[i], else 0.

    Each round draws one uniform per seed and arm, u[s, i], from the problem's own
    stream, and arm i pays 1 when u[s, i] < means[i]. Every arm's reward is drawn
    whether or not it is played, so two algorithms on the same seed face the same
    reward table (common random numbers).
    """

    id = "bandits.bernoulli"
    family = "bandits"
    title = "Stochastic Bernoulli K-armed bandit"
    summary = "K arms with fixed success probabilities."
    params = (
        Param("means", "floats", [0.1, 0.2, 0.5], "Success probability of each arm.",
              low=0.0, high=1.0, min_len=2, max_len=1000),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.means = torch.tensor(params["means"], dtype=torch.float64, device=device)
        self.k = len(params["means"])
        self.best_mean = self.means.max()
        self.gaps = self.best_mean - self.means
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def pull(self, arms: torch.Tensor) -> torch.Tensor:
        """Rewards [seeds] for the arms [seeds] played this round."""
        u = torch.rand((self.seeds, self.k), generator=self._gen, device=self.device, dtype=torch.float64)
        paid = u.gather(1, arms.unsqueeze(1)).squeeze(1) < self.means[arms]
        return paid.to(self.dtype)

    def lai_robbins_constant(self) -> float:
        """sum over suboptimal arms of gap / kl(mean, best mean): regret >= this * ln T asymptotically."""
        sub = self.gaps > 0
        if not bool(sub.any()):
            return 0.0
        kl = bernoulli_kl(self.means[sub], self.best_mean.expand(int(sub.sum())))
        return float((self.gaps[sub] / kl).sum())
