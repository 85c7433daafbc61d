from __future__ import annotations

import numpy as np
import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit
from engine.params import Param

# From here on a CPU batch goes through `marsaglia_tsang` (vectorised) rather than torch's
# element-by-element sampler. Measured on a 2-core CPU: the vectorised one costs ~60 us a
# call plus ~10-20 ns a draw, torch's ~40-100 ns a draw; level at 2000-4000 draws, 3x
# faster at 2 x 10^4.
VECTORISED_GAMMA_FROM = 1 << 12
# Marsaglia & Tsang's method needs, per candidate, a normal x and a uniform u. Here u is
# drawn lazily: first its leading 7 bits, a "cell" (u lies in [cell, cell + 1) / 128),
# four cells from each draw of the generator (the low 7 bits of each of its bytes); the
# rest of u only for the few candidates the cell cannot settle (see marsaglia_tsang).
CELLS = 128
CELLS_PER_DRAW = 4
_CELL_BITS = 0x7F7F7F7F
# The squeeze is computed in the draws' dtype; this margin (in units of u, far above the
# float32 round-off of the squeeze, ~1e-6 of it) keeps it below the exact acceptance
# bound, so that it never accepts a candidate the exact test would reject.
SQUEEZE_MARGIN = 2.0**-16


def _constant(value: float, dtype: torch.dtype) -> torch.Tensor:
    """value as a 0-dim CPU tensor of dtype, made once: an elementwise op with a Python
    number first wraps and converts it, which costs more (~2 us) than the op itself on a
    few thousand numbers."""
    key = (value, dtype)
    tensor = _CONSTANTS.get(key)
    if tensor is None:
        tensor = _CONSTANTS[key] = torch.tensor(value, dtype=dtype)
    return tensor


_CONSTANTS: dict[tuple[float, torch.dtype], torch.Tensor] = {}


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
    otherwise try again with a fresh pair.

    Departures from the paper, none of which changes the law of the draws:

    - The squeeze. The paper's, u < 1 - 0.0331 x^4, holds for every d; this one is
      tighter where d is large, as it is for the posteriors of arms played often. With
      y = c x the exact bound is x^2/2 + d - d v + d ln v = g(y) / (3 c^2), where
      g(y) = ln(1 + y) - y + y^2/2 - y^3/3 >= -y^4 / (4 min(1 + y, 1)) for y > -1 (for
      y >= 0 the alternating series; for -1 < y < 0 its terms are all negative and sum to
      at least -y^4 / (4 (1 + y))). Since ln u <= u - 1, the candidate is accepted
      whenever u < 1 - x^4 / (108 d min(1 + c x, 1)), less SQUEEZE_MARGIN for round-off.
      Left by it to the full test: about 1 / (36 d) of the candidates (0.3% at d = 10, 7%
      at d = 2/3, where the paper's squeeze leaves 8%).
    - u is drawn lazily: its first 7 bits, from one byte of a generator draw, settle the
      squeeze for all but ~0.8% of candidates (those whose cell straddles the bound), so
      one draw serves four candidates. The candidates left, and those the squeeze
      rejects, get the rest of u, uniform within their cell, and the paper's full test,
      compacted, in float64 and numpy (in float32 its round-off at d ~ 10^5 would bias
      acceptance; numpy's per-call cost on a few hundred numbers is a third of torch's).
    - An element whose candidate is rejected gets a fresh draw from torch's own exact
      sampler, from the same generator: a rejection sampler restarts independently of
      what it rejected, so its value given a rejection is again Gamma(shape).

    The draws are exact, up to the round-off of d v in the shapes' dtype. CPU only (the
    compacted test runs in numpy).
    """
    flat = shape.reshape(-1)
    n = flat.numel()
    x_drawn = torch.randn(n, generator=gen, dtype=shape.dtype)
    # draws in [0, 2^31): every byte has at least 7 random bits
    cells_drawn = torch.empty(-(-n // CELLS_PER_DRAW), dtype=torch.int32).random_(generator=gen)
    # The arithmetic runs in numpy on the draws' memory: on arrays of this size torch's
    # per-call overhead is 2-5x numpy's, and a round of Thompson sampling makes ~20 calls.
    x, shapes = x_drawn.numpy(), flat.numpy()
    cells = np.bitwise_and(cells_drawn.numpy(), _CELL_BITS).view(np.uint8)[:n]
    d = shapes - 1.0 / 3.0
    y = np.multiply(d, 9.0)
    np.sqrt(y, out=y)
    np.divide(x, y, out=y)  # c x
    root = np.add(y, 1.0)  # v^(1/3) = 1 + c x
    pending = _squeeze_pending(x, d, root, cells)
    value = y
    np.multiply(root, root, out=value)
    np.multiply(value, root, out=value)
    np.multiply(value, d, out=value)  # d v
    if pending.size:
        shapes = shapes[pending]
        rest = torch.rand(pending.size, generator=gen, dtype=torch.float64).numpy()
        accepted, value[pending] = _marsaglia_tsang_test(shapes, x[pending], (cells[pending] + rest) / CELLS)
        rejected = pending[~accepted]
        if rejected.size:
            # After a rejection the method starts afresh, independently of the rejected
            # candidate: any exact Gamma draw serves, and torch's, one call for the few
            # elements here, costs less than another vectorised round.
            value[rejected] = torch._standard_gamma(torch.from_numpy(shapes[~accepted]), generator=gen).numpy()
    return torch.from_numpy(value).view(shape.shape)


def _squeeze_pending(x: np.ndarray, d: np.ndarray, root: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The candidates the squeeze does not accept whatever the rest of their u: x, d and
    root = 1 + c x are [n], cells [n] (below 128); returns their indices.

    Accepted outright when u < (cell + 1) / 128 <= 1 - margin - x^4 / (108 d min(1 + c x, 1)),
    tested multiplied out, x^4 <= (1 - margin - (cell + 1) / 128) 108 d min(1 + c x, 1):
    no division, and where v <= 0 the right side is 0 (min(1 + c x, 1) clipped at 0),
    which x^4 > 0 never meets (x = 0 gives v = 1)."""
    room = np.multiply(cells, -108.0 / CELLS, dtype=x.dtype)
    np.add(room, 108.0 * (1.0 - SQUEEZE_MARGIN - 1.0 / CELLS), out=room)
    scaled = np.clip(root, 0.0, 1.0)
    np.multiply(scaled, d, out=scaled)
    np.multiply(room, scaled, out=room)
    x4 = np.multiply(x, x)
    np.multiply(x4, x4, out=x4)
    return np.flatnonzero(~(x4 <= room))


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


def sample_beta(alpha: torch.Tensor, beta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Beta(alpha, beta) = X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta), for shapes
    that may be below 1: Gamma(a) = Gamma(a + 1) U^(1/a), and the ratio formed from
    logarithms, since U^(1/a) and torch's small-shape draws can underflow to 0 for tiny a.
    (Shapes of at least 1 take `posterior_draws`' one batch of Gamma draws.)
    """
    log_x = _log_gamma_draw(alpha, gen)
    log_y = _log_gamma_draw(beta, gen)
    return torch.sigmoid(log_x - log_y)


def posterior_draws(counts: torch.Tensor, sums: torch.Tensor, prior_a: float, prior_b: float,
                    gen: torch.Generator) -> torch.Tensor:
    """theta ~ Beta(sums + prior_a, counts - sums + prior_b) for every seed and arm, from
    counts and 0/1-reward sums [seeds, K]; the draws are laid out like counts.

    The two shapes are written straight into one [2, ...] tensor, arm by arm where counts
    and sums are stored so (`IndexBandit.arm_major`), for one batch of Gamma draws.
    """
    if prior_a < 1 or prior_b < 1:
        return sample_beta(sums + prior_a, (counts - sums).add_(prior_b), gen)
    arm_major = counts.t().is_contiguous() and sums.t().is_contiguous()
    c, s = (counts.t(), sums.t()) if arm_major else (counts, sums)
    shapes = torch.empty((2,) + tuple(c.shape), dtype=c.dtype, device=c.device)
    torch.add(s, _constant(prior_a, c.dtype), out=shapes[0])
    torch.sub(c, s, out=shapes[1]).add_(_constant(prior_b, c.dtype))
    x, y = standard_gamma(shapes, gen, at_least_one=True)
    theta = x.div_(x + y)  # Beta(a, b) = X / (X + Y)
    return theta.t() if arm_major else theta


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
        # Counts only grow, so priors of at least 1 keep every shape at least 1.
        theta = posterior_draws(self.counts, self.sums, self.p["prior_a"], self.p["prior_b"], self.gen)
        return self.first_best(theta)
