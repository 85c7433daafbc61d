"""An accuracy-versus-training-time front from one run with a multiplicative cyclic
learning-rate schedule."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.pareto.classification import (
    HIDDEN_UNITS,
    SGD_BATCH_SIZE,
    SGD_MOMENTUM,
    BlobClassification,
    CostObjectives,
    MLPShape,
    accuracy,
    cross_entropy,
    init_mlp,
    mlp_logits,
)
from engine.metrics import hypervolume
from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


def cycle_ends(steps: int, cycles: int, multiplier: float) -> list[int]:
    """The steps e_1 < ... < e_K = steps at which the K cycles end.

    Cycle k (k = 0..K-1) is m^k times as long as the first, so with
    S_k = sum_{j<k} m^j the k-th end is e_k = round(steps S_k / S_K); for m = 1 the cycles
    are equal. Rounding keeps the last end exactly at `steps`.
    """
    partial = np.cumsum([multiplier**k for k in range(cycles)])
    ends = [round(float(steps * s / partial[-1])) for s in partial]
    ends[-1] = steps
    return ends


def cyclic_learning_rate(step: int, ends: list[int], peak: float, shape: str) -> float:
    """The learning rate used by training step `step` (1-based).

    In the cycle [e_{k-1}, e_k) (e_0 = 0) of length L, the step is at position
    u = (step - 1 - e_{k-1}) / L in [0, 1) and the rate decays from the peak:
    linear: peak (1 - u); cosine: peak (1 + cos(pi u)) / 2. Every cycle restarts at the peak.
    """
    start = 0
    for end in ends:
        if step <= end:
            u = (step - 1 - start) / (end - start)
            return (
                peak * (1.0 - u)
                if shape == "linear"
                else peak * 0.5 * (1.0 + math.cos(math.pi * u))
            )
        start = end
    raise ValueError(f"step {step} is past the schedule's last step {ends[-1]}")


class CyclicTradeoff(Algorithm):
    """Fast Benchmarking of Accuracy vs. Training Time with Cyclic Learning Rates

    One training run whose learning rate restarts K times, each cycle m times as long as
    the one before (a multiplicative cyclic schedule, `cycle_ends`). Within a cycle the
    rate decays from the peak towards zero (`cyclic_learning_rate`), so every cycle end is
    a fully annealed model, as if a run with that budget had been trained on its own. The
    snapshot at the end of cycle k is one point of the trade-off curve:

        (accuracy(theta_{e_k}), e_k)   with accuracy maximised and e_k (training steps) minimised,

    and the run's K points are the accuracy-versus-training-time curve. Training is
    mini-batch SGD with heavy-ball momentum on the cross-entropy of a one-hidden-layer
    ReLU network:  v <- mu v + g,  theta <- theta - eta_t v.

    Departures: the paper trains ResNets on ImageNet and CIFAR and measures wall-clock
    time; here the model is a tiny MLP on the Gaussian-cluster task and time is counted in
    training steps (deterministic, and proportional to wall time for a fixed model and
    batch). The paper warms the rate up at the start; the warm-up is left out, the
    network being small enough to start at the peak.

    Metrics per seed: ``hypervolume`` of the snapshots so far (against accuracy 0 and
    1.1 x the run's steps), ``test_accuracy`` and ``learning_rate`` at every checkpoint.
    """

    id = "pareto.cyclic_lr"
    family = "pareto"
    paper = "Fast Benchmarking of Accuracy vs. Training Time with Cyclic Learning Rates"
    summary = "One run with restarting, growing learning-rate cycles; each cycle end is a point of the accuracy-vs-time curve."
    problems = (BlobClassification.id,)
    plot = "pareto"
    metrics = ("hypervolume", "test_accuracy", "learning_rate")
    params = (
        HIDDEN_UNITS,
        Param(
            "cycles",
            "int",
            5,
            "Number of learning-rate cycles K (one front point each).",
            low=1,
            high=100,
        ),
        Param(
            "multiplier",
            "float",
            2.0,
            "Length ratio m of each cycle to the one before.",
            low=1.0,
            high=10.0,
        ),
        Param("shape", "choice", "linear", "Decay within a cycle.", choices=("linear", "cosine")),
        Param(
            "peak_lr",
            "float",
            0.02,
            "Learning rate at the start of every cycle.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        SGD_MOMENTUM,
        SGD_BATCH_SIZE,
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self.shape = MLPShape(problem.n_features, params["hidden"], problem.classes)

    def run(self, steps, rec):
        p, prob = self.p, self.problem
        if steps < p["cycles"]:
            raise ParamError(
                "run.steps", f"must be at least algorithm.cycles ({p['cycles']}), got {steps}"
            )
        ends = cycle_ends(steps, p["cycles"], p["multiplier"])
        if len(set(ends)) < len(ends) or ends[0] < 1:
            raise ParamError(
                "algorithm.cycles",
                f"{p['cycles']} cycles with multiplier {p['multiplier']} leave "
                f"a cycle of no steps in a run of {steps} steps (ends {ends})",
            )
        objectives = CostObjectives("training_steps", steps)
        reference = objectives.reference_point()
        rec.objectives(objectives.objective_names, objectives.objective_directions, reference)
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        params = init_mlp(self.shape, (self.seeds,), g, self.device, self.dtype)
        velocity = {name: torch.zeros_like(value) for name, value in params.items()}
        n_train = prob.x_train.shape[1]
        snapshots: list[np.ndarray] = []  # per cycle end: [seeds]
        for t in range(1, steps + 1):
            lr = cyclic_learning_rate(t, ends, p["peak_lr"], p["shape"])
            rows = torch.randint(
                0, n_train, (self.seeds, p["batch_size"]), generator=g, device=self.device
            )
            x = prob.x_train.gather(1, rows.unsqueeze(2).expand(-1, -1, prob.n_features))
            leaves = {name: value.requires_grad_(True) for name, value in params.items()}
            loss = cross_entropy(mlp_logits(leaves, x), prob.y_train.gather(1, rows))
            grads = torch.autograd.grad(loss.sum(), list(leaves.values()))
            with torch.no_grad():
                for (name, value), grad in zip(leaves.items(), grads):
                    velocity[name] = p["momentum"] * velocity[name] + grad
                    params[name] = value.detach() - lr * velocity[name]
            cycle_end = t in ends
            if cycle_end or rec.should_record(t):
                with torch.no_grad():
                    test_accuracy = (
                        accuracy(mlp_logits(params, prob.x_test), prob.y_test).cpu().numpy()
                    )
                if cycle_end:
                    snapshots.append(test_accuracy)
                    self._record_front(rec, t, snapshots, ends)
                points = self._points(snapshots, ends)
                volumes = [
                    hypervolume(points[s], reference, objectives.objective_directions)
                    if snapshots
                    else 0.0
                    for s in range(self.seeds)
                ]
                rec.metrics(
                    t,
                    {
                        "hypervolume": np.array(volumes),
                        "test_accuracy": test_accuracy,
                        "learning_rate": np.full(self.seeds, lr),
                    },
                )
            rec.progress(t)

    def _points(self, snapshots, ends) -> np.ndarray:
        """[seeds, cycles so far, 2]: (accuracy, cycle-end step) per snapshot."""
        acc = np.stack(snapshots, axis=1) if snapshots else np.zeros((self.seeds, 0))
        cost = np.broadcast_to(np.asarray(ends[: acc.shape[1]], dtype=np.float64), acc.shape)
        return np.stack([acc, cost], axis=2)

    def _record_front(self, rec, step, snapshots, ends):
        points = self._points(snapshots, ends)
        count = points.shape[1]
        labels = [{"cycle": k + 1, "cycle_end_step": ends[k]} for k in range(count)] * self.seeds
        rec.pareto(step, points.reshape(-1, 2), np.repeat(np.arange(self.seeds), count), labels)
