"""Weighted tallying bandits: an arm's loss depends on how often it was played recently."""

from __future__ import annotations

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class WeightedTallyingBandit(Problem):
    """K arms whose loss is a function of their weighted tally over the last m rounds.

    The tally of arm a before round t is y_a,t = sum_{j=1}^{m} w_j 1[a_{t-j} = a] with
    weights w_j = decay^(j-1) (recent plays weigh most; rounds before the first count as
    no play; the tally is kept incrementally, y_a,t+1 = decay y_a,t + 1[a_t = a] -
    decay^m 1[a_{t-m} = a]). Its loss is linear in the tally between a "fresh" and a
    "saturated" value,

        f_a(y) = fresh_a + (saturated_a - fresh_a) * y / W,    W = sum_j w_j,

    so arm a played m times in a row has loss f_a(W) = saturated_a. The observed loss is
    Bernoulli(f_a(y)), drawn from one uniform per seed and arm each round (common random
    numbers). With the defaults, arm 0 is learned by practice (0.9 fresh, 0.1 saturated)
    and the other three bore (0.3 fresh, 0.5 saturated): repeated exposure optimality
    (REO) holds, since f_0(W) = 0.1 is below every loss any arm can have, yet a learner
    that keeps switching sees arm 0 at a low tally, where it is the worst arm.

    `forever_losses(t)` gives every arm's expected loss at round t were it played in every
    round from the first: the losses of the complete-policy-regret benchmark.
    """

    id = "bandits.weighted_tallying"
    family = "bandits"
    title = "Weighted tallying bandit"
    summary = "Losses depend on each arm's weighted play count over the last m rounds."
    params = (
        Param(
            "fresh_loss",
            "floats",
            [0.9, 0.3, 0.3, 0.3],
            "Expected loss f_a(0) of each arm not played recently.",
            low=0.0,
            high=1.0,
            min_len=2,
            max_len=100,
        ),
        Param(
            "saturated_loss",
            "floats",
            [0.1, 0.5, 0.5, 0.5],
            "Expected loss f_a(W) of each arm played m times in a row.",
            low=0.0,
            high=1.0,
            min_len=2,
            max_len=100,
        ),
        Param(
            "memory",
            "int",
            20,
            "Window m: plays more than m rounds ago no longer count.",
            low=1,
            high=1000,
        ),
        Param(
            "decay",
            "float",
            0.95,
            "Weight w_j = decay^(j-1) of a play j rounds ago.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        fresh, saturated = params["fresh_loss"], params["saturated_loss"]
        if len(fresh) != len(saturated):
            raise ParamError(
                "problem.saturated_loss",
                f"needs as many values as fresh_loss ({len(fresh)}), got {len(saturated)}",
            )
        self.k = len(fresh)
        self.m = params["memory"]
        f64 = torch.float64
        self.fresh = torch.tensor(fresh, dtype=f64, device=device)
        self.saturated = torch.tensor(saturated, dtype=f64, device=device)
        self.weights = params["decay"] ** torch.arange(self.m, dtype=f64, device=device)
        self.total_weight = float(self.weights.sum())
        lowest = torch.minimum(self.fresh, self.saturated)
        self.best_saturated = float(self.saturated.min())
        self.reo_holds = bool(self.best_saturated <= float(lowest.min()))
        self.slope = (self.saturated - self.fresh) / self.total_weight
        # Round t's benchmark losses, t = 1..m+1; from round m+1 on every tally is W.
        partial = torch.cat(
            [torch.zeros(1, dtype=f64, device=device), torch.cumsum(self.weights, 0)]
        )
        self._forever = self.fresh.unsqueeze(0) + self.slope.unsqueeze(0) * partial.unsqueeze(1)
        self.decay = params["decay"]
        self.tally = torch.zeros((seeds, self.k), dtype=f64, device=device)
        # Ring buffer of the last m arms played; once it is full, slot `_slot` holds the
        # arm played m rounds ago, whose weight leaves the tally this round.
        self.history = torch.full((seeds, self.m), -1, dtype=torch.long, device=device)
        self._slot = 0
        self._plays = 0
        self._one = torch.ones((seeds, 1), dtype=f64, device=device)
        self._leaving_weight = torch.full(
            (seeds, 1), -(self.decay**self.m), dtype=f64, device=device
        )
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def loss_function(self, arms: torch.Tensor, tally: torch.Tensor) -> torch.Tensor:
        return self.fresh[arms] + self.slope[arms] * tally

    def play(self, arms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Play arms [seeds]: (observed 0/1 losses, expected losses f_a(y)), each [seeds]."""
        u = torch.rand(
            (self.seeds, self.k), generator=self._gen, device=self.device, dtype=self.dtype
        )
        column = arms.unsqueeze(1)
        expected = self.loss_function(arms, self.tally.gather(1, column).squeeze(1))
        observed = (u.gather(1, column).squeeze(1) < expected).to(torch.float64)
        # y_a,t+1 = decay * y_a,t + 1[a_t = a] - decay^m 1[a_{t-m} = a]
        self.tally.mul_(self.decay)
        self.tally.scatter_add_(1, column, self._one)
        if self._plays >= self.m:
            self.tally.scatter_add_(
                1, self.history[:, self._slot].unsqueeze(1), self._leaving_weight
            )
        self.history[:, self._slot] = arms
        self._slot = (self._slot + 1) % self.m
        self._plays += 1
        return observed, expected

    def forever_losses(self, t: int) -> torch.Tensor:
        """Expected loss [K] of each arm at round t when it has been played in rounds 1..t-1."""
        return self._forever[min(t, self.m + 1) - 1]
