"""The loop every stochastic bandit algorithm shares: select, pull, update, record regret."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.registry import Algorithm

REGRET_METRICS = ("cumulative_regret", "best_arm_fraction")


class IndexBandit(Algorithm):
    """Base for K-armed bandit learners; subclasses give `select` and may extend `update`.

    State is batched over seeds: counts and reward sums are [seeds, K] tensors and one
    call to `select` chooses an arm for every seed. Regret is pseudo-regret, the sum of
    the gaps of the arms played. Not registered itself (no id).
    """

    family = "bandits"
    problems = ("bandits.bernoulli",)
    plot = "regret"
    metrics = REGRET_METRICS

    def run(self, steps, rec):
        prob = self.problem
        s, k = self.seeds, prob.k
        self.counts = torch.zeros((s, k), dtype=torch.float64, device=self.device)
        self.sums = torch.zeros((s, k), dtype=torch.float64, device=self.device)
        self.rows = torch.arange(s, device=self.device)
        regret = torch.zeros(s, dtype=torch.float64, device=self.device)
        best = prob.gaps == 0
        best_pulls = torch.zeros(s, dtype=torch.float64, device=self.device)
        self.record_bounds(rec)
        for t in range(1, steps + 1):
            arms = self.select(t)
            rewards = prob.pull(arms)
            self.update(arms, rewards)
            regret += prob.gaps[arms]
            best_pulls += best[arms].to(torch.float64)
            if rec.should_record(t):
                rec.metrics(t, {"cumulative_regret": regret, "best_arm_fraction": best_pulls / t})
            rec.progress(t)

    def select(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def update(self, arms: torch.Tensor, rewards: torch.Tensor) -> None:
        self.counts[self.rows, arms] += 1.0
        self.sums[self.rows, arms] += rewards.to(torch.float64)

    def initial_round_robin(self, t: int) -> torch.Tensor | None:
        """Rounds 1..K play arm t-1 for every seed; afterwards None."""
        if t <= self.problem.k:
            return torch.full((self.seeds,), t - 1, dtype=torch.long, device=self.device)
        return None

    # -- theory overlays ------------------------------------------------------------
    def upper_bound(self, steps: np.ndarray) -> np.ndarray | None:
        """Expected-regret upper bound at each step, where a theorem gives one."""
        return None

    def record_bounds(self, rec) -> None:
        steps = rec.checkpoints
        upper = self.upper_bound(steps)
        if upper is not None:
            rec.bound("regret_upper_bound", steps, upper)
        c = self.problem.lai_robbins_constant()
        if c > 0:
            rec.bound("regret_lower_bound", steps, c * np.log(np.maximum(steps, 1)))


def ucb1_bound(gaps: torch.Tensor, steps: np.ndarray) -> np.ndarray:
    """Auer, Cesa-Bianchi & Fischer (2002), Theorem 1:
    E[R_n] <= sum_{i: gap>0} 8 ln n / gap_i + (1 + pi^2 / 3) sum_i gap_i."""
    g = gaps[gaps > 0].double().cpu().numpy()
    if g.size == 0:
        return np.zeros(len(steps))
    return 8.0 * np.log(np.maximum(steps, 1)) * np.sum(1.0 / g) + (1 + math.pi**2 / 3) * np.sum(g)
