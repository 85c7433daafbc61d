from __future__ import annotations

import math

import torch

from engine.labs.online.tallying_elimination import TallyingLearner
from engine.params import Param


class TallyingUCB1(TallyingLearner):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002) run on a weighted tallying bandit as if it
    were a stochastic bandit: the natural baseline that ignores the tallies.

    Rewards are 1 - loss. Play each arm once; then at round t, with n_i plays of arm i
    and mean reward x_i, play argmax_i x_i + sqrt(c ln(t - 1) / n_i) (c = 2 in the paper).

    It averages each arm's losses over whatever tallies its own switching produced, so an
    arm that only pays off after repeated exposure looks bad while it is interleaved with
    others, and its complete policy regret grows linearly where successive elimination's
    stays sublinear.
    """

    id = "bandits.tallying_ucb1"
    paper = "Finite-time Analysis of the Multiarmed Bandit Problem"
    summary = "Baseline: UCB1 on the observed losses, blind to the tallies."
    params = (
        Param(
            "c",
            "float",
            2.0,
            "Exploration constant c in sqrt(c ln n / n_i); the paper's is 2.",
            low=0.0,
            high=100.0,
        ),
    )

    def start(self, steps, rec):
        k = self.problem.k
        self.counts = torch.zeros((self.seeds, k), dtype=torch.float64, device=self.device)
        self.reward_sums = torch.zeros((self.seeds, k), dtype=torch.float64, device=self.device)
        self._one = torch.ones((self.seeds, 1), dtype=torch.float64, device=self.device)

    def select(self, t):
        k = self.problem.k
        if t <= k:
            return torch.full((self.seeds,), t - 1, dtype=torch.long, device=self.device)
        index = self.reward_sums / self.counts + torch.sqrt(
            self.p["c"] * math.log(t - 1) / self.counts
        )
        return torch.argmax(index, dim=1)

    def update(self, t, arms, losses):
        column = arms.unsqueeze(1)
        self.counts.scatter_add_(1, column, self._one)
        self.reward_sums.scatter_add_(1, column, 1.0 - losses.unsqueeze(1))
