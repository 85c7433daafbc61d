"""UPGD, the non-protecting variant: the utility gates the perturbation only."""

from __future__ import annotations

from engine.labs.continual.upgd import UPGD, UPGD_PAPER


class NonProtectingUPGD(UPGD):
    """Non-protecting UPGD (Elsayed & Mahmood, "Addressing Loss of Plasticity and
    Catastrophic Forgetting in Continual Learning", 2024): the ablation in which the
    scaled utility ũ gates the perturbation but not the gradient,

        w ← (1 − αλ) w − α (g + ξ ∘ (1 − ũ)),   ξ ~ N(0, σ² I)

    with u = −g ∘ w, ū its exponential trace and ũ = sigmoid(ū / ((1 − β_u^t) η)) as in
    the protecting variant (`engine.labs.continual.upgd.upgd_step`). Useless weights are
    still perturbed (plasticity), but useful ones are no longer shielded from the
    gradient, so it addresses loss of plasticity but not forgetting.

    Departures from the paper: those of the protecting variant (first-order utility,
    η floored at the dtype's smallest positive number, a small MLP on Gaussian blobs).
    """

    id = "continual.upgd_nonprotecting"
    paper = UPGD_PAPER
    summary = "Gradient step plus noise gated by 1 − scaled utility: perturbs useless weights, protects none."
    protect_gradient = False
