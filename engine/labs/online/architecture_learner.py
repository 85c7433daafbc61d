"""The loop every architecture-search learner shares: propose, evaluate, update, record."""

from __future__ import annotations

import numpy as np
import torch

from engine.labs.bandits.base import RegretLearner, recorded_steps

ARCHITECTURE_METRICS = ("cumulative_regret", "best_found_loss", "simple_regret")


class ArchitectureLearner(RegretLearner):
    """Base for learners on `bandits.architecture_search`; subclasses give `propose` and may
    give `update` and `recommend`.

    Regret is against the best architecture a* (by enumeration): ``pseudo`` sums
    mu(a_t) - mu(a*), ``realised`` sums the observed losses minus t mu(a*).
    ``best_found_loss`` is mu of the architecture with the lowest observed loss so far
    (what a search reports), ``simple_regret`` that minus mu(a*). Not registered (no id).
    """

    family = "bandits"
    problems = ("bandits.architecture_search",)
    plot = "regret"
    metrics = ARCHITECTURE_METRICS

    def run(self, steps, rec):
        prob = self.problem
        self.start(steps)
        best, _ = prob.optimum()
        bound = self.upper_bound(np.asarray(recorded_steps(rec), dtype=np.int64))
        if bound is not None:
            rec.bound("regret_upper_bound", recorded_steps(rec), bound)
        realised = self.p.get("regret", "pseudo") == "realised"
        regret = torch.zeros(self.seeds, dtype=torch.float64, device=self.device)
        best_seen = torch.full_like(regret, float("inf"))
        best_found = torch.full_like(regret, float("nan"))
        for t in range(1, steps + 1):
            arms = self.propose(t)
            observed, mu = prob.evaluate(arms)
            self.update(arms, observed)
            regret += (observed if realised else mu) - best
            better = observed < best_seen
            best_seen = torch.where(better, observed, best_seen)
            best_found = torch.where(better, mu, best_found)
            if rec.should_record(t):
                values = {
                    "cumulative_regret": regret,
                    "best_found_loss": best_found,
                    "simple_regret": best_found - best,
                }
                values.update(self.extra_metrics(best))
                rec.metrics(t, values)
            rec.progress(t)

    def propose(self, t: int) -> torch.Tensor:
        """Architectures [seeds, N] (long) for round t."""
        raise NotImplementedError

    def update(self, arms: torch.Tensor, observed: torch.Tensor) -> None:
        """Learn from the observed losses [seeds] of the proposed architectures."""

    def extra_metrics(self, best: torch.Tensor) -> dict:
        return {}

    def upper_bound(self, steps: np.ndarray) -> np.ndarray | None:
        return None
