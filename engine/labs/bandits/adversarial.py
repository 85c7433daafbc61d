"""Non-stationary bandit problems: oblivious adversarial sequences and switching means.

On the adversarial sequences regret is against the best FIXED arm in hindsight; on the
piecewise-stationary (switching) bandit against the best arm of each round, the usual
measure there (a learner that tracks the switches would beat any fixed arm). Both keep,
as they go, what their comparator needs and the means of the arms played [seeds], so
the regret at any checkpoint is exact.
"""

from __future__ import annotations

import math

import torch

from engine.labs.bandits.problems import BanditProblem
from engine.params import Param
from engine.seeding import PROBLEM_STREAM, generator


class _Accounting(BanditProblem):
    """Shared bookkeeping: the means of the arms played; the comparator is each class's."""

    stationary = False

    def _start(self, k: int) -> None:
        self.k = k
        self.rounds = 0
        self._gen = generator(self.device, self.seed, PROBLEM_STREAM)
        self._played = torch.zeros(self.seeds, dtype=torch.float64, device=self.device)

    def pseudo_regret(self, counts, t):
        return self.best_total(t) - self._played


class SwitchingBandit(_Accounting):
    """Piecewise-stationary Bernoulli arms: the means are the given ones for the first
    `segment` rounds, then every `segment` rounds each seed's arms take a fresh random
    permutation of them (from the problem's stream), so the best arm moves while the gaps
    stay the same.

    Rewards: one uniform u[s] per seed and round serves every arm (arm i pays 1 when
    u[s] < mean), as in the stationary Bernoulli bandit. Regret is against the best arm of
    each round (Garivier & Moulines 2011, "On Upper-Confidence Bound Policies for Switching
    Bandit Problems"): pseudo-regret is sum_t (max mean - mean of the arm played), and
    realised regret subtracts the rewards collected instead. The best-arm share counts the
    rounds in which the arm played was that round's best.
    """

    fixed_comparator = False

    id = "bandits.switching"
    title = "Switching-mean (piecewise-stationary) Bernoulli bandit"
    summary = "Bernoulli arms whose means are permuted every `segment` rounds; regret against the best arm of each round."
    params = (
        Param(
            "means",
            "floats",
            [0.2, 0.5, 0.8],
            "Success probabilities, permuted among the arms at each switch.",
            low=0.0,
            high=1.0,
            min_len=2,
            max_len=1000,
        ),
        Param("segment", "int", 1000, "Rounds between switches.", low=1, high=100_000_000),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._start(len(params["means"]))
        self.segment = params["segment"]
        self.base_means = torch.tensor(params["means"], dtype=torch.float64, device=device)
        self.current = self.base_means.expand(seeds, self.k).clone()
        # A permutation keeps the best mean, so every round's best arm pays this much.
        self.best_mean = float(self.base_means.max())
        self._best_plays = torch.zeros(seeds, dtype=torch.float64, device=device)
        self._segment_start = 0

    def pull(self, arms):
        if self.rounds - self._segment_start == self.segment:
            keys = torch.rand(
                (self.seeds, self.k), generator=self._gen, device=self.device, dtype=torch.float64
            )
            self.current = self.base_means[keys.argsort(dim=1)]
            self._segment_start = self.rounds
        u = torch.rand(self.seeds, generator=self._gen, device=self.device, dtype=torch.float64)
        mean = self.current.gather(1, arms.unsqueeze(1)).squeeze(1)
        self._played += mean
        self._best_plays += mean == self.best_mean
        self.rounds += 1
        return (u < mean).to(self.dtype)

    def best_total(self, t):
        return torch.full(
            (self.seeds,), self.best_mean * self.rounds, dtype=torch.float64, device=self.device
        )

    def best_arm_plays(self, counts, t):
        return self._best_plays


class AdversarialBandit(_Accounting):
    """Oblivious adversarial reward sequences in {0, 1}, fixed before the game.

    - moving_leader: phase j starts at round max(j + 1, ceil(r^j)) (r = `growth`; the j + 1
      keeps every phase at least one round long when r is near 1);
      in each phase one arm, the leader, drawn per seed uniformly among the arms other than
      the previous leader, pays 1 with probability `leader_reward`, and every other arm
      pays 1 with probability `other_reward` (independent draws per arm from the problem's
      stream, whatever the learner does). Each phase is about as long as all the earlier
      ones together, so the best arm keeps moving.
    - cyclic: in round t, arm (t - 1) mod K pays 0 and every other arm pays 1. This is the
      order in which UCB1 (and KL-UCB) break their ties, so these deterministic learners
      play the losing arm every round, while the best fixed arm earns t - floor(t / K):
      the classic reason why adversarial bandits need randomised learners such as Exp3.

    The reward table itself is the sequence: regret is max_i sum_t x_i(t) minus the
    rewards collected, and pseudo and realised regret coincide.
    """

    id = "bandits.adversarial"
    title = (
        "Adversarial (oblivious) bandit: a moving leader, or a cycle against deterministic learners"
    )
    summary = "A 0/1 reward sequence fixed in advance: a leader moving in growing phases, or a cycle of losing arms."
    params = (
        Param(
            "sequence",
            "choice",
            "moving_leader",
            "moving_leader: a leader that moves in phases of growing length; "
            "cyclic: arm (t - 1) mod K pays 0, the others 1 (defeats UCB1's tie order).",
            choices=("moving_leader", "cyclic"),
        ),
        Param("arms", "int", 5, "Number of arms K.", low=2, high=1000),
        Param(
            "growth",
            "float",
            2.0,
            "moving_leader: ratio r of phase boundaries (phase j starts at max(j + 1, ceil(r^j))).",
            low=1.0,
            low_open=True,
            high=1000.0,
        ),
        Param(
            "leader_reward",
            "float",
            1.0,
            "moving_leader: probability that the phase's leader pays 1.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "other_reward",
            "float",
            0.0,
            "moving_leader: probability that every other arm pays 1.",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._start(params["arms"])
        self.growth = params["growth"]
        self._cumulative = torch.zeros((seeds, self.k), dtype=torch.float64, device=device)
        self._arm_index = torch.arange(self.k, device=device)
        self.leader = torch.randint(self.k, (seeds,), generator=self._gen, device=device)
        self._phase = 0
        self._next_phase = self._boundary(1)

    def _boundary(self, j: int) -> int:
        return max(j + 1, math.ceil(self.growth**j))

    def pull(self, arms):
        t = self.rounds + 1
        if self.p["sequence"] == "cyclic":
            rewards = torch.ones((self.seeds, self.k), dtype=torch.float64, device=self.device)
            rewards[:, (t - 1) % self.k] = 0.0
            return self._collect(rewards, arms, t)
        if t == self._next_phase:
            # A new leader among the K - 1 other arms: shift by 1..K-1 places.
            shift = torch.randint(1, self.k, (self.seeds,), generator=self._gen, device=self.device)
            self.leader = (self.leader + shift) % self.k
            self._phase += 1
            self._next_phase = self._boundary(self._phase + 1)
        u = torch.rand(
            (self.seeds, self.k), generator=self._gen, device=self.device, dtype=torch.float64
        )
        is_leader = self._arm_index == self.leader.unsqueeze(1)
        rewards = (u < torch.where(is_leader, self.p["leader_reward"], self.p["other_reward"])).to(
            torch.float64
        )
        return self._collect(rewards, arms, t)

    def _collect(self, rewards: torch.Tensor, arms: torch.Tensor, t: int) -> torch.Tensor:
        self._cumulative += rewards
        played = rewards.gather(1, arms.unsqueeze(1)).squeeze(1)
        self._played += played
        self.rounds = t
        return played.to(self.dtype)

    def cumulative_means(self) -> torch.Tensor:
        """Each arm's total reward so far [seeds, K]: the sequence is its own mean."""
        return self._cumulative

    def best_total(self, t):
        return self._cumulative.max(dim=1).values

    def best_arm_plays(self, counts, t):
        best = self._cumulative == self._cumulative.max(dim=1, keepdim=True).values
        return (counts.to(torch.float64) * best).sum(1)
