"""Stochastic K-armed bandit problems, generated from a seed.

Every bandit problem answers the same questions, which is all the learners' loop in
`base.py` asks of it:

- `pull(arms)`: play one round, one arm per seed; returns the rewards [seeds];
- `pseudo_regret(counts, t)`: the comparator's expected total minus the means of the arms
  played, from the play counts [seeds, K] after t rounds;
- `best_total(t)`: the comparator's expected total over rounds 1..t (realised regret
  subtracts the rewards actually collected from it);
- `best_arm_plays(counts, t)`: how many rounds the learner played a best arm;
- `lai_robbins_constant()`: the asymptotic lower-bound constant (0 where none holds).

The comparator is the best fixed arm, except on the switching bandit, whose regret is
against the best arm of each round (`fixed_comparator` is False there).

Stationary problems derive all of these from the counts, so the hot loop keeps no regret
state at all; non-stationary ones (adversarial.py) accumulate what they need as they go.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# On a CPU the Bernoulli rewards' uniforms are drawn this many rounds at a time (fewer when
# a block would exceed UNIFORM_BLOCK_VALUES numbers).
UNIFORM_BLOCK_ROUNDS = 64
UNIFORM_BLOCK_VALUES = 1 << 18


# torch.rand on a CPU keeps the low 24 (float32) or 53 (float64) bits of one 32- or 64-bit
# generator output per number and scales them; the same bits, taken from a block of raw
# draws at once, give the same numbers for ~3/4 of the time.
_UNIFORM_BITS = {
    torch.float32: (torch.int32, (1 << 24) - 1, 2.0**-24),
    torch.float64: (torch.int64, (1 << 53) - 1, 2.0**-53),
}


def uniform_block(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """torch.rand(shape, generator=gen, dtype=dtype) on a CPU generator, number for number."""
    if dtype not in _UNIFORM_BITS:
        return torch.rand(shape, generator=gen, dtype=dtype)
    raw, mask, scale = _UNIFORM_BITS[dtype]
    return (
        torch.empty(shape, dtype=raw)
        .random_(generator=gen)
        .bitwise_and_(mask)
        .to(dtype)
        .mul_(scale)
    )


def bernoulli_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """kl(p, q) between Bernoulli distributions, with 0 log 0 = 0."""
    eps = 1e-15
    p = p.clamp(0.0, 1.0)
    q = q.clamp(eps, 1 - eps)
    a = torch.where(p > 0, p * torch.log(p.clamp_min(eps) / q), torch.zeros_like(p))
    b = torch.where(
        p < 1, (1 - p) * torch.log((1 - p).clamp_min(eps) / (1 - q)), torch.zeros_like(p)
    )
    return a + b


class BanditProblem(Problem):
    """Base of the K-armed bandit problems (not registered itself).

    `unit_interval_rewards` says every reward lies in [0, 1], the hypothesis of the UCB1,
    KL-UCB, ε-greedy and Exp3 theorems; `stationary` says the arms' means never change;
    `fixed_comparator` says regret is against the best fixed arm.
    """

    family = "bandits"
    stationary: ClassVar[bool] = True
    unit_interval_rewards: ClassVar[bool] = True
    fixed_comparator: ClassVar[bool] = True
    k: int

    def pull(self, arms: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def pseudo_regret(self, counts: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError

    def best_total(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def best_arm_plays(self, counts: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError

    def lai_robbins_constant(self) -> float:
        return 0.0


class StationaryBandit(BanditProblem):
    """Arms with fixed means: regret and the best arm follow from the play counts."""

    def _set_means(self, means) -> None:
        self.k = len(means)
        # float64 for regret; the run's dtype for the per-round comparisons of the hot loop.
        self.means64 = torch.tensor(means, dtype=torch.float64, device=self.device)
        self.means = self.means64.to(self.dtype)
        self.best_mean = self.means64.max()
        self.gaps = self.best_mean - self.means64
        self._best = self.gaps == 0

    def pseudo_regret(self, counts, t):
        return counts.to(torch.float64) @ self.gaps

    def best_total(self, t):
        return self.best_mean * t

    def best_arm_plays(self, counts, t):
        return (counts.to(torch.float64) * self._best).sum(1)


class BernoulliBandit(StationaryBandit):
    """K arms; arm i pays 1 with probability means[i], else 0.

    Each round draws one uniform u[s] per seed from the problem's own stream, and arm i
    pays 1 on seed s when u[s] < means[i]. So every arm's outcome is fixed whether or not
    it is played, and two algorithms on the same seed face the same reward table (common
    random numbers). One uniform serves all arms of a round: a learner sees only the arm
    it plays, so the law of everything it observes is that of independent arms, while
    the draw costs K times less than one uniform per arm.
    """

    id = "bandits.bernoulli"
    title = "Stochastic Bernoulli K-armed bandit"
    summary = "K arms with fixed success probabilities."
    params = (
        Param(
            "means",
            "floats",
            [0.1, 0.2, 0.5],
            "Success probability of each arm.",
            low=0.0,
            high=1.0,
            min_len=2,
            max_len=1000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._set_means(params["means"])
        self._gen = generator(device, seed, PROBLEM_STREAM)
        self._block, self._next_row = (), 0
        self._in_blocks = self.device.type == "cpu"

    def draw_uniforms(self) -> torch.Tensor:
        """This round's uniforms [seeds] (the benchmark replays them for its peers).

        On a CPU they are drawn for a block of rounds at once: torch's CPU generator fills
        a [rounds, seeds] tensor in the order of that many [seeds] draws, so the values are
        the same, for one call's overhead instead of one per round. Each block is a new
        tensor: a round's uniforms stay valid after later rounds are drawn.
        """
        if not self._in_blocks:
            return torch.rand(self.seeds, generator=self._gen, device=self.device, dtype=self.dtype)
        if self._next_row == len(self._block):
            rounds = max(1, min(UNIFORM_BLOCK_ROUNDS, UNIFORM_BLOCK_VALUES // self.seeds))
            # the rows as views, made in one call (indexing a row is a torch call per round)
            self._block = uniform_block((rounds, self.seeds), self._gen, self.dtype).unbind(0)
            self._next_row = 0
        self._next_row += 1
        return self._block[self._next_row - 1]

    def pull(self, arms):
        return (self.draw_uniforms() < self.means[arms]).to(self.dtype)

    def lai_robbins_constant(self) -> float:
        """sum over suboptimal arms of gap / kl(mean, best mean): regret >= this * ln T asymptotically."""
        sub = self.gaps > 0
        if not bool(sub.any()):
            return 0.0
        kl = bernoulli_kl(self.means64[sub], self.best_mean.expand(int(sub.sum())))
        return float((self.gaps[sub] / kl).sum())


class GaussianBandit(StationaryBandit):
    """K arms; arm i pays means[i] + sigma * z with z standard normal.

    As for the Bernoulli bandit, one normal z[s] per seed and round serves every arm, from
    the problem's own stream (common random numbers). sigma = 0 makes the arms
    deterministic, which hand-checked trajectories use.
    """

    id = "bandits.gaussian"
    title = "Stochastic Gaussian K-armed bandit"
    summary = "K arms with fixed means and Gaussian noise of known standard deviation."
    unit_interval_rewards = False
    params = (
        Param(
            "means",
            "floats",
            [0.0, 0.5, 1.0],
            "Mean reward of each arm.",
            low=-1e6,
            high=1e6,
            min_len=2,
            max_len=1000,
        ),
        Param(
            "sigma",
            "float",
            1.0,
            "Standard deviation of the reward noise (0 = deterministic arms).",
            low=0.0,
            high=1e6,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._set_means(params["means"])
        self.sigma = float(params["sigma"])
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def pull(self, arms):
        z = torch.randn(self.seeds, generator=self._gen, device=self.device, dtype=self.dtype)
        return self.means[arms] + self.sigma * z

    def lai_robbins_constant(self) -> float:
        """kl(N(a, s^2), N(b, s^2)) = (a - b)^2 / (2 s^2), so the constant is sum 2 s^2 / gap."""
        sub = self.gaps > 0
        if self.sigma == 0 or not bool(sub.any()):
            return 0.0
        return float((2 * self.sigma**2 / self.gaps[sub]).sum())
