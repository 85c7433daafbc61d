from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit, sample_categorical
from engine.params import Param

NEWTON_TOLERANCE = 1e-13
NEWTON_MAX_ITERATIONS = 100


def tsallis_weights(
    losses: torch.Tensor, eta: torch.Tensor | float, start: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1/2-Tsallis FTRL weights over the last dimension of `losses` [..., K]:

        w_i = 4 (eta (L_i - x))^(-2),   x < min_i L_i  such that  sum_i w_i = 1,

    the minimiser of <w, L> - (4 / eta) sum_i sqrt(w_i) over the simplex (x is the
    Lagrange multiplier of sum w = 1). Returns (w, x). `eta` is a number or a tensor [...].

    x is found by Newton's method on f(x) = sum_i w_i(x) - 1, whose derivative is
    eta sum_i w_i^(3/2): x <- x - (sum w - 1) / (eta sum w^(3/2)) (Zimmert & Seldin,
    Algorithm 2). f is increasing and convex on x < min L, so Newton's iterates started
    where f >= 0 decrease monotonically to the root and never cross the pole at min L.
    x = min L - 2 / eta is such a start (there the leader's weight alone is 1); `start`
    (e.g. the previous round's x, the paper's warm start) is used where it too has f >= 0,
    being then nearer the root.
    """
    eta = torch.as_tensor(eta, dtype=torch.float64, device=losses.device).expand(losses.shape[:-1])
    eta = eta.unsqueeze(-1)
    # Measured from the leader, L_i - x is a sum of two non-negative terms: no cancellation,
    # so sum w is exact to rounding however large the losses grow.
    lowest = losses.to(torch.float64).amin(-1, keepdim=True)
    gaps = losses.to(torch.float64) - lowest
    x = -2.0 / eta
    if start is not None:
        warm = start.to(torch.float64).unsqueeze(-1) - lowest
        valid = warm < 0
        distance = torch.where(valid, gaps - warm, torch.ones_like(gaps))
        above = valid & ((4.0 / (eta * distance).square()).sum(-1, keepdim=True) >= 1.0)
        x = torch.where(above, warm, x)
    # With r_i = 2 / (eta (L_i - x)): w_i = r_i^2 and w_i^(3/2) = r_i^3.
    for _ in range(NEWTON_MAX_ITERATIONS):
        r = (gaps - x).reciprocal_().mul_(2.0 / eta)
        w = r.square()
        excess = w.sum(-1, keepdim=True).sub_(1.0)
        if float(excess.abs().max()) <= NEWTON_TOLERANCE:
            break
        x = x - excess / (eta * (w * r).sum(-1, keepdim=True))
    else:
        w = 4.0 / (eta * (gaps - x)).square()
    x = x + lowest
    return w, x.squeeze(-1)


def tsallis_inf_bound(k: int, steps: np.ndarray) -> np.ndarray:
    """Theorem 1 (importance-weighted estimates, eta_t = 2 / sqrt(t)): for every
    oblivious loss sequence in [0, 1] and every T, Reg_T <= 4 sqrt(K T) + 1."""
    return 4.0 * np.sqrt(k * np.asarray(steps, dtype=np.float64)) + 1.0


class TsallisINF(IndexBandit):
    """Tsallis-INF with the 1/2-Tsallis entropy (Zimmert & Seldin, "Tsallis-INF: An
    Optimal Algorithm for Stochastic and Adversarial Bandits", JMLR 2021): the bandit
    (one-state) case of "Best of Both Worlds Policy Optimization", which runs it in
    every state of an MDP (see engine/labs/online/tsallis_policy_optimisation.py).

    Losses are l = 1 - reward, in [0, 1]. With Lhat_i the cumulative loss estimates
    (Lhat = 0 at the start), each round t = 1, 2, ...:

        eta_t = 2 / sqrt(t)
        w_t   = argmin_{w in simplex} <w, Lhat> - (4 / eta_t) sum_i sqrt(w_i),
                i.e. w_t,i = 4 (eta_t (Lhat_i - x))^(-2) with x found by Newton's method
        draw I_t ~ w_t, observe l_{I_t}
        lhat_i = l_i 1{I_t = i} / w_t,i   (importance weighting)
        Lhat  += lhat.

    The regulariser differs from the paper's -sum_i (4 sqrt(w_i) - 2 w_i) / eta_t by a
    term constant on the simplex, so the weights are the same. The rate 2 / sqrt(t) and
    the plain importance-weighted estimator are the paper's Theorem 1 pair (its
    reduced-variance estimator, with eta_t = 4 / sqrt(t), is not implemented). Newton's
    method starts from the previous round's x when that lies on the safe side of the
    root, else from min Lhat - 2 / eta_t (see `tsallis_weights`); it stops at
    |sum w - 1| <= 1e-13. The weights are used as they come, not renormalised. The
    estimates, weights and x are float64 whatever the run's dtype: the importance
    weights 1 / w_i reach 1e8 and more.

    Bounds. Adversarial regime (Theorem 1): for any oblivious sequence and any T,
    Reg_T <= 4 sqrt(K T) + 1, drawn as the upper bound where the comparator is a fixed
    arm and rewards lie in [0, 1] (not on the switching bandit, whose regret is against
    each round's best arm). Stochastic regime (the paper's self-bounding analysis, for
    a unique best arm, also covering stochastically constrained adversaries):
    Reg_T = O(sum_{i != i*} log(T) / Delta_i), with the paper's explicit constants; it
    is stated here, not drawn. No horizon is needed: the rate is anytime.
    """

    id = "bandits.tsallis_inf"
    paper = "Best of Both Worlds Policy Optimization"
    summary = "1/2-Tsallis FTRL (Tsallis-INF): O(sqrt(KT)) on any sequence, O(sum log T / gap) on stochastic arms."
    problems = UNIT_INTERVAL_PROBLEMS
    params = (
        Param(
            "learning_rate",
            "float",
            2.0,
            "Constant c of the rate eta_t = c / sqrt(t); the paper's (Theorem 1) is 2, the only "
            "value for which the bound is drawn.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
    )

    def start(self, steps):
        super().start(steps)
        shape = (self.seeds, self.problem.k)
        self.cumulative_estimates = torch.zeros(shape, dtype=torch.float64, device=self.device)
        self.normaliser = None
        self.weights = torch.full(
            shape, 1.0 / self.problem.k, dtype=torch.float64, device=self.device
        )

    def rate(self, t: int) -> float:
        return self.p["learning_rate"] / math.sqrt(t)

    def select(self, t):
        self.weights, self.normaliser = tsallis_weights(
            self.cumulative_estimates, self.rate(t), self.normaliser
        )
        return sample_categorical(self.weights, self.gen)

    def update(self, arms, rewards):
        super().update(arms, rewards)
        played = arms.unsqueeze(1)
        loss = 1.0 - rewards.to(torch.float64).unsqueeze(1)
        self.cumulative_estimates.scatter_add_(1, played, loss / self.weights.gather(1, played))

    def upper_bound(self, steps):
        if self.p["learning_rate"] != 2.0 or not (
            self.problem.unit_interval_rewards and self.problem.fixed_comparator
        ):
            return None
        return tsallis_inf_bound(self.problem.k, steps)
