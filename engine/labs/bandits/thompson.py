from __future__ import annotations

import numpy as np
import torch

from engine.labs.bandits.base import UNIT_INTERVAL_PROBLEMS, IndexBandit, KeptArgmax
from engine.params import Param

# From here on a CPU batch goes through `GammaBatch` (vectorised) rather than torch's
# element-by-element sampler. Measured on a 2-core CPU at shape 50: the vectorised one
# costs ~40 us a call in kept buffers (~60 in fresh ones) plus ~6 ns a draw, torch's
# ~40 ns a draw; level at 1000-2000 draws, 5x faster at 2 x 10^4.
VECTORISED_GAMMA_FROM = 1 << 11
# Marsaglia & Tsang's method needs, per candidate, a normal z and a uniform u. Here u is
# drawn lazily: first one byte r of it, which puts u in a "cell" of width 1/256,
# u = 1 - (r + w) / 256 with w uniform on [0, 1) (one generator draw of 64 bits gives the
# bytes of eight candidates); w only for the few candidates the cell cannot settle (see
# GammaBatch).
CELLS = 256
CELLS_PER_DRAW = 8
# The squeeze is computed in the draws' dtype, as a product of a few factors each
# rounded a few times (relative error below 2^-20 in float32); this relative slack keeps
# it below the exact acceptance bound, so that it never accepts a candidate the exact
# test would reject.
SQUEEZE_SLACK = 2.0**-16
# The normals are drawn as x = SIGMA z, z ~ N(0, 1), so that the squeeze compares x^4 with
# r d min(1 + c z, 1) and no constant factor costs a pass over the draws:
# SIGMA^4 = CELLS / (108 (1 - SQUEEZE_SLACK)) (see `_squeeze_pending`).
SIGMA = (CELLS / (108.0 * (1.0 - SQUEEZE_SLACK))) ** 0.25


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


def standard_gamma(
    shape: torch.Tensor, gen: torch.Generator, at_least_one: bool | None = None
) -> torch.Tensor:
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
    Generating Gamma Variables", 2000), vectorised; see `GammaBatch`, which this makes
    for one call. CPU only."""
    flat = shape.reshape(-1)
    batch = GammaBatch(flat.numel(), shape.dtype)
    return torch.from_numpy(batch.sample(flat.numpy(), gen)).view(shape.shape)


class GammaBatch:
    """Gamma(shape, 1) draws for n shapes >= 1 at a time on a CPU, by Marsaglia & Tsang's
    method ("A Simple Method for Generating Gamma Variables", 2000), vectorised, in
    buffers kept from one call to the next: a learner that draws every round makes one,
    and its round then allocates nothing.

    With d = shape - 1/3 and c = 1 / sqrt(9 d): draw x ~ N(0, 1), u ~ U(0, 1), set
    v = (1 + c x)^3, and accept d v when v > 0 and ln u < x^2 / 2 + d - d v + d ln v;
    otherwise try again with a fresh pair. (In the code that normal is z, and the draws
    are x = SIGMA z: see SIGMA.)

    Departures from the paper, none of which changes the law of the draws:

    - The squeeze. The paper's, u < 1 - 0.0331 x^4, holds for every d; this one is
      tighter where d is large, as it is for the posteriors of arms played often. With
      y = c x the exact bound is x^2/2 + d - d v + d ln v = g(y) / (3 c^2), where
      g(y) = ln(1 + y) - y + y^2/2 - y^3/3 >= -y^4 / (4 min(1 + y, 1)) for y > -1 (for
      y >= 0 the alternating series; for -1 < y < 0 its terms are all negative and sum to
      at least -y^4 / (4 (1 + y))). Since ln u <= u - 1, the candidate is accepted
      whenever u < 1 - x^4 / (108 d min(1 + c x, 1)) (with SQUEEZE_SLACK for round-off).
      Left by it to the full test: about 1 / (36 d) of the candidates (0.3% at d = 10, 7%
      at d = 2/3, where the paper's squeeze leaves 8%).
    - u is drawn lazily: one byte r of it first (u = 1 - (r + w) / 256), which settles
      the squeeze for all but ~0.4% of candidates (those whose cell straddles the bound),
      so one 64-bit generator draw serves eight candidates. The candidates left, and
      those the squeeze rejects, get w, uniform on [0, 1), and the paper's full test,
      compacted, in float64 and numpy (in float32 its round-off at d ~ 10^5 would bias
      acceptance; numpy's per-call cost on a few hundred numbers is a third of torch's).
      u is then uniform on (0, 1], which differs from [0, 1) by a null set.
    - An element whose candidate is rejected gets a fresh draw from torch's own exact
      sampler, from the same generator: a rejection sampler restarts independently of
      what it rejected, so its value given a rejection is again Gamma(shape).

    The draws are exact, up to the round-off of d v in the shapes' dtype. The arithmetic
    runs in numpy on the buffers' memory: on arrays of this size a numpy call costs less
    than a torch one, and a round of Thompson sampling makes ~45 of them.
    """

    def __init__(self, n: int, dtype: torch.dtype):
        self.normals = torch.empty(n, dtype=dtype)
        self.draws = torch.empty(-(-n // CELLS_PER_DRAW), dtype=torch.int64)
        self._x = self.normals.numpy()
        self._cells = self.draws.numpy().view(np.uint8)[:n]
        self._d, self._root, self._room, self._x4 = (np.empty_like(self._x) for _ in range(4))
        self._ones = np.ones_like(self._x)
        self._pending = np.empty(n, dtype=bool)
        self.value = np.empty_like(self._x)

    def sample(self, shapes: np.ndarray, gen: torch.Generator) -> np.ndarray:
        """Draws for shapes [n] (numpy, in the buffers' dtype, every one >= 1) into
        `self.value`, which the next call overwrites."""
        x, d, root, value = self._x, self._d, self._root, self.value
        self.normals.normal_(0.0, SIGMA, generator=gen)  # x = SIGMA z
        self.draws.random_(-(1 << 63), None, generator=gen)  # the whole int64 range: 8 random bytes
        np.subtract(shapes, 1.0 / 3.0, out=d)
        np.multiply(d, 9.0 * SIGMA * SIGMA, out=root)
        np.sqrt(root, out=root)
        np.divide(x, root, out=root)  # c z = x / sqrt(9 SIGMA^2 d)
        np.add(root, 1.0, out=root)  # v^(1/3) = 1 + c z
        pending = _squeeze_pending(
            x, d, root, self._cells, self._ones, self._room, self._x4, self._pending
        )
        np.multiply(root, root, out=value)
        np.multiply(value, root, out=value)
        np.multiply(value, d, out=value)  # d v
        if pending.size:
            self._full_test(pending, shapes, gen)
        return value

    def _full_test(self, pending: np.ndarray, shapes: np.ndarray, gen: torch.Generator) -> None:
        """The candidates at `pending`: the rest of their u, the paper's test, and for the
        rejected a fresh draw from torch's exact sampler (one call for the few here
        costs less than another vectorised round)."""
        shapes = shapes[pending]
        u = torch.rand(pending.size, generator=gen, dtype=torch.float64).numpy()  # w
        u += self._cells[pending]
        u *= -1.0 / CELLS
        u += 1.0  # u = 1 - (r + w) / 256
        rejected = _marsaglia_tsang_rejects(shapes, self._x[pending], u)
        if rejected.any():
            fresh = torch._standard_gamma(torch.from_numpy(shapes[rejected]), generator=gen)
            self.value[pending[rejected]] = fresh.numpy()


def _squeeze_pending(
    x: np.ndarray,
    d: np.ndarray,
    root: np.ndarray,
    cells: np.ndarray,
    ones=None,
    room=None,
    x4=None,
    flags=None,
) -> np.ndarray:
    """The candidates the squeeze does not accept whatever the rest of their u: x = SIGMA z,
    d and root = 1 + c z are [n], cells [n] their bytes r (uint8); returns their indices.
    ones ([n] of 1), room and x4 (like x) and flags (bool [n]) are buffers, made here
    where not given.

    With u <= 1 - r / 256 (the top of the cell), accepted outright when
    1 - r / 256 < 1 - z^4 / (108 d min(1 + c z, 1)), less the slack: multiplied out,
    x^4 = SIGMA^4 z^4 < r d min(1 + c z, 1). No division. Where v <= 0 (1 + c z <= 0)
    the right side is at most 0 and the candidate stays pending; so does r = 0."""
    if ones is None:
        ones = np.ones_like(x)
    if room is None:
        room = np.empty_like(x)
    np.copyto(room, cells)
    x4 = np.minimum(
        root, ones, out=x4
    )  # with an array operand: numpy's scalar minimum is 3x slower
    np.multiply(x4, d, out=x4)
    np.multiply(room, x4, out=room)
    np.multiply(x, x, out=x4)
    np.multiply(x4, x4, out=x4)
    return np.greater_equal(x4, room, out=flags).nonzero()[0]


def _marsaglia_tsang_rejects(shape: np.ndarray, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The paper's full test for candidates (z, u), z = x / SIGMA, in float64: True where
    it rejects, ln u >= z^2/2 + d - d v + d ln v or v <= 0. u is overwritten. (An
    accepted candidate keeps the value d v computed for all, in the draws' dtype.)"""
    d = np.subtract(shape, 1.0 / 3.0, dtype=np.float64)
    v = np.multiply(d, 9.0 * SIGMA * SIGMA)
    np.sqrt(v, out=v)
    np.divide(x, v, out=v)
    v += 1.0
    v3 = np.multiply(v, v)
    v3 *= v
    # d - d v + d ln v = d (1 + ln v - v). Where v <= 0, ln v is taken at the smallest
    # positive double, -708: the bound is then below -708 d + z^2/2 <= -472 + 37 (d >= 2/3,
    # and torch's normals have |z| <= 8.6), below any ln u here (u >= 2^-61): rejected.
    bound = np.maximum(v3, _TINY)
    np.log(bound, out=bound)
    bound -= v3
    bound += 1.0
    bound *= d
    half_z2 = np.multiply(x, x, dtype=np.float64)
    half_z2 *= 0.5 / (SIGMA * SIGMA)
    bound += half_z2
    return np.greater_equal(np.log(u, out=u), bound)


_TINY = np.finfo(np.float64).tiny


def sample_beta(alpha: torch.Tensor, beta: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Beta(alpha, beta) = X / (X + Y) with X ~ Gamma(alpha), Y ~ Gamma(beta), for shapes
    that may be below 1: Gamma(a) = Gamma(a + 1) U^(1/a), and the ratio formed from
    logarithms, since U^(1/a) and torch's small-shape draws can underflow to 0 for tiny a.
    (Shapes of at least 1 take `BetaPosterior`'s one batch of Gamma draws.)
    """
    log_x = _log_gamma_draw(alpha, gen)
    log_y = _log_gamma_draw(beta, gen)
    return torch.sigmoid(log_x - log_y)


def _log_gamma_draw(shape: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    small = shape < 1
    draw = torch.log(standard_gamma(torch.where(small, shape + 1, shape), gen, at_least_one=True))
    u = torch.rand(shape.shape, generator=gen, device=shape.device, dtype=shape.dtype)
    return torch.where(small, draw + torch.log(u) / shape, draw)


def posterior_draws(
    counts: torch.Tensor, sums: torch.Tensor, prior_a: float, prior_b: float, gen: torch.Generator
) -> torch.Tensor:
    """theta ~ Beta(sums + prior_a, counts - sums + prior_b) for every seed and arm, from
    counts and 0/1-reward sums [seeds, K]: one draw, in fresh memory (`BetaPosterior`)."""
    return BetaPosterior(counts, sums, prior_a, prior_b, gen).draw()


class BetaPosterior:
    """Draws theta ~ Beta(sums + prior_a, counts - sums + prior_b) for every seed and arm,
    from counts and 0/1-reward sums [seeds, K] read live at each draw (a learner's own
    statistics), into kept buffers: `draw()` returns `theta` [seeds, K], laid out like
    counts, which the next draw overwrites.

    Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). The two shapes are written
    straight into one [2, ...] array, arm by arm where counts and sums are stored so
    (`IndexBandit.arm_major`), for one batch of Gamma draws: on a CPU, with priors of at
    least 1 and at least VECTORISED_GAMMA_FROM draws, a kept `GammaBatch`, the Beta ratio
    in numpy; otherwise torch (`standard_gamma`, `sample_beta` for priors below 1).
    """

    def __init__(
        self,
        counts: torch.Tensor,
        sums: torch.Tensor,
        prior_a: float,
        prior_b: float,
        gen: torch.Generator,
    ):
        self.counts, self.sums, self.prior_a, self.prior_b, self.gen = (
            counts,
            sums,
            prior_a,
            prior_b,
            gen,
        )
        self.arm_major = counts.t().is_contiguous() and sums.t().is_contiguous()
        c, s = (counts.t(), sums.t()) if self.arm_major else (counts, sums)
        self._theta = torch.empty(c.shape, dtype=c.dtype, device=c.device)
        self.theta = self._theta.t() if self.arm_major else self._theta
        self._gamma = None
        if (
            counts.device.type == "cpu"
            and min(prior_a, prior_b) >= 1
            and 2 * c.numel() >= VECTORISED_GAMMA_FROM
        ):
            self._gamma = GammaBatch(2 * c.numel(), c.dtype)
            self._c, self._s = c.numpy(), s.numpy()  # live views of the statistics
            shapes = np.empty((2,) + tuple(c.shape), dtype=self._c.dtype)
            self._shapes, self._alpha, self._beta = shapes.reshape(-1), shapes[0], shapes[1]
            value = self._gamma.value.reshape(shapes.shape)
            self._x, self._y, self._ratio = value[0], value[1], self._theta.numpy()

    def draw(self) -> torch.Tensor:
        if self._gamma is None:
            return self._draw_torch()
        np.add(self._s, self.prior_a, out=self._alpha)
        np.subtract(self._c, self._s, out=self._beta)
        np.add(self._beta, self.prior_b, out=self._beta)
        self._gamma.sample(self._shapes, self.gen)
        np.add(self._x, self._y, out=self._ratio)
        np.divide(self._x, self._ratio, out=self._ratio)  # Beta(a, b) = X / (X + Y)
        return self.theta

    def _draw_torch(self) -> torch.Tensor:
        counts, sums, a, b = self.counts, self.sums, self.prior_a, self.prior_b
        if a < 1 or b < 1:
            return self.theta.copy_(sample_beta(sums + a, (counts - sums).add_(b), self.gen))
        c, s = (counts.t(), sums.t()) if self.arm_major else (counts, sums)
        shapes = torch.empty((2,) + tuple(c.shape), dtype=c.dtype, device=c.device)
        torch.add(s, _constant(a, c.dtype), out=shapes[0])
        torch.sub(c, s, out=shapes[1]).add_(_constant(b, c.dtype))
        x, y = standard_gamma(shapes, self.gen, at_least_one=True)
        torch.add(x, y, out=self._theta)
        torch.div(x, self._theta, out=self._theta)
        return self.theta


class BetaThompsonSampling(IndexBandit):
    """Thompson sampling with Beta priors for Bernoulli rewards (Agrawal & Goyal,
    "Analysis of Thompson Sampling for the Multi-armed Bandit Problem", 2012).

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

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
        Param(
            "prior_a",
            "float",
            1.0,
            "Beta prior successes a (1 = uniform prior).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "prior_b",
            "float",
            1.0,
            "Beta prior failures b (1 = uniform prior).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
    )

    arm_major = True  # counts, sums and draws stored arm by arm: see first_argmax

    def start(self, steps):
        super().start(steps)
        # Made once: every round draws into the posterior's buffers and reduces its theta.
        self._posterior = BetaPosterior(
            self.counts, self.sums, self.p["prior_a"], self.p["prior_b"], self.gen
        )
        self._argmax = KeptArgmax(self._posterior.theta, self._arms)

    def select(self, t):
        # Counts only grow, so priors of at least 1 keep every shape at least 1.
        posterior = self._posterior
        if (
            self.counts is not posterior.counts or self.sums is not posterior.sums
        ):  # statistics set from outside
            theta = posterior_draws(
                self.counts, self.sums, self.p["prior_a"], self.p["prior_b"], self.gen
            )
            return self.first_best(theta)
        posterior.draw()
        return self._argmax()
