from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit, sample_categorical
from engine.params import Param


def tuned_gamma(horizon: int, k: int) -> float:
    """Corollary 3.2 of Auer et al. (2002) with g = T: gamma = min(1, sqrt(K ln K / ((e - 1) T)))."""
    return min(1.0, math.sqrt(k * math.log(k) / ((math.e - 1) * horizon)))


def exp3_bound(gamma: float, k: int, steps: np.ndarray) -> np.ndarray:
    """Theorem 3.1: G_max - E[G_Exp3] <= (e - 1) gamma G_max + K ln K / gamma, with
    G_max <= t for rewards in [0, 1]. At t = T and the tuned gamma it is
    2 sqrt(e - 1) sqrt(T K ln K) (Corollary 3.2)."""
    return (math.e - 1) * gamma * np.asarray(steps, dtype=np.float64) + k * math.log(k) / gamma


class Exp3(IndexBandit):
    """Exp3 (Auer, Cesa-Bianchi, Freund & Schapire, "The Nonstochastic Multiarmed Bandit
    Problem", SIAM J. Computing 2002), for rewards in [0, 1] chosen by an adversary.

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    Weights w_i(1) = 1. Each round:

        p_i(t) = (1 - gamma) w_i(t) / sum_j w_j(t) + gamma / K
        draw I_t ~ p(t), observe x_{I_t}(t)
        xhat_{I_t} = x_{I_t}(t) / p_{I_t}(t)  (0 for the other arms)
        w_i(t + 1) = w_i(t) exp(gamma xhat_i / K).

    Weights are kept as logarithms (the ratio, not the scale, matters). gamma = 0 asks for
    the tuned rate of Corollary 3.2 for the run's horizon T (rewards in [0, 1] make T an
    upper bound g on G_max). Arms are drawn from the algorithm stream of the run's seed.

    Bound drawn: Theorem 3.1's (e - 1) gamma t + K ln K / gamma, which holds in expectation
    at every t against the best fixed arm in hindsight, and so bounds the regret recorded
    here wherever the comparator is a fixed arm (not on the switching bandit, whose regret
    is against the best arm of each round).
    """

    id = "bandits.exp3"
    paper = "The Nonstochastic Multiarmed Bandit Problem"
    summary = "Exponential weights on importance-weighted rewards: regret O(sqrt(T K ln K)) on any sequence."
    problems = UNIT_INTERVAL_PROBLEMS
    params = (
        Param(
            "gamma",
            "float",
            0.0,
            "Exploration rate gamma in (0, 1]; 0 = tuned for the horizon (Corollary 3.2).",
            low=0.0,
            high=1.0,
        ),
    )

    def start(self, steps):
        super().start(steps)
        self.log_weights = torch.zeros(
            (self.seeds, self.problem.k), dtype=torch.float64, device=self.device
        )
        self.rate = self.p["gamma"] or tuned_gamma(steps, self.problem.k)
        self.probs = self.probabilities()

    def probabilities(self) -> torch.Tensor:
        k = self.problem.k
        return torch.softmax(self.log_weights, dim=1).mul_(1 - self.rate).add_(self.rate / k)

    def select(self, t):
        self.probs = self.probabilities()
        return sample_categorical(self.probs, self.gen)

    def update(self, arms, rewards):
        super().update(arms, rewards)
        played = arms.unsqueeze(1)
        estimate = rewards.to(torch.float64).unsqueeze(1) / self.probs.gather(1, played)
        self.log_weights.scatter_add_(1, played, estimate.mul_(self.rate / self.problem.k))

    def upper_bound(self, steps):
        if not (self.problem.unit_interval_rewards and self.problem.fixed_comparator):
            return None
        return exp3_bound(self.rate, self.problem.k, steps)
