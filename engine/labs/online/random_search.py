from __future__ import annotations

import torch

from engine.labs.online.architecture_learner import ArchitectureLearner


class RandomSearch(ArchitectureLearner):
    """Random search, the baseline the MANAS paper insists on (paper: "MANAS: Multi-Agent
    Neural Architecture Search", Carlucci et al. 2019): every round an architecture drawn
    uniformly from all K^N, independently of the past; the search reports the one with the
    lowest observed loss. Its regret grows linearly, (mean_a mu(a) - mu(a*)) t in
    expectation; its best-found loss is the minimum of t uniform draws.
    """

    id = "bandits.random_search"
    paper = "MANAS: Multi-Agent Neural Architecture Search"
    summary = "Uniformly random architectures, best observed so far: the baseline for MANAS."

    def propose(self, t):
        prob = self.problem
        return torch.randint(
            prob.choices, (self.seeds, prob.decisions), generator=self.gen, device=self.device
        )
