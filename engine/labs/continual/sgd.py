"""Plain online SGD: the baseline whose accuracy per task decays on the label-permuted stream."""

from __future__ import annotations

from engine.labs.continual.base import ContinualLearner


class SGD(ContinualLearner):
    """Stochastic gradient descent, the baseline of the UPGD paper (Elsayed & Mahmood,
    "Addressing Loss of Plasticity and Catastrophic Forgetting in Continual Learning",
    2024), where it shows loss of plasticity on the label-permuted streams:

        w ← w − α g

    with g the gradient of the step's mean cross-entropy. No departure: it is UPGD with
    σ = 0, λ = 0 and every scaled utility 0.
    """

    id = "continual.sgd"
    paper = "(baseline) stochastic gradient descent"
    summary = "Baseline: w ← w − α g, one sample at a time; loses plasticity over tasks."

    def update(self, theta, grad, step):
        theta.sub_(self.p["lr"] * grad)
