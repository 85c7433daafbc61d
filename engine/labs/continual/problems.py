"""The label-permuted stream: Gaussian blobs whose class names are reshuffled every task.

Every seed has C class centres in R^d. A sample draws a latent class y uniformly, an input
x = μ_y + s·ε (ε ~ N(0, I)), and is labelled π_k(y), where π_k is task k's permutation of
the C labels. Inputs never change their distribution; only the map from inputs to labels
does, every `task_steps` steps, so a learner must relearn the output mapping at every
task and any drop in its accuracy from one task to the next is a loss of plasticity, not
a harder task. The problem also holds the initial weights of the MLP every algorithm
trains, so algorithms run with the same seed start from the same network and see the
same stream (common random numbers).
"""

from __future__ import annotations

import math

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

NETWORK_STREAM = 3  # the initial weights: apart from the stream of samples and permutations
MAX_FLOATS = 10**8  # per seed, in the held-out set, the network, or one step's batch
DRAW_FLOATS = 2**20  # per seed, in one draw of a task's samples


class LabelPermutedBlobs(Problem):
    """Gaussian blobs with a new random label permutation every `task_steps` steps.

    Task k (counted from 0) labels latent class y as π_k(y); every π_k, the first included,
    is drawn uniformly. A held-out evaluation set of `eval_samples` inputs per seed, drawn
    once, measures the network on every task so far at each task's end (the accuracy
    matrix behind average accuracy and backward transfer): since the inputs are shared,
    one forward pass scores all tasks, each against its own permutation of the labels.
    """

    id = "continual.label_permuted_blobs"
    family = "continual"
    title = "Label-permuted Gaussian blobs (a small stand-in for label-permuted EMNIST)"
    summary = (
        "C Gaussian classes in R^d; the label of each class is reshuffled every task_steps steps."
    )
    params = (
        Param(
            "classes",
            "int",
            10,
            "Number of classes C (and outputs of the network).",
            low=2,
            high=1000,
        ),
        Param("dim", "int", 16, "Input dimension d.", low=1, high=10_000),
        Param(
            "spread",
            "float",
            0.7,
            "Standard deviation s of each blob around its centre; the centres are "
            "drawn N(0, I), so a larger spread makes classes overlap.",
            low=0.0,
            high=100.0,
        ),
        Param(
            "task_steps",
            "int",
            200,
            "Steps per task: a new label permutation every this many steps.",
            low=1,
            high=10_000_000,
        ),
        Param(
            "batch",
            "int",
            1,
            "Samples per step (1: one sample at a time, as in the paper).",
            low=1,
            high=100_000,
        ),
        Param(
            "eval_samples",
            "int",
            500,
            "Held-out inputs per seed that score every task at each task's end.",
            low=1,
            high=1_000_000,
        ),
        Param(
            "hidden",
            "ints",
            [64, 64],
            "Widths of the MLP's hidden ReLU layers.",
            low=1,
            high=100_000,
            max_len=8,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.classes = params["classes"]
        self.dim = params["dim"]
        self.task_steps = params["task_steps"]
        self.batch = params["batch"]
        sizes = {
            "problem.eval_samples": params["eval_samples"] * self.dim,
            "problem.hidden": sum(a * b + b for (a, b), _ in self.layer_shapes()),
            "problem.batch": self.batch * self.dim,
        }
        for name, floats in sizes.items():
            if floats > MAX_FLOATS:
                what = {
                    "problem.eval_samples": "the held-out set (eval_samples × dim)",
                    "problem.hidden": "the network's weights",
                    "problem.batch": "one step's inputs (batch × dim)",
                }
                raise ParamError(
                    name,
                    f"{what[name]} would hold {floats:,} numbers per seed; at most {MAX_FLOATS:,}",
                )
        self._stream = generator(device, seed, PROBLEM_STREAM)
        self.centres = torch.randn(
            seeds, self.classes, self.dim, generator=self._stream, device=device, dtype=dtype
        )
        self.eval_inputs, self.eval_classes = self._draw(params["eval_samples"])
        self._permutations: list[torch.Tensor] = []  # [seeds, C] per task, drawn in task order
        self._task_draws: tuple[int, int, torch.Tensor, torch.Tensor] | None = (
            None  # first step, end, draws
        )

    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples per seed: inputs [seeds, n, d] and their latent classes [seeds, n]."""
        latent = torch.randint(
            self.classes, (self.seeds, n), generator=self._stream, device=self.device
        )
        noise = torch.randn(
            self.seeds, n, self.dim, generator=self._stream, device=self.device, dtype=self.dtype
        )
        centres = self.centres.gather(1, latent.unsqueeze(-1).expand(-1, -1, self.dim))
        return centres + self.p["spread"] * noise, latent

    def permutation(self, task: int) -> torch.Tensor:
        """π_task for every seed, [seeds, C]: π_task[s, y] is the label of latent class y."""
        while len(self._permutations) <= task:
            keys = torch.rand(self.seeds, self.classes, generator=self._stream, device=self.device)
            self._permutations.append(keys.argsort(dim=1))
        return self._permutations[task]

    def task_of(self, step: int) -> int:
        """The task (from 0) that step t (from 1) belongs to."""
        return (step - 1) // self.task_steps

    def samples(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Step t's inputs [seeds, batch, d] and labels [seeds, batch]. Samples are drawn a
        block of steps at a time (a whole task when it is small), so the stream is the same
        whichever algorithm reads it, as long as it reads the steps in order."""
        task = self.task_of(step)
        if self._task_draws is None or not self._task_draws[0] <= step < self._task_draws[1]:
            block = max(1, DRAW_FLOATS // (self.batch * self.dim))
            end = min(step + block, (task + 1) * self.task_steps + 1)
            inputs, latent = self._draw((end - step) * self.batch)
            self._task_draws = (step, end, inputs, self.permutation(task).gather(1, latent))
        first, _, inputs, labels = self._task_draws
        start = (step - first) * self.batch
        return inputs[:, start : start + self.batch], labels[:, start : start + self.batch]

    def layer_shapes(self) -> list[tuple[tuple[int, int], tuple[int]]]:
        """((fan_in, fan_out), (fan_out,)): the weight and bias shape of each layer."""
        widths = [self.dim, *self.p["hidden"], self.classes]
        return [((fan_in, fan_out), (fan_out,)) for fan_in, fan_out in zip(widths[:-1], widths[1:])]

    def initial_network(self) -> torch.Tensor:
        """The MLP's weights and biases for every seed as one flat vector per seed,
        [seeds, P], layer by layer (W_1 row-major [fan_in, fan_out], then b_1, ...):
        torch.nn.Linear's default initialisation, U(−1/√fan_in, 1/√fan_in) for both."""
        g = generator(self.device, self.seed, NETWORK_STREAM)
        parts = []
        for weight_shape, bias_shape in self.layer_shapes():
            bound = 1.0 / math.sqrt(weight_shape[0])
            for shape in (weight_shape, bias_shape):
                u = torch.rand(
                    (self.seeds, math.prod(shape)),
                    generator=g,
                    device=self.device,
                    dtype=self.dtype,
                )
                parts.append((2.0 * u - 1.0) * bound)
        return torch.cat(parts, dim=1)
