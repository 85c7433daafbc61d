"""The LP benchmark of bandits with knapsacks, solved exactly by enumerating vertices."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Basic solutions are accepted up to this slack: the inputs are probabilities and rates
# of order one, so rounding in a small solve stays far below it.
FEASIBILITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class LPSolution:
    value: float
    mixture: (
        np.ndarray
    )  # xi [K], the share of rounds each arm is played; the rest is the void action


def knapsack_lp(rewards, consumption, budget_rate) -> LPSolution:
    """max_xi  r . xi   subject to  C^T xi <= rho,  sum_k xi_k <= 1,  xi >= 0.

    rewards r [K], consumption C [K, d] (negative entries replenish), budget_rate rho [d]
    (> 0, so xi = 0, always playing the void action, is feasible). The feasible set is a
    bounded polytope, so the optimum is attained at a vertex; a vertex is a basic
    solution: s of the d + 1 rows hold with equality on a support of s arms, the other
    arms are 0. Every such square system is solved and the best feasible one kept:
    sum_s C(d+1, s) C(K, s) solves, a few hundred for the sizes a problem allows.
    """
    r = np.asarray(rewards, dtype=float)
    c = np.asarray(consumption, dtype=float).reshape(len(r), -1)
    rho = np.asarray(budget_rate, dtype=float)
    k, d = c.shape
    a = np.vstack([c.T, np.ones((1, k))])  # [d + 1, K]
    b = np.concatenate([rho, [1.0]])
    best_value, best_mix = 0.0, np.zeros(k)
    for size in range(1, min(d + 1, k) + 1):
        for rows in itertools.combinations(range(d + 1), size):
            for support in itertools.combinations(range(k), size):
                square = a[np.ix_(rows, support)]
                if abs(np.linalg.det(square)) < 1e-12:
                    continue
                xi = np.zeros(k)
                xi[list(support)] = np.linalg.solve(square, b[list(rows)])
                if xi.min() < -FEASIBILITY_TOLERANCE or np.max(a @ xi - b) > FEASIBILITY_TOLERANCE:
                    continue
                value = float(r @ xi)
                if value > best_value + 1e-15:
                    best_value, best_mix = value, np.clip(xi, 0.0, None)
    return LPSolution(best_value, best_mix)
