from __future__ import annotations

import math

import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit
from engine.params import Param

NEWTON_STEPS = 8


def kl_upper_confidence(means: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """max{q in [p, 1] : kl(p, q) <= d} for every element p of `means` and d of `threshold`
    (Bernoulli kl), by Newton's method on [seeds, K] tensors at once.

    In y = -ln(1 - q) the constraint reads g(y) = (1 - p) y - p ln(1 - e^-y) + H(p) - d = 0
    with H(p) = p ln p + (1 - p) ln(1 - p); g is convex, and increasing right of y(p), so
    Newton's iterates started right of the root decrease monotonically to it. Two upper
    bounds on the root give the start: (d - H(p)) / (1 - p), from dropping the log term,
    and Pinsker's q <= p + sqrt(d / 2). The tests check the result against bisection
    to 1e-9 over p in [0, 1] and d in [1e-6, 20]. Computed in float64.
    """
    p = means.to(torch.float64).clamp(0.0, 1.0)
    d = threshold.to(torch.float64).clamp_min(0.0)
    complement = 1 - p
    offset = (torch.xlogy(p, p) + torch.xlogy(complement, complement)).sub_(d)
    from_linear = -offset / complement.clamp_min(1e-300)
    from_pinsker = (d / 2).sqrt_().add_(p).clamp_max_(1.0).neg_().log1p_().neg_()
    y = torch.minimum(from_linear, from_pinsker)
    for _ in range(NEWTON_STEPS):
        # g(y) = (1 - p) y - p ln(1 - e^-y) + H(p) - d;  g'(y) = (1 - p) - p / (e^y - 1).
        tail = torch.exp(-y)
        g = torch.log1p(tail.neg_()).mul_(p).neg_().addcmul_(complement, y).add_(offset)
        slope = torch.expm1(y).reciprocal_().mul_(p).neg_().add_(complement)
        y = y - g.div_(slope)
    q = -torch.expm1(-y)
    # p = 1 (nothing above it) and d = 0 (no room above p) are the ends of the interval.
    return torch.where((p >= 1) | (d <= 0), p, q.clamp(0.0, 1.0))


class KLUCB(IndexBandit):
    """KL-UCB (Garivier & Cappé, "The KL-UCB Algorithm for Bounded Stochastic Bandits and
    Beyond", COLT 2011), with the Bernoulli divergence, for rewards in [0, 1].

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    Play each arm once; then at round t, with n = t - 1 plays so far, n_i plays of arm i
    and empirical mean x_i, play

        argmax_i  max{ q in [x_i, 1] : n_i kl(x_i, q) <= ln n + c ln ln n }.

    The paper's theorems take c = 3; its experiments, and the default here, use c = 0.
    Ties go to the lowest arm index. The upper confidence is solved by Newton's method
    (see `kl_upper_confidence`) rather than the paper's unspecified root finder.

    Bounds drawn: the Lai–Robbins lower bound sum gap_i / kl(mu_i, mu*) ln n, which the
    paper's Theorem 2 shows KL-UCB attains asymptotically on Bernoulli arms; the paper's
    finite-time terms carry unspecified constants, so no finite-time upper bound is drawn.
    """

    id = "bandits.kl_ucb"
    paper = "The KL-UCB Algorithm for Bounded Stochastic Bandits and Beyond"
    summary = "Optimism with Kullback–Leibler confidence bounds: asymptotically optimal on Bernoulli arms."
    problems = UNIT_INTERVAL_PROBLEMS
    params = (
        Param(
            "c",
            "float",
            0.0,
            "Exploration constant c in ln n + c ln ln n (the theorems use 3, experiments 0).",
            low=0.0,
            high=100.0,
        ),
    )

    def select(self, t):
        first = self.initial_round_robin(t)
        if first is not None:
            return first
        n = t - 1
        budget = math.log(n) + (self.p["c"] * math.log(math.log(n)) if n > 1 else 0.0)
        index = kl_upper_confidence(self.sums / self.counts, budget / self.counts)
        return torch.argmax(index, dim=1)
