"""A small synthetic classification task for accuracy-versus-cost fronts, and the tiny
batched MLP the cost-front algorithms train on it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# The SGD settings that every trainer on this task declares alike.
SGD_MOMENTUM = Param(
    "momentum", "float", 0.9, "Heavy-ball momentum mu.", low=0.0, high=1.0, high_open=True
)
SGD_BATCH_SIZE = Param(
    "batch_size",
    "int",
    64,
    "Examples per SGD step (drawn with replacement).",
    low=1,
    high=1_000_000,
)


class BlobClassification(Problem):
    """Gaussian clusters, several per class, so no linear model separates the classes.

    For every seed: C classes, each owning M cluster centres mu_cm ~ N(0, spread^2 I_d);
    an example of class c picks one of its centres uniformly and adds N(0, I_d) noise.
    Train and test sets are drawn independently (n_train and n_test examples, classes
    uniform). With M >= 2 the classes interleave (XOR-like), so accuracy keeps rising as a
    hidden layer learns the clusters: the headroom an accuracy-versus-cost front needs.

    Seeds are a batch dimension: x_train [seeds, n_train, d], y_train [seeds, n_train]
    (long), likewise for test. Data are drawn in float64 from the problem's own stream and
    then cast, so a seed gives the same data whatever the run's dtype.
    """

    id = "pareto.blob_classification"
    family = "pareto"
    title = "Gaussian-cluster classification"
    summary = "Classes made of several Gaussian clusters each; a tiny MLP's accuracy against what it cost."
    params = (
        Param("classes", "int", 3, "Number of classes C.", low=2, high=100),
        Param(
            "clusters_per_class",
            "int",
            3,
            "Gaussian clusters M per class (M >= 2 makes the classes not linearly separable).",
            low=1,
            high=50,
        ),
        Param("n_features", "int", 2, "Input dimension d.", low=1, high=1000),
        Param(
            "spread",
            "float",
            4.0,
            "Standard deviation of the cluster centres (the noise has unit "
            "variance): larger means easier.",
            low=0.0,
            low_open=True,
            high=1000.0,
        ),
        Param("n_train", "int", 512, "Training examples per seed.", low=2, high=1_000_000),
        Param(
            "n_test",
            "int",
            2048,
            "Held-out test examples per seed (accuracy is measured on these).",
            low=1,
            high=1_000_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.classes, self.n_features = params["classes"], params["n_features"]
        clusters = params["clusters_per_class"]
        g = generator(device, seed, PROBLEM_STREAM)
        f64 = dict(generator=g, device=device, dtype=torch.float64)
        centres = params["spread"] * torch.randn(
            (seeds, self.classes * clusters, self.n_features), **f64
        )

        def draw(n):
            labels = torch.randint(0, self.classes, (seeds, n), generator=g, device=device)
            cluster = labels * clusters + torch.randint(
                0, clusters, (seeds, n), generator=g, device=device
            )
            means = centres.gather(1, cluster.unsqueeze(2).expand(-1, -1, self.n_features))
            return (means + torch.randn((seeds, n, self.n_features), **f64)).to(dtype), labels

        self.x_train, self.y_train = draw(params["n_train"])
        self.x_test, self.y_test = draw(params["n_test"])


@dataclass(frozen=True)
class MLPShape:
    """A one-hidden-layer ReLU network d -> h -> C."""

    inputs: int
    hidden: int
    outputs: int

    @property
    def macs(self) -> int:
        """Multiply-accumulates per example: d h for the first layer, h C for the second
        (biases are additions, not MACs)."""
        return self.inputs * self.hidden + self.hidden * self.outputs


HIDDEN_UNITS = Param(
    "hidden", "int", 32, "Hidden units h of the one-hidden-layer ReLU network.", low=1, high=4096
)


def init_mlp(
    shape: MLPShape, batch: tuple[int, ...], g: torch.Generator, device, dtype
) -> dict[str, torch.Tensor]:
    """Independent networks for every index of `batch` (e.g. (seeds,) or (seeds, configs)):
    weights uniform in +-1/sqrt(fan_in) (PyTorch's default for nn.Linear), biases too."""

    def uniform(size, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return (
            (2 * torch.rand((*batch, *size), generator=g, device=device, dtype=torch.float64) - 1)
            * bound
        ).to(dtype)

    return {
        "w1": uniform((shape.inputs, shape.hidden), shape.inputs),
        "b1": uniform((shape.hidden,), shape.inputs),
        "w2": uniform((shape.hidden, shape.outputs), shape.hidden),
        "b2": uniform((shape.outputs,), shape.hidden),
    }


def mlp_logits(params: dict, x: torch.Tensor, weight_map=None, activation_map=None) -> torch.Tensor:
    """Logits [..., n, C] of inputs x [..., n, d] (leading dims broadcast against the
    parameters'). `weight_map` and `activation_map`, when given, transform each layer's
    weight matrix and its input (fake quantisation); biases are left alone."""
    w1, w2 = params["w1"], params["w2"]
    if weight_map is not None:
        w1, w2 = weight_map(w1), weight_map(w2)
    if activation_map is not None:
        x = activation_map(x)
    hidden = torch.relu(x @ w1 + params["b1"].unsqueeze(-2))
    if activation_map is not None:
        hidden = activation_map(hidden)
    return hidden @ w2 + params["b2"].unsqueeze(-2)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of argmax predictions equal to the labels, over the last example axis."""
    return (logits.argmax(dim=-1) == labels).to(torch.float64).mean(dim=-1)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the example axis; logits [..., n, C], labels broadcastable to [..., n]."""
    labels = labels.expand(logits.shape[:-1])
    picked = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return (torch.logsumexp(logits, dim=-1) - picked).mean(dim=-1)


class CostObjectives:
    """The objective declaration FrontRecorder reads: accuracy (max) against a cost (min),
    reference point (0, 1.1 x the largest cost) so every trained point encloses volume."""

    def __init__(self, cost_name: str, largest_cost: float):
        self.objective_names = ["accuracy", cost_name]
        self.objective_directions = ["max", "min"]
        self._reference = [0.0, 1.1 * float(largest_cost)]

    def reference_point(self) -> list[float]:
        return list(self._reference)
