"""DiscoPOP: the log-ratio modulated loss, a blend of the logistic and exponential losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.params import Param


class DiscoPOP(PreferenceOptimisation):
    """Discovered Preference Optimization (Lu, Holt, Fanconi, Chan, Foerster, van der Schaar
    & Lange, "Discovering Preference Optimization Algorithms with and for Large Language
    Models", 2024).

    A loss found by LLM-driven objective discovery: the log-ratio modulated loss (LRML),
    which blends DPO's logistic loss with the exponential loss, the mix set by a sigmoid
    of the scaled margin itself:

        ρ = β (log π(y_w)/π_ref(y_w) − log π(y_l)/π_ref(y_l))
        f(ρ) = (1 − σ(ρ/τ)) · (−log σ(ρ)) + σ(ρ/τ) · exp(−ρ)
        L(θ) = E_(y_w, y_l) [ f(ρ) ],    θ ← θ − lr · optimizer(∇θ L)

    With τ = 0.05 (the paper's value) the loss is logistic for negative margins and
    exponential for positive ones, switching over a width of a few τ around ρ = 0; at
    ρ = 0 it is (log 2 + 1)/2. f is not convex. Derived here from the formula (not a
    claim of the paper): f'(0) = (1 − log 2)/(4τ) − 3/4, which is positive for
    τ < (1 − log 2)/3 ≈ 0.102. At π = π_ref (ρ = 0) each pair's gradient then lowers its
    margin, and small steps settle in a local minimum at a negative margin, the wrong
    way; larger steps, a larger β or noisier minibatches carry the margins past the bump.

    Departures from the paper: σ(ρ/τ) exp(−ρ) is computed as exp(log σ(ρ/τ) − ρ), which is
    the same number but stays finite where exp(−ρ) overflows; one prompt, tabular or
    log-linear policy, Adam or SGD.
    """

    id = "preference.discopop"
    paper = "Discovering Preference Optimization Algorithms with and for Large Language Models"
    summary = "Logistic and exponential losses blended by a sigmoid of the margin (LRML)."
    params = (
        BETA,
        Param(
            "tau",
            "float",
            0.05,
            "τ: temperature of the sigmoid that blends the two losses.",
            low=0.0,
            low_open=True,
            high=1e3,
        ),
    ) + TRAINING_PARAMS

    def pair_losses(self, batch):
        return discopop_losses(
            batch.chosen_logratio, batch.rejected_logratio, self.p["beta"], self.p["tau"]
        )


def discopop_losses(
    chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float, tau: float
) -> torch.Tensor:
    """f(ρ) = (1 − σ(ρ/τ)) (−log σ(ρ)) + σ(ρ/τ) exp(−ρ), ρ = β (h_w − h_l), for every pair."""
    rho = beta * (chosen_logratio - rejected_logratio)
    logistic = -F.logsigmoid(rho)
    return torch.sigmoid(-rho / tau) * logistic + torch.exp(F.logsigmoid(rho / tau) - rho)
