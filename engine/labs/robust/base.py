"""What the adversarial-training algorithms share: the loop, the metrics, the front.

Every algorithm minimises, full batch with Adam, one step per run step,

    L(θ) = natural(θ) + β · boundary(θ),

where the boundary term is measured at adversarial inputs x' found by PGD (`adversarial`).
At about 20 checkpoints (log- and evenly spaced, and the last) it measures, per seed, the
clean accuracy and the robust accuracy (the problem's PGD attack, cross-entropy ascent) on
the test set, and adds each seed's (clean_accuracy, robust_accuracy) point, labelled with
β and the step, to the run's front (both maximised, reference point (0, 0)).
"""

from __future__ import annotations

import time

import torch

from engine.labs.pareto.recording import thinned_checkpoints
from engine.labs.robust.attack import robust_accuracy
from engine.labs.unlearning import model
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

OBJECTIVES = ("clean_accuracy", "robust_accuracy")
DIRECTIONS = ("max", "max")
REFERENCE_POINT = (0.0, 0.0)
EVALUATIONS = 20  # checkpoints at which the (costly) PGD evaluation runs
METRICS = OBJECTIVES + ("natural_loss", "boundary_loss", "total_loss", "wall_time_s")


def attack_params(default_steps: int = 5):
    """The parameters every algorithm shares: β, the step size and the training attack."""
    return (
        Param(
            "beta",
            "float",
            6.0,
            "Weight β of the boundary (robustness) term: larger trades clean for robust accuracy.",
            low=0.0,
            high=1000.0,
        ),
        Param("lr", "float", 0.01, "Adam step size.", low=0.0, low_open=True, high=10.0),
        Param(
            "attack_steps",
            "int",
            default_steps,
            "PGD steps of the training attack (step size 2.5 epsilon / steps).",
            low=1,
            high=1000,
        ),
    )


class AdversarialTraining(Algorithm):
    """Subclasses give `adversarial(params, x, y, g)` (the inner maximisation, x' detached)
    and `loss_terms(params, x, x_adv, y)` ({"natural": [seeds], "boundary": [seeds]})."""

    family = "robust"
    problems = ("robust.two_moons",)
    plot = "pareto"
    metrics = METRICS
    measured = ("wall_time_s",)  # wall-clock time: differs between identical runs

    def step_size(self) -> float:
        return 2.5 * self.problem.epsilon / self.p["attack_steps"]

    def adversarial(self, params, x, y, g) -> torch.Tensor:
        raise NotImplementedError

    def loss_terms(self, params, x, x_adv, y) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def run(self, steps, rec):
        prob = self.problem
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        rec.objectives(list(OBJECTIVES), list(DIRECTIONS), list(REFERENCE_POINT))
        evaluations = thinned_checkpoints(rec.checkpoints, EVALUATIONS)
        leaves = [p.detach().clone().requires_grad_(True) for p in prob.initial]
        optimiser = torch.optim.Adam(leaves, lr=self.p["lr"])
        beta = self.p["beta"]
        points, seeds, labels = [], [], []
        elapsed = 0.0
        for t in range(1, steps + 1):
            since = time.perf_counter()
            x_adv = self.adversarial(leaves, prob.x_train, prob.y_train, g)
            terms = self.loss_terms(leaves, prob.x_train, x_adv, prob.y_train)
            total = terms["natural"] + beta * terms["boundary"]
            optimiser.zero_grad()
            total.sum().backward()  # seeds are independent: each gets its own gradient
            optimiser.step()
            elapsed += time.perf_counter() - since
            if t in evaluations:
                params = [p.detach() for p in leaves]
                clean = model.accuracy(
                    params, prob.x_test, prob.y_test, torch.ones_like(prob.y_test, dtype=self.dtype)
                )
                robust = robust_accuracy(
                    params, prob.x_test, prob.y_test, prob.epsilon, prob.p["attack_steps"], g
                )
                rec.metrics(
                    t,
                    {
                        "clean_accuracy": clean,
                        "robust_accuracy": robust,
                        "natural_loss": terms["natural"].detach(),
                        "boundary_loss": terms["boundary"].detach(),
                        "total_loss": total.detach(),
                        "wall_time_s": torch.full((self.seeds,), elapsed, dtype=torch.float64),
                    },
                )
                for s in range(self.seeds):
                    points.append([float(clean[s]), float(robust[s])])
                    seeds.append(s)
                    labels.append({"beta": beta, "step": t})
                rec.pareto(t, points, seeds, labels)
            rec.progress(t)
        self.params = [p.detach() for p in leaves]
