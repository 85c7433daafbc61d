from __future__ import annotations

import numpy as np
import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit
from engine.params import Param

# From here on a CPU batch goes through `marsaglia_tsang` (vectorised) rather than torch's
# element-by-element sampler. Measured on a 2-core CPU: the vectorised one costs ~80 us a
# call plus ~15 ns a draw, torch's ~40-50 ns a draw; level at ~2000 draws, 2x at 2 x 10^4.
VECTORISED_GAMMA_FROM = 1 << 12
# Marsaglia & Tsang's squeeze constant, and a margin below it: the squeeze is computed in
# the draws' dtype, and the margin (far above float32 round-off) keeps it a lower bound
# of the acceptance ratio, so it never accepts what the exact test would reject.
SQUEEZE = 0.0331
SQUEEZE_MARGIN = 2.0**-20


def standard_gamma(shape: torch.Tensor, gen: torch.Generator, at_least_one: bool | None = None) -> torch.Tensor:
    """Gamma(shape, 1) draws, elementwise, from the generator `gen`.

    torch's sampler draws element by element; on a CPU, batches of VECTORISED_GAMMA_FROM
    elements or more with every shape >= 1 go through `marsaglia_tsang` instead, which is
    vectorised. Both are exact. `at_least_one` says the caller knows whether every shape
    is >= 1 (None: check).
    """
    if shape.device.type == "cpu" and shape.numel() >= VECTORISED_GAMMA_FROM:
        if at_least_one is None:
            at_least_one = bool((shape >= 1).all())
        if at_least_one:
            return marsaglia_tsang(shape, gen)
    return torch._standard_gamma(shape, generator=gen)


def marsaglia_tsang(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gamma(shape, 1) draws for shape >= 1 (Marsaglia & Tsang, "A Simple Method for
    Generating Gamma Variables", 2000), vectorised.

    With d = shape - 1/3 and c = 1 / sqrt(9 d): draw x ~ N(0, 1), u ~ U(0, 1), set
    v = (1 + c x)^3, and accept d v when v > 0 and ln u < x^2 / 2 + d - d v + d ln v;
    otherwise try again with a fresh pair. As in the paper, the squeeze
    u < 1 - 0.0331 x^4 accepts most candidates (about 92%) without the logarithms, and
    implies v > 0 for d >= 2/3. Every element is tried in one vectorised pass in the
    shapes' dtype; the full test runs on the others only (about 8%), in float64, since it
    subtracts terms of size d (in float32, at d ~ 10^5, its round-off would move the
    acceptance probability by ~1e-3). An element whose candidate is rejected gets a
    fresh draw from torch's own exact sampler, from the same generator: a rejection
    sampler restarts independently of what it rejected, so its value given a rejection
    is again Gamma(shape). The draws are exact, up to the round-off of d v in the
    shapes' dtype. CPU only (the compacted full test runs in numpy).
    """
    flat = shape.reshape(-1)
    n = flat.numel()
    x = torch.randn(n, generator=gen, device=shape.device, dtype=shape.dtype)
    u = torch.rand(n, generator=gen, device=shape.device, dtype=shape.dtype)
    d = flat - 1.0 / 3.0
    value = torch.mul(d, 9.0).rsqrt_().mul_(x).add_(1.0).pow_(3).mul_(d)
    x_squared = x * x
    squeezed_out = torch.addcmul(u, x_squared, x_squared, value=SQUEEZE).ge_(1.0 - SQUEEZE_MARGIN)
    # The few candidates left go through numpy (CPU only, as this sampler is): on a few
    # thousand numbers its kernels cost a third of torch's, whose call overhead dominates.
    pending = np.flatnonzero(squeezed_out.numpy())
    if pending.size:
        out = value.numpy()
        shapes = flat.numpy()[pending]
        accepted, out[pending] = _marsaglia_tsang_test(shapes, x.numpy()[pending], u.numpy()[pending])
        rejected = pending[~accepted]
        if rejected.size:
            # After a rejection the method starts afresh, independently of the rejected
            # candidate: any exact Gamma draw serves, and torch's, one call for the few
            # elements here (~0.2-5% of them), costs less than another vectorised round.
            out[rejected] = torch._standard_gamma(torch.from_numpy(shapes[~accepted]), generator=gen).numpy()
    return value.view(shape.shape)


def _marsaglia_tsang_test(shape: np.ndarray, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's full test for candidates (x, u), in float64: (accepted, d v)."""
    d = shape.astype(np.float64) - 1.0 / 3.0
    x = x.astype(np.float64)
    v = 1.0 + x / np.sqrt(9.0 * d)
    v = v * v * v
    # d - d v + d ln v = d (1 + ln v - v); ln of a non-positive v is NaN and fails the test.
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ratio = d * (1.0 + np.log(v) - v) + 0.5 * x * x
        return np.log(u.astype(np.float64)) < log_ratio, d * v


def sample_beta(alpha: torch.Tensor, beta: torch.Tensor, gen: torch.Generator, shapes_below_one: bool = True):
    """Beta(alpha, beta) = X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta).

    Where shapes may be below 1 (`shapes_below_one`), Gamma(a) = Gamma(a + 1) U^(1/a) and
    the ratio is formed from logarithms, since U^(1/a) and torch's small-shape draws can
    underflow to 0 for tiny a. Otherwise X and Y are drawn in one batch.
    """
    if not shapes_below_one:
        if alpha.dim() == 2 and alpha.t().is_contiguous() and beta.t().is_contiguous():
            # Shapes stored arm by arm: so are the draws (first_argmax is faster on them).
            x, y = standard_gamma(torch.stack((alpha.t(), beta.t())), gen, at_least_one=True)
            return (x / (x + y)).t()
        x, y = standard_gamma(torch.stack((alpha, beta)), gen, at_least_one=True)
        return x / (x + y)
    log_x = _log_gamma_draw(alpha, gen)
    log_y = _log_gamma_draw(beta, gen)
    return torch.sigmoid(log_x - log_y)


def _log_gamma_draw(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    small = shape < 1
    draw = torch.log(standard_gamma(torch.where(small, shape + 1, shape), gen, at_least_one=True))
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

    arm_major = True  # counts, sums and draws stored arm by arm: see first_argmax

    def select(self, t):
        alpha = self.sums + self.p["prior_a"]
        beta = (self.counts - self.sums).add_(self.p["prior_b"])
        # Counts only grow, so priors of at least 1 keep every shape at least 1.
        below_one = self.p["prior_a"] < 1 or self.p["prior_b"] < 1
        return self.first_best(sample_beta(alpha, beta, self.gen, below_one))
