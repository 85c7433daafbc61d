from __future__ import annotations

import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit
from engine.params import Param

VECTORISED_GAMMA_FROM = 1 << 16


def standard_gamma(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gamma(shape, 1) draws, elementwise, from the generator `gen`.

    torch's sampler draws element by element; on a CPU, large batches with shape >= 1 go
    through `marsaglia_tsang` instead, which is vectorised and about twice as fast there
    from some 10^5 elements on. Both are exact.
    """
    if shape.device.type == "cpu" and shape.numel() >= VECTORISED_GAMMA_FROM and bool((shape >= 1).all()):
        return marsaglia_tsang(shape, gen)
    return torch._standard_gamma(shape, generator=gen)


def marsaglia_tsang(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gamma(shape, 1) draws for shape >= 1 (Marsaglia & Tsang, "A Simple Method for
    Generating Gamma Variables", 2000), vectorised.

    With d = shape - 1/3 and c = 1 / sqrt(9 d): draw x ~ N(0, 1), u ~ U(0, 1), set
    v = (1 + c x)^3, and accept d v when v > 0 and ln u < x^2 / 2 + d - d v + d ln v;
    otherwise try again. Every element is tried in one vectorised pass; the few rejected
    ones (under 5% at shape 1, under 1% from shape 10) are retried, as a small batch,
    until all are accepted, so the draws are exact.
    """
    d = shape - 1.0 / 3.0
    value, accept = _marsaglia_tsang_try(d, gen)
    rejected = torch.nonzero(~accept.view(-1)).squeeze(1)
    while rejected.numel():
        retry, ok = _marsaglia_tsang_try(d.reshape(-1)[rejected], gen)
        value.view(-1).index_put_((rejected[ok],), retry[ok])
        rejected = rejected[~ok]
    return value


def _marsaglia_tsang_try(d: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One candidate d v per element, and whether it is accepted."""
    x = torch.randn(d.shape, generator=gen, device=d.device, dtype=d.dtype)
    u = torch.rand(d.shape, generator=gen, device=d.device, dtype=d.dtype)
    v = (d * 9.0).rsqrt_().mul_(x).add_(1.0).pow_(3)
    # d - d v + d ln v = d (1 + ln v - v); ln of a non-positive v is NaN and fails the test.
    log_ratio = torch.log(v).sub_(v).add_(1.0).mul_(d).addcmul_(x, x, value=0.5)
    accept = (torch.log_(u) < log_ratio).logical_and_(v > 0)
    return v.mul_(d), accept


def sample_beta(alpha: torch.Tensor, beta: torch.Tensor, gen: torch.Generator, shapes_below_one: bool = True):
    """Beta(alpha, beta) = X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta).

    Where shapes may be below 1 (`shapes_below_one`), Gamma(a) = Gamma(a + 1) U^(1/a) and
    the ratio is formed from logarithms, since U^(1/a) and torch's small-shape draws can
    underflow to 0 for tiny a.
    """
    if not shapes_below_one:
        x = standard_gamma(alpha, gen)
        y = standard_gamma(beta, gen)
        return x / (x + y)
    log_x = _log_gamma_draw(alpha, gen)
    log_y = _log_gamma_draw(beta, gen)
    return torch.sigmoid(log_x - log_y)


def _log_gamma_draw(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    small = shape < 1
    draw = torch.log(standard_gamma(torch.where(small, shape + 1, shape), gen))
    u = torch.rand(shape.shape, generator=gen, device=shape.device, dtype=shape.dtype)
    return torch.where(small, draw + torch.log(u) / shape, draw)


class BetaThompsonSampling(IndexBandit):
    """Thompson sampling with Beta priors for Bernoulli rewards (Agrawal & Goyal,
    "Analysis of Thompson Sampling for the Multi-armed Bandit Problem", 2012).

    Each arm i keeps S_i successes and F_i failures. Every round, for every seed:

        theta_i ~ Beta(S_i + a, F_i + b)  independently,   play argmax_i theta_i,

    then S or F of the played arm grows by one. The paper's prior is a = b = 1. The
    problems it runs on pay 0 or 1, so the paper's Bernoulli trial on a [0, 1] reward is
    the reward itself. Posterior draws come from the algorithm stream of the run's seed;
    the rewards from the problem's own stream.

    No explicit finite-time upper bound is drawn: the paper's bounds carry unspecified
    constants. The Lai–Robbins lower bound, which Thompson sampling attains
    asymptotically (Kaufmann, Korda & Munos 2012), is drawn instead.
    """

    id = "bandits.thompson_beta"
    paper = "Analysis of Thompson Sampling for the Multi-armed Bandit Problem"
    summary = "Sample a mean for each arm from its Beta posterior; play the best sample."
    problems = UNIT_INTERVAL_PROBLEMS
    params = (
        Param("prior_a", "float", 1.0, "Beta prior successes a (1 = uniform prior).", low=0.0, low_open=True, high=1e6),
        Param("prior_b", "float", 1.0, "Beta prior failures b (1 = uniform prior).", low=0.0, low_open=True, high=1e6),
    )

    def select(self, t):
        alpha = self.sums + self.p["prior_a"]
        beta = (self.counts - self.sums).add_(self.p["prior_b"])
        # Counts only grow, so priors of at least 1 keep every shape at least 1.
        below_one = self.p["prior_a"] < 1 or self.p["prior_b"] < 1
        return torch.argmax(sample_beta(alpha, beta, self.gen, below_one), dim=1)
