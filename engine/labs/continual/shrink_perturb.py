"""Shrink and perturb applied at every step: weight decay plus Gaussian noise on SGD."""

from __future__ import annotations

import torch

from engine.labs.continual.base import LEARNING_RATE, ContinualLearner
from engine.params import Param


def shrink_perturb_step(
    weight: torch.Tensor, grad: torch.Tensor, noise: torch.Tensor, lr: float, decay: float
) -> None:
    """w ← (1 − αλ) w − α (g + ξ), in place; `noise` is ξ, already scaled by σ."""
    weight.mul_(1.0 - lr * decay).sub_(lr * (grad + noise))


class ShrinkAndPerturb(ContinualLearner):
    """Shrink and perturb (Ash & Adams, "On Warm-Starting Neural Network Training", 2020),
    a baseline of the UPGD paper ("Addressing Loss of Plasticity and Catastrophic
    Forgetting in Continual Learning"), in the form that paper uses: at every step

        w ← (1 − αλ) w − α (g + ξ),   ξ ~ N(0, σ² I)

    shrinking every weight towards zero and perturbing all of them alike, whatever their
    use (UPGD's perturbation without the utility gate, plus weight decay).

    Departure from Ash & Adams: they shrink and perturb once, when new data arrive
    (θ ← λθ + p at a warm start); here, as in the UPGD paper, whose stream has no known
    task boundaries, the shrink is a weight decay and the perturbation is added at every step.
    """

    id = "continual.shrink_perturb"
    paper = "(baseline) On Warm-Starting Neural Network Training"
    summary = "Baseline: SGD with weight decay and Gaussian noise on every weight at every step."
    params = (
        LEARNING_RATE,
        Param(
            "decay", "float", 0.01, "λ: shrink, w ← (1 − αλ) w at every step.", low=0.0, high=1000.0
        ),
        Param(
            "sigma",
            "float",
            0.01,
            "σ: standard deviation of the perturbation ξ.",
            low=0.0,
            high=100.0,
        ),
    )

    def update(self, theta, grad, step):
        shrink_perturb_step(
            theta, grad, self.gaussian(theta, self.p["sigma"]), self.p["lr"], self.p["decay"]
        )
