"""rDPO: the DPO loss de-biased for labels flipped at a known rate."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.params import Param


class RobustDPO(PreferenceOptimisation):
    """Robust DPO (Chowdhury, Kini & Natarajan, "Provably Robust DPO: Aligning Language
    Models with Noisy Feedback", 2024).

    When each label is flipped independently with probability ε < 1/2, the DPO loss of
    the observed labels is biased: its population minimiser matches the noisy preference
    probability p_ε, not the clean one. rDPO replaces each pair's loss by the unbiased
    combination of both orientations:

        ℓ(z) = −log σ(z),    h = log π(y_w)/π_ref(y_w) − log π(y_l)/π_ref(y_l)
        L_ε(θ; y_w, y_l) = [ (1 − ε) ℓ(β h) − ε ℓ(−β h) ] / (1 − 2ε)
        θ ← θ − lr · optimizer(∇θ E[L_ε])

    For every pair, (1 − ε) L_ε(y_w, y_l) + ε L_ε(y_l, y_w) = ℓ(β h): averaged over the
    flip, the rDPO loss is the clean DPO loss, so with ε equal to the true flip rate its
    population minimiser is the clean KL-regularised optimum π_ref exp(r/β)/Z, and the
    implicit reward margin recovers the true reward gap. ε = 0 is DPO exactly.

    Departures from the paper: one prompt, tabular or log-linear policy (the paper's
    analysis is for log-linear policies), Adam or SGD on the loss. A single pair's rDPO
    loss is not bounded below (−ε ℓ(−βh) → −∞ as h → ∞); the expectation is, for ε at
    most the true flip rate, so a minibatch step can overshoot where the population
    loss would not.
    """

    id = "preference.rdpo"
    paper = "Provably Robust DPO: Aligning Language Models with Noisy Feedback"
    summary = "DPO de-biased for a label-flip rate ε: unbiased for the clean loss."
    params = (
        BETA,
        Param(
            "epsilon",
            "float",
            0.1,
            "ε: the assumed probability that a label was flipped.",
            low=0.0,
            high=0.5,
            high_open=True,
        ),
    ) + TRAINING_PARAMS

    def pair_losses(self, batch):
        return robust_dpo_losses(
            batch.chosen_logratio, batch.rejected_logratio, self.p["beta"], self.p["epsilon"]
        )


def robust_dpo_losses(
    chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float, epsilon: float
) -> torch.Tensor:
    """[(1 − ε) ℓ(β h) − ε ℓ(−β h)] / (1 − 2ε) for every pair, ℓ(z) = −log σ(z)."""
    margin = beta * (chosen_logratio - rejected_logratio)
    return ((1.0 - epsilon) * -F.logsigmoid(margin) + epsilon * F.logsigmoid(-margin)) / (
        1.0 - 2.0 * epsilon
    )
