from __future__ import annotations

import math

import torch

from engine.labs.bandits.base import IndexBandit, ucb1_bound
from engine.params import Param


class UCB1(IndexBandit):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, "Finite-time Analysis of the Multiarmed Bandit
    Problem", 2002).

    Play each arm once; then at round t, with n = t - 1 plays so far, n_i plays of arm i
    and empirical mean x_i, play

        argmax_i  x_i + sqrt(c * ln n / n_i),   c = 2 in the paper.

    Ties go to the lowest arm index. `c` is exposed as the exploration constant; the
    finite-time bound drawn as an overlay (Theorem 1) holds for c = 2 on stationary arms
    with rewards in [0, 1] only, so it is drawn only then.
    """

    id = "bandits.ucb1"
    paper = "Finite-time Analysis of the Multiarmed Bandit Problem"
    summary = "Optimism: play the arm with the highest upper confidence bound."
    params = (
        Param("c", "float", 2.0, "Exploration constant c in sqrt(c ln n / n_i); the paper's is 2.",
              low=0.0, high=100.0),
    )

    def select(self, t):
        first = self.initial_round_robin(t)
        if first is not None:
            return first
        # x_i + sqrt(c ln n) / sqrt(n_i) in three kernels: the loop's hot spot.
        bonus = self.counts.rsqrt().mul_(math.sqrt(self.p["c"] * math.log(t - 1)))
        return torch.argmax(torch.addcdiv(bonus, self.sums, self.counts), dim=1)

    def upper_bound(self, steps):
        if self.p["c"] == 2.0 and self.stationary_unit_interval():
            return ucb1_bound(self.problem.gaps, steps)
        return None
