from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.bandits.base import ExpertsLearner
from engine.params import Param


def tuned_eta(horizon: int, n: int) -> float:
    """eta = sqrt(8 ln N / T), which makes ln N / eta + eta T / 8 equal sqrt(T ln N / 2)."""
    return math.sqrt(8 * math.log(n) / horizon)


def hedge_bound(eta: float, n: int, steps: np.ndarray) -> np.ndarray:
    """L_Hedge(t) - min_i L_i(t) <= ln N / eta + eta t / 8 for every loss sequence in [0, 1]
    (Cesa-Bianchi & Lugosi 2006, Theorem 2.2, via Hoeffding's lemma)."""
    return math.log(n) / eta + eta * np.asarray(steps, dtype=np.float64) / 8


class Hedge(ExpertsLearner):
    """Hedge, the exponentially weighted average forecaster (Freund & Schapire, "A
    Decision-Theoretic Generalization of On-Line Learning and an Application to
    Boosting", 1997; Hedge(beta) with beta = e^-eta).

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    With L_i(t) the cumulative loss of expert i after t rounds, the weights of round t+1 are

        p_i(t + 1) = exp(-eta L_i(t)) / sum_j exp(-eta L_j(t)),

    and the learner's loss in round t is <p(t), loss(t)> (the `realised` regret option
    draws an expert from p(t) instead). eta = 0 asks for the tuned rate sqrt(8 ln N / T)
    for the run's horizon T.

    Bound drawn: ln N / eta + eta t / 8 at every t, which holds on EVERY loss sequence with
    losses in [0, 1], adaptive adversaries included, for the mixture loss (the default
    pseudo regret); at t = T with the tuned eta it equals sqrt(T ln N / 2). This is the
    Hoeffding-lemma analysis (Cesa-Bianchi & Lugosi, Prediction, Learning, and Games,
    Theorem 2.2) of the paper's algorithm; the paper's own bound, (ln(1/beta) L_best +
    ln N) / (1 - beta), is the same algorithm's loss bound in another form.
    """

    id = "bandits.hedge"
    paper = "A Decision-Theoretic Generalization of On-Line Learning and an Application to Boosting"
    summary = "Exponential weights over experts with full information: regret sqrt(T ln N / 2) on every sequence."
    params = (
        Param(
            "eta",
            "float",
            0.0,
            "Learning rate eta; 0 = tuned sqrt(8 ln N / T) for the horizon.",
            low=0.0,
            high=1e3,
        ),
    )

    def start(self, steps):
        super().start(steps)
        n = self.problem.n
        self.rate = self.p["eta"] or tuned_eta(steps, n)
        self.cumulative_losses = torch.zeros(
            (self.seeds, n), dtype=torch.float64, device=self.device
        )

    def weights(self, t):
        return torch.softmax(self.cumulative_losses * -self.rate, dim=1)

    def update(self, t, losses):
        self.cumulative_losses += losses

    def upper_bound(self, steps):
        return hedge_bound(self.rate, self.problem.n, steps)
