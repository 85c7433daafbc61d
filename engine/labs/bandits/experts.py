"""Prediction with expert advice: loss sequences in [0, 1] from oblivious and adaptive adversaries.

An experts problem answers `losses(weights)` once per round with the losses [seeds, N]
of every expert, given the learner's weights of that round (which only an adaptive
adversary looks at), and keeps `cumulative_losses` [seeds, N] exactly, from which the
regret against the best expert in hindsight is read. Losses and sums are float64: N is
small and the bound checks are exact.
"""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class ExpertsProblem(Problem):
    """Base of the experts problems (not registered itself)."""

    family = "bandits"
    n: int

    def _start(self, n: int) -> None:
        self.n = n
        self.cumulative_losses = torch.zeros(
            (self.seeds, n), dtype=torch.float64, device=self.device
        )
        self._gen = generator(self.device, self.seed, PROBLEM_STREAM)

    def losses(self, weights: torch.Tensor) -> torch.Tensor:
        loss = self.draw(weights)
        self.cumulative_losses += loss
        return loss

    def draw(self, weights: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _pick_among(self, candidates: torch.Tensor) -> torch.Tensor:
        """One expert per seed, uniformly at random among the True entries of candidates."""
        keys = torch.rand(
            (self.seeds, self.n), generator=self._gen, device=self.device, dtype=torch.float64
        )
        return torch.where(candidates, keys, -1.0).argmax(dim=1)


class ObliviousExperts(ExpertsProblem):
    """An oblivious adversary: expert i's loss is 1 with probability loss_means[i], else 0,
    independently across experts and rounds.

    Each round's row of the loss matrix is drawn from the problem's own stream whatever
    the learner does, which is the same as drawing the whole matrix before the game, so
    every learner on the same seed faces the same matrix.
    """

    id = "bandits.experts_oblivious"
    title = "Experts against an oblivious adversary (pre-drawn Bernoulli losses)"
    summary = "N experts whose 0/1 losses are drawn in advance, independently of the learner."
    params = (
        Param(
            "loss_means",
            "floats",
            [0.5, 0.45, 0.55, 0.5],
            "Probability that each expert loses 1 in a round.",
            low=0.0,
            high=1.0,
            min_len=2,
            max_len=10_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._start(len(params["loss_means"]))
        self.loss_means = torch.tensor(params["loss_means"], dtype=torch.float64, device=device)

    def draw(self, weights):
        u = torch.rand(
            (self.seeds, self.n), generator=self._gen, device=self.device, dtype=torch.float64
        )
        return (u < self.loss_means).to(torch.float64)


class AdaptiveExperts(ExpertsProblem):
    """An adaptive adversary that gives loss 1 to one expert per round and 0 to the rest.

    - punish_leader: the expert with the smallest cumulative loss so far (ties broken
      uniformly at random). Follow-the-leader then loses every round, while the best
      expert loses about t / N: its regret is linear.
    - punish_favourite: the expert the learner weights most this round (ties at random),
      an adversary that reads the learner's weights.

    Tie-breaks come from the problem's own stream.
    """

    id = "bandits.experts_adaptive"
    title = "Experts against an adaptive adversary (punish the leader / the favourite)"
    summary = "N experts; each round the adversary gives loss 1 to the leader or to the learner's favourite."
    params = (
        Param("experts", "int", 4, "Number of experts N.", low=2, high=10_000),
        Param(
            "adversary",
            "choice",
            "punish_leader",
            "punish_leader: loss 1 to the expert with the least cumulative loss; "
            "punish_favourite: loss 1 to the expert the learner weights most.",
            choices=("punish_leader", "punish_favourite"),
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self._start(params["experts"])
        self.adversary = params["adversary"]

    def draw(self, weights):
        if self.adversary == "punish_leader":
            score = -self.cumulative_losses
        else:
            score = weights.to(torch.float64)
        target = self._pick_among(score == score.max(dim=1, keepdim=True).values)
        loss = torch.zeros((self.seeds, self.n), dtype=torch.float64, device=self.device)
        return loss.scatter_(1, target.unsqueeze(1), 1.0)
