"""Retraining from scratch on the retain set: the gold standard of exact unlearning."""

from __future__ import annotations

import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.base import IterativeUnlearning
from engine.params import Param


class Retrain(IterativeUnlearning):
    """Baseline (the gold standard every unlearning method is measured against): train the
    network again, from the problem's initial weights theta_0, on the retain set D_r alone,

        theta_{t+1} = Adam(theta_t, grad L_{D_r}(theta_t)),   t = 0 .. steps - 1,

    full batch, as the original model was trained on D. The forgotten data never touch the
    result, so this is exact unlearning; its cost is a whole training run. With the run's
    steps and lr equal to the problem's train_steps and train_lr it reproduces the retrained
    reference of every unlearning run exactly, so its forget_quality_ks is 0 by construction
    and its (forget, retain) point is the reference point the front is drawn against.

    A retrained model never saw the forgotten class, and the cross-entropy it was trained
    with rewards only the retained classes' logits, so it predicts that class on (almost)
    no example: its forget accuracy on a forgotten class is 0, below chance (1 / C).
    Wall time counts the training; gradient evaluations are |D_r| per step.
    """

    id = "unlearning.retrain"
    paper = "(baseline) retraining from scratch on the retain set"
    summary = "Train the network again from its initial weights on the retain set only (exact unlearning)."
    params = (
        Param(
            "lr",
            "float",
            0.01,
            "Adam step size (the problem's train_lr reproduces the reference).",
            low=0.0,
            low_open=True,
            high=10.0,
        ),
    )

    def start(self):
        self._leaves = [p.detach().clone().requires_grad_(True) for p in self.problem.initial]
        self._optimiser = torch.optim.Adam(self._leaves, lr=self.p["lr"])
        return self._leaves

    def step(self, params, t):
        prob = self.problem
        self._optimiser.zero_grad()
        model.masked_loss(self._leaves, prob.x_train, prob.y_train, prob.retain_mask).backward()
        self._optimiser.step()
        return [p.detach() for p in self._leaves]

    def examples_per_step(self):
        return self.problem.retain_count.double().cpu()
