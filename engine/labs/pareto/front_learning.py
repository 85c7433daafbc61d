"""The loop shared by Pareto front learners: one training run of a preference-conditioned
model theta(alpha), evaluated along the way on a grid of preferences."""

from __future__ import annotations

import torch

from engine.labs.pareto.problems import REGRESSION_PROBLEMS
from engine.labs.pareto.recording import FRONT_METRICS, FrontRecorder, preference_grid
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

EVALUATION_GRID = Param(
    "preferences",
    "int",
    11,
    "Evaluation grid size P: the front is read at P evenly spaced "
    "preferences for two tasks, P (P + 1) / 2 for three.",
    low=2,
    high=200,
)


def dirichlet(concentration: float, tasks: int, device) -> torch.distributions.Dirichlet:
    """Dir(concentration * 1) over `tasks` weights; it samples from torch's global generator,
    which the runner seeds with the run's seed."""
    return torch.distributions.Dirichlet(
        torch.full((tasks,), float(concentration), device=device, dtype=torch.float64)
    )


class FrontLearner(Algorithm):
    """Base of the one-run front learners (not registered itself).

    A subclass gives the trainable tensors (`initial_parameters`), the map from preferences
    alpha [m, K] or [seeds, m, K] to shared weights theta(alpha) [seeds, m, d]
    (`model_weights`), the training objective per seed at a step (`training_loss`), and
    optionally a step-size multiplier per tensor and extra per-seed metrics. Each step is
    one full-batch gradient step on all seeds at once (the objective is summed over seeds,
    which are independent). At every checkpoint the front is read at the evaluation grid:
    theta(alpha_p) for each grid preference, with its task losses as the point.
    """

    family = "pareto"
    problems = REGRESSION_PROBLEMS
    plot = "pareto"
    metrics = (*FRONT_METRICS, "training_loss")

    def initial_parameters(self, g: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def model_weights(self, params: dict, alphas: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(self, params: dict, step: int, steps: int) -> torch.Tensor:
        raise NotImplementedError

    def step_scale(self, name: str) -> float:
        return 1.0

    def diagnostics(self, params: dict) -> dict:
        return {}

    def run(self, steps, rec):
        prob = self.problem
        grid, labels = preference_grid(prob.tasks, self.p["preferences"])
        grid = torch.tensor(grid, device=self.device, dtype=self.dtype)
        params = self.initial_parameters(generator(self.device, self.seed, ALGORITHM_STREAM))
        front = FrontRecorder(rec, prob, labels)
        names = list(params)
        for t in range(1, steps + 1):
            leaves = [params[name].detach().requires_grad_(True) for name in names]
            params = dict(zip(names, leaves))
            loss = self.training_loss(params, t, steps)  # [seeds]
            grads = torch.autograd.grad(loss.sum(), leaves)
            params = {
                name: (p - self.p["lr"] * self.step_scale(name) * g).detach()
                for name, p, g in zip(names, leaves, grads)
            }
            if rec.should_record(t):
                with torch.no_grad():
                    losses = prob.task_losses(self.model_weights(params, grid))  # [seeds, P, K]
                    front.record(
                        t,
                        losses.double().cpu().numpy(),
                        {"training_loss": loss.detach(), **self.diagnostics(params)},
                    )
            rec.progress(t)
