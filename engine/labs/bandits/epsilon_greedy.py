from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.bandits.base import IndexBandit
from engine.params import Param

_BOUND_CHUNK = 1 << 20


def decaying_epsilon(t: int, c: float, d: float, k: int) -> float:
    """epsilon_t = min(1, c K / (d^2 t)), the schedule of Auer et al. (2002)."""
    return min(1.0, c * k / (d * d * t))


def epsilon_greedy_bound(gaps: np.ndarray, c: float, d: float, steps: np.ndarray) -> np.ndarray:
    """Expected regret bound of the decaying schedule, summed from Theorem 3 of Auer,
    Cesa-Bianchi & Fischer (2002): for n >= cK/d, with x = (n - 1) d^2 e^(1/2) / (cK),

        P(I_n = j) <= c / (d^2 n) + 2 (c / d^2) ln(x) x^(-c / (5 d^2)) + (4e / d^2) x^(-c / 2)

    for every suboptimal arm j, given 0 < d <= min gap. The regret of round n is at most
    min(max gap, sum_j gap_j min(1, P)); rounds before cK/d, and those where x < e (where the
    logarithmic term would not be positive), take the trivial max gap. Summed exactly, in
    chunks, up to the last checkpoint.
    """
    k = len(gaps)
    sub = gaps[gaps > 0]
    out = np.zeros(len(steps))
    if sub.size == 0:
        return out
    total_gap, max_gap = float(sub.sum()), float(sub.max())
    start = c * k / d
    last = int(np.max(steps))
    order = np.argsort(steps)
    running, done, i = 0.0, 0, 0
    while done < last:
        n = np.arange(done + 1, min(done + _BOUND_CHUNK, last) + 1, dtype=np.float64)
        x = (n - 1) * d * d * math.sqrt(math.e) / (c * k)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            prob = (
                c / (d * d * n)
                + 2 * (c / (d * d)) * np.log(x) * x ** (-c / (5 * d * d))
                + (4 * math.e / (d * d)) * x ** (-c / 2)
            )
            per_round = np.minimum(max_gap, total_gap * np.minimum(1.0, prob))
        per_round = np.where((n < start) | (x < math.e), max_gap, per_round)
        cumulative = running + np.cumsum(per_round)
        while i < len(order) and steps[order[i]] <= n[-1]:
            out[order[i]] = cumulative[int(steps[order[i]] - n[0])]
            i += 1
        running, done = float(cumulative[-1]), int(n[-1])
    return out


class EpsilonGreedy(IndexBandit):
    """ε-greedy, with a fixed ε or the decaying schedule ε_n-GREEDY of Auer, Cesa-Bianchi
    & Fischer, "Finite-time Analysis of the Multiarmed Bandit Problem" (2002).

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    Every round, for every seed: with probability ε_t play an arm drawn uniformly at
    random; otherwise play the arm with the highest empirical mean (ties to the lowest
    index). The schedule is either ε_t = epsilon (fixed) or

        ε_t = min(1, c K / (d^2 t)),   0 < d <= smallest gap  (the paper's ε_n-GREEDY).

    Departure: the paper leaves the empirical mean of an arm never played undefined;
    here it is +inf, so greedy rounds try every arm once before exploiting.

    Bound drawn: for the decaying schedule with c > 5, d at most the smallest gap, fixed
    means and rewards in [0, 1], the regret bound summed from the paper's Theorem 3 (see
    `epsilon_greedy_bound`). A fixed ε has linear regret and no bound is drawn.
    """

    id = "bandits.epsilon_greedy"
    paper = "Finite-time Analysis of the Multiarmed Bandit Problem"
    summary = (
        "Explore a random arm with probability ε (fixed or decaying as cK/(d²t)), else exploit."
    )
    params = (
        Param(
            "schedule",
            "choice",
            "decaying",
            "fixed: ε_t = epsilon; decaying: ε_t = min(1, cK/(d² t)).",
            choices=("fixed", "decaying"),
        ),
        Param(
            "epsilon",
            "float",
            0.1,
            "Exploration probability of the fixed schedule.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "c",
            "float",
            6.0,
            "Constant c of the decaying schedule (the paper's bound needs c > 5).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "d",
            "float",
            0.1,
            "Gap parameter d of the decaying schedule, at most the smallest gap.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )

    def exploration_rate(self, t: int) -> float:
        if self.p.get("schedule", "decaying") == "fixed":
            return self.p["epsilon"]
        return decaying_epsilon(t, self.p["c"], self.p["d"], self.problem.k)

    def select(self, t):
        rate = self.exploration_rate(t)
        means = torch.where(
            self.counts > 0, self.sums / self.counts, torch.full_like(self.sums, math.inf)
        )
        greedy = torch.argmax(means, dim=1)
        if rate <= 0:
            return greedy
        explore = torch.rand(self.seeds, generator=self.gen, device=self.device) < rate
        uniform = torch.randint(
            self.problem.k, (self.seeds,), generator=self.gen, device=self.device
        )
        return torch.where(explore, uniform, greedy)

    def upper_bound(self, steps):
        prob = self.problem
        if (
            self.p.get("schedule") != "decaying"
            or self.p["c"] <= 5
            or not self.stationary_unit_interval()
        ):
            return None
        gaps = prob.gaps.double().cpu().numpy()
        positive = gaps[gaps > 0]
        if positive.size and self.p["d"] > positive.min():
            return None
        return epsilon_greedy_bound(gaps, self.p["c"], self.p["d"], np.asarray(steps))
