from __future__ import annotations

import math

import torch

from engine.labs.bandits.base import IndexBandit, KeptArgmax, ucb1_bound
from engine.params import Param

# Below this sqrt(c ln n) the index is formed as written (c near 0: 1 / sqrt(c ln n) could overflow).
MIN_SCALE = 1e-6


class UCB1(IndexBandit):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, "Finite-time Analysis of the Multiarmed Bandit
    Problem", 2002).

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    Play each arm once; then at round t, with n = t - 1 plays so far, n_i plays of arm i
    and empirical mean x_i, play

        argmax_i  x_i + sqrt(c * ln n / n_i),   c = 2 in the paper.

    Ties go to the lowest arm index. The index is computed as 1 / sqrt(n_i) +
    x_i / sqrt(c ln n): the paper's divided by sqrt(c ln n) > 0, so the same argmax (up to
    float round-off in near-ties), for one kernel less. `c` is exposed as the exploration
    constant; the finite-time bound drawn as an overlay (Theorem 1) holds for c = 2 on
    stationary arms with rewards in [0, 1] only, so it is drawn only then.
    """

    id = "bandits.ucb1"
    paper = "Finite-time Analysis of the Multiarmed Bandit Problem"
    summary = "Optimism: play the arm with the highest upper confidence bound."
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

    arm_major = True  # counts and sums stored arm by arm: see first_argmax

    def start(self, steps):
        super().start(steps)
        self._index = torch.empty_like(self.counts)
        self._argmax = KeptArgmax(
            self._index, self._arms
        )  # made once: the loop reduces this buffer every round

    def select(self, t):
        if t <= self.problem.k:
            return self.initial_round_robin(t)
        scale = math.sqrt(self.p["c"] * math.log(t - 1))
        index = self._index if self.counts is self._own_counts else torch.empty_like(self.counts)
        torch.rsqrt(self.counts, out=index)
        if scale < MIN_SCALE:
            index.mul_(scale).addcdiv_(self.sums, self.counts)
        else:
            # argmax_i x_i + s / sqrt(n_i) = argmax_i 1 / sqrt(n_i) + x_i / s for s > 0:
            # two in-place kernels (the loop's hot spot) into a buffer kept for the run.
            index.addcdiv_(self.sums, self.counts, value=1.0 / scale)
        if index is self._index:
            return self._argmax()
        return self.first_best(index)

    def upper_bound(self, steps):
        if self.p["c"] == 2.0 and self.stationary_unit_interval():
            return ucb1_bound(self.problem.gaps, steps)
        return None
