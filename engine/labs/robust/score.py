"""SCORE: TRADES with squared error (ℓ2 distance between output vectors) in place of CE and KL."""

from __future__ import annotations

import torch

from engine.labs.robust.attack import pgd, uniform_start
from engine.labs.robust.base import AdversarialTraining, attack_params
from engine.labs.unlearning import model
from engine.params import Param


def smoothed_targets(y: torch.Tensor, classes: int, smoothing: float, dtype) -> torch.Tensor:
    """One-hot targets with label smoothing: 1 - smoothing on the label, smoothing / (C - 1)
    on each other class."""
    onehot = torch.nn.functional.one_hot(y, classes).to(dtype)
    return onehot * (1 - smoothing) + (1 - onehot) * smoothing / (classes - 1)


def squared_error(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """||p - q||_2^2 over the last dimension."""
    return ((p - q) ** 2).sum(dim=-1)


class SCORE(AdversarialTraining):
    """SCORE with the squared error (Pang et al., "Robustness and Accuracy Could Be
    Reconcilable by (Proper) Definition"): TRADES with the KL divergence and the
    cross-entropy replaced by the squared ℓ2 distance between output vectors,

        min_θ E [ ||f(x) - ỹ||_2^2 + β · max_{||x' - x||_∞ <= ε} ||f(x) - f(x')||_2^2 ],

    f the softmax output and ỹ the label-smoothed one-hot target (1 - s on the label,
    s / (C - 1) elsewhere). A distance metric keeps the robust error self-consistent
    (local equivariance rather than the invariance KL's asymmetry imposes). The inner max:
    PGD on ||f(x') - f(x)||^2, f(x) fixed, from a uniform point of the ε-ball, as in the
    authors' code.

    Departures: full-batch Adam on a small 2-D problem; no input clipping to [0, 1]; the
    attack step is 2.5 ε / steps.
    """

    id = "robust.score"
    paper = "Robustness and Accuracy Could Be Reconcilable by (Proper) Definition"
    summary = (
        "TRADES with squared error in place of CE and KL (SCORE): a distance, not a divergence."
    )
    params = attack_params() + (
        Param(
            "label_smoothing",
            "float",
            0.1,
            "Label smoothing s of the squared-error target.",
            low=0.0,
            high=0.5,
        ),
    )

    def adversarial(self, params, x, y, g):
        detached = [p.detach() for p in params]
        with torch.no_grad():
            natural = torch.softmax(model.forward(detached, x), dim=-1)
        eps = self.problem.epsilon
        return pgd(
            lambda z: squared_error(torch.softmax(model.forward(detached, z), dim=-1), natural),
            x,
            eps,
            self.step_size(),
            self.p["attack_steps"],
            uniform_start(x, eps, g),
        )

    def loss_terms(self, params, x, x_adv, y):
        p = torch.softmax(model.forward(params, x), dim=-1)
        q = torch.softmax(model.forward(params, x_adv), dim=-1)
        target = smoothed_targets(y, p.shape[-1], self.p["label_smoothing"], p.dtype)
        return {
            "natural": squared_error(p, target).mean(dim=1),
            "boundary": squared_error(q, p).mean(dim=1),
        }
