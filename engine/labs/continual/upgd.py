"""UPGD: utility-based perturbed gradient descent, the protecting variant."""

from __future__ import annotations

import torch

from engine.labs.continual.base import ContinualLearner
from engine.params import Param

UPGD_PAPER = "Addressing Loss of Plasticity and Catastrophic Forgetting in Continual Learning"

UPGD_PARAMS = (
    Param(
        "lr",
        "float",
        0.1,
        "Step size α (the gate 1 − ũ scales it down, to about half for weights of "
        "utility near zero).",
        low=0.0,
        low_open=True,
        high=100.0,
    ),
    Param(
        "beta_utility",
        "float",
        0.999,
        "β_u: decay of the utility trace (an exponential moving average).",
        low=0.0,
        high=1.0,
        high_open=True,
    ),
    Param(
        "sigma",
        "float",
        0.01,
        "σ: standard deviation of the Gaussian perturbation ξ.",
        low=0.0,
        high=100.0,
    ),
    Param(
        "weight_decay",
        "float",
        0.0,
        "λ: weight decay, w ← (1 − αλ) w before the step.",
        low=0.0,
        high=1000.0,
    ),
)


def upgd_step(
    theta: torch.Tensor,
    grad: torch.Tensor,
    trace: torch.Tensor,
    noise: torch.Tensor,
    step: int,
    lr: float,
    beta_utility: float,
    weight_decay: float,
    protect_gradient: bool,
) -> None:
    """One first-order UPGD step, in place, on the flat weights theta [seeds, P] of every
    seed (the utility scale η is a maximum within each seed's network, over all its
    weights and biases):

        u  = −g ∘ w                                  first-order utility of each weight
        ū  ← β_u ū + (1 − β_u) u                     `trace`, updated in place
        η  = max_i ū_i                               per seed (floored at the dtype's tiny)
        ũ  = sigmoid(ū / ((1 − β_u^t) η))            scaled, bias-corrected utility
        protecting:      w ← (1 − αλ) w − α (g + ξ) ∘ (1 − ũ)
        non-protecting:  w ← (1 − αλ) w − α (g + ξ ∘ (1 − ũ))

    `noise` is the perturbation ξ, already scaled by σ.
    """
    trace.mul_(beta_utility).add_(-grad * theta, alpha=1.0 - beta_utility)
    # A seed whose traces are all zero (zero weights, or zero gradients) would divide 0 by
    # 0; with the floor its scaled utilities are sigmoid(0) = 1/2.
    eta = trace.max(1, keepdim=True).values.clamp_min(torch.finfo(trace.dtype).tiny)
    gate = 1.0 - torch.sigmoid(trace / (eta * (1.0 - beta_utility**step)))
    change = (grad + noise) * gate if protect_gradient else grad + noise * gate
    theta.mul_(1.0 - lr * weight_decay).sub_(lr * change)


class UPGD(ContinualLearner):
    """Utility-based Perturbed Gradient Descent, protecting variant (Elsayed & Mahmood,
    "Addressing Loss of Plasticity and Catastrophic Forgetting in Continual Learning",
    2024): the weight-wise first-order UPGD with the global utility scale, the paper's
    Algorithm 1.

    The utility of a weight is how much the loss would rise were it set to zero; its
    first-order Taylor approximation is u = −(∂L/∂w) w. An exponential trace ū of u,
    bias-corrected and scaled by the largest trace η of the network into ũ ∈ (0, 1),
    gates both the gradient and a Gaussian perturbation:

        w ← (1 − αλ) w − α (g + ξ) ∘ (1 − ũ),   ξ ~ N(0, σ² I)

    so useful weights (ũ → 1) are protected from change (against forgetting) and useless
    ones are perturbed and trained at full speed (restoring plasticity). See `upgd_step`.

    Departures from the paper: the second-order utility term ½ H_ii w² is left out (the
    paper's experiments use the first-order utility too); η is the per-seed maximum of
    the traces as they stand after this step's trace update (not bias-corrected, as in
    the authors' code), floored at the dtype's smallest positive number so that a
    network whose traces are all zero (or all negative) divides by no zero; the network
    is a small MLP on Gaussian blobs instead of the paper's on EMNIST, CIFAR-10 and
    mini-ImageNet.
    """

    id = "continual.upgd"
    paper = UPGD_PAPER
    summary = "Gradient and noise gated by 1 − scaled utility −g·w: useful weights kept, useless ones perturbed."
    params = UPGD_PARAMS
    protect_gradient = True

    def update(self, theta, grad, step):
        if step == 1:
            self.utility_trace = torch.zeros_like(theta)
        upgd_step(
            theta,
            grad,
            self.utility_trace,
            self.gaussian(theta, self.p["sigma"]),
            step,
            self.p["lr"],
            self.p["beta_utility"],
            self.p["weight_decay"],
            self.protect_gradient,
        )
