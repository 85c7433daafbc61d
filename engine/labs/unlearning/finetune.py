"""Fine-tuning on the retain set: the cheap approximation of retraining."""

from __future__ import annotations

from engine.labs.unlearning import model
from engine.labs.unlearning.base import IterativeUnlearning
from engine.params import Param


class Finetune(IterativeUnlearning):
    """Baseline: start from the trained model theta_0 and take full-batch gradient-descent
    steps on the retain set D_r only,

        theta_{t+1} = theta_t - lr * grad L_{D_r}(theta_t),

    hoping the forget set is forgotten as the weights drift (catastrophic forgetting). Nothing
    pushes the forget set away, so forget accuracy falls slowly or not at all, while retain
    accuracy stays high: its front lies near the original model. Gradient evaluations are
    |D_r| per step.
    """

    id = "unlearning.finetune"
    paper = "(baseline) fine-tuning on the retain set"
    summary = "Gradient descent on the retain set from the trained model."
    params = (
        Param(
            "lr", "float", 0.1, "Gradient-descent step size.", low=0.0, low_open=True, high=100.0
        ),
    )

    def start(self):
        return self.problem.original()

    def step(self, params, t):
        prob = self.problem
        grads = model.gradients(params, prob.x_train, prob.y_train, prob.retain_mask)
        return [p - self.p["lr"] * g for p, g in zip(params, grads)]

    def examples_per_step(self):
        return self.problem.retain_count.double().cpu()
