"""An experts problem with an oblivious adversary: one planted good expert among many."""

from __future__ import annotations

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class PlantedExperts(Problem):
    """n experts with Bernoulli losses fixed in advance (an oblivious adversary).

    Every expert has loss probability 1/2 except, per seed, one planted expert at
    1/2 - gap and a few decoys at 1/2 - 2 gap until round `decoy_until` and 1/2 + gap
    after it: an algorithm that keeps the early leaders and stops looking pays for it.
    Which experts are planted and decoys is drawn per seed from the problem's stream, as
    is the loss table, one uniform per seed and expert each round (common random numbers:
    the losses do not depend on the learner's choices).

    The problem keeps every expert's cumulative loss [seeds, n], the environment's side
    of the ledger, so that the regret against the best expert in hindsight is exact; what
    a memory-bounded learner may store is up to the learner.
    """

    id = "bandits.planted_experts"
    family = "bandits"
    title = "Experts with a planted best expert (oblivious)"
    summary = (
        "n experts with Bernoulli losses; one planted better expert and fading decoys per seed."
    )
    params = (
        Param("experts", "int", 100, "Number n of experts.", low=2, high=1_000_000),
        Param(
            "gap",
            "float",
            0.1,
            "How much lower the planted expert's loss probability is than 1/2.",
            low=0.0,
            high=0.2,
        ),
        Param(
            "decoys",
            "int",
            5,
            "Experts that lead early (1/2 - 2 gap) and fall behind (1/2 + gap).",
            low=0,
            high=1_000_000,
        ),
        Param(
            "decoy_until",
            "int",
            2000,
            "Last round in which the decoys lead.",
            low=0,
            high=100_000_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n, decoys, gap = params["experts"], params["decoys"], params["gap"]
        if decoys > n - 1:
            raise ParamError(
                "problem.decoys",
                f"must leave room for the planted expert: at most {n - 1}, got {decoys}",
            )
        self.n = n
        self._gen = generator(device, seed, PROBLEM_STREAM)
        order = torch.argsort(torch.rand((seeds, n), generator=self._gen, device=device), dim=1)
        self.planted = order[:, 0]
        self.decoy_mask = torch.zeros((seeds, n), dtype=torch.bool, device=device)
        self.decoy_mask.scatter_(1, order[:, 1 : 1 + decoys], True)
        base = torch.full((seeds, n), 0.5, dtype=torch.float64, device=device)
        base.scatter_(1, self.planted.unsqueeze(1), 0.5 - gap)
        self._early = torch.where(self.decoy_mask, torch.full_like(base, 0.5 - 2 * gap), base)
        self._late = torch.where(self.decoy_mask, torch.full_like(base, 0.5 + gap), base)
        self.decoy_until = params["decoy_until"]
        self.cumulative = torch.zeros((seeds, n), dtype=torch.float64, device=device)

    def losses(self, t: int) -> torch.Tensor:
        """Round t's losses [seeds, n] of every expert, in {0, 1}; also added to the ledger."""
        means = self._early if t <= self.decoy_until else self._late
        u = torch.rand(
            (self.seeds, self.n), generator=self._gen, device=self.device, dtype=self.dtype
        )
        loss = (u < means).to(torch.float64)
        self.cumulative += loss
        return loss

    def best_in_hindsight(self) -> torch.Tensor:
        """min_i of the cumulative losses so far, [seeds]."""
        return self.cumulative.min(dim=1).values
