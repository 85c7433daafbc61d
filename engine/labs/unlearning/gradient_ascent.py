"""Gradient ascent on the forget set: unlearning by undoing the training loss there."""

from __future__ import annotations

from engine.labs.unlearning import model
from engine.labs.unlearning.base import IterativeUnlearning
from engine.params import Param


def ascent_step(params, grads, lr: float):
    """theta + lr * grad L_f: a step *up* the forget loss."""
    return [p + lr * g for p, g in zip(params, grads)]


class GradientAscent(IterativeUnlearning):
    """Baseline: start from the trained model theta_0 and climb the loss of the forget set D_f,

        theta_{t+1} = theta_t + lr * grad L_{D_f}(theta_t),

    full batch. Forget accuracy falls fast, but nothing holds the retain set in place, so
    retain accuracy falls with it once the steps go on: its trajectory traces a
    forget-retain front from the original model downwards. Gradient evaluations are |D_f|
    per step (the cheapest iterative baseline per step).
    """

    id = "unlearning.gradient_ascent"
    paper = "(baseline) gradient ascent on the forget set"
    summary = "Gradient ascent on the forget set's loss from the trained model."
    params = (
        Param(
            "lr", "float", 0.005, "Gradient-ascent step size.", low=0.0, low_open=True, high=100.0
        ),
    )

    def start(self):
        return self.problem.original()

    def step(self, params, t):
        prob = self.problem
        return ascent_step(
            params,
            model.gradients(params, prob.x_train, prob.y_train, prob.forget_mask),
            self.p["lr"],
        )

    def examples_per_step(self):
        return self.problem.forget_count.double().cpu()
