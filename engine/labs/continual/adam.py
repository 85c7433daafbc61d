"""Adam on the online stream: the adaptive baseline."""

from __future__ import annotations

import torch

from engine.labs.continual.base import ContinualLearner
from engine.params import Param


class Adam(ContinualLearner):
    """Adam (Kingma & Ba, "Adam: A Method for Stochastic Optimization", 2015), a baseline
    of the UPGD paper ("Addressing Loss of Plasticity and Catastrophic Forgetting in
    Continual Learning"), where it suffers a performance drop after initial learning:

        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
        w ← w − α (m / (1 − β₁^t)) / (√(v / (1 − β₂^t)) + ε)

    No departure: the moments are kept per weight, so seeds never mix.
    """

    id = "continual.adam"
    paper = "(baseline) Adam: A Method for Stochastic Optimization"
    summary = "Baseline: Adam's bias-corrected moment estimates, one sample at a time."
    params = (
        Param("lr", "float", 0.003, "Step size α.", low=0.0, low_open=True, high=100.0),
        Param(
            "beta1",
            "float",
            0.9,
            "β₁: decay of the first-moment estimate.",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        Param(
            "beta2",
            "float",
            0.999,
            "β₂: decay of the second-moment estimate.",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        Param(
            "eps",
            "float",
            1e-8,
            "ε added to the root of the second moment.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )

    def update(self, theta, grad, step):
        if step == 1:
            self.first_moment, self.second_moment = torch.zeros_like(theta), torch.zeros_like(theta)
        b1, b2 = self.p["beta1"], self.p["beta2"]
        m, v = self.first_moment, self.second_moment
        m.mul_(b1).add_(grad, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
        denominator = (v / (1.0 - b2**step)).sqrt_().add_(self.p["eps"])
        theta.sub_(self.p["lr"] * (m / (1.0 - b1**step)) / denominator)
