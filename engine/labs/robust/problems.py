"""Two moons: a 2-D binary task whose classes interleave, so a small ℓ∞ ball around a point
near the boundary holds points of the other class and robustness costs clean accuracy.

The generator `two_moons` is shared with the private-training lab, which draws its public
data from a shifted copy of the same task.
"""

from __future__ import annotations

import math

import torch

from engine.labs.unlearning import model
from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

MODEL_STREAM = 3  # the initial weights: apart from the data's draws
CLASSES = 2


def two_moons(
    n: int, noise: float, seeds: int, g, device, dtype, angle: float = 0.0, offset=(0.0, 0.0)
):
    """n examples per seed [seeds, n, 2] and labels [seeds, n], half of each class (up to one),
    in a random order: class 0 on the upper arc (cos t, sin t), class 1 on the lower arc
    (1 - cos t, 1/2 - sin t), t ~ U[0, π], plus N(0, noise^2 I) each; then rotated by
    `angle` (radians, about the origin) and translated by `offset` (a shifted distribution)."""
    f64 = dict(device=device, dtype=torch.float64)
    labels = (torch.arange(n, device=device) % CLASSES).expand(seeds, n)
    labels = labels.gather(1, torch.rand((seeds, n), generator=g, **f64).argsort(dim=1))
    t = math.pi * torch.rand((seeds, n), generator=g, **f64)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=2)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=2)
    x = torch.where(labels.unsqueeze(2) == 0, upper, lower)
    x = x + noise * torch.randn((seeds, n, 2), generator=g, **f64)
    c, s = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[c, s], [-s, c]], **f64)  # x @ rotation turns x by +angle
    x = x @ rotation + torch.tensor(offset, **f64)
    return x.to(dtype), labels.clone()


class TwoMoons(Problem):
    """Two interleaved half circles with Gaussian noise (`two_moons`), a training and a test
    set per seed, the initial weights of a 2 -> h -> h -> 2 ReLU network (the same for every
    algorithm run with the same seed, so runs are paired), and the threat model: an ℓ∞ ball
    of radius `epsilon` and the PGD attack that measures robust accuracy on the test set."""

    id = "robust.two_moons"
    family = "robust"
    title = "Two moons under an ℓ∞ PGD attack"
    summary = (
        "Two interleaved half circles; robust accuracy under an ℓ∞ PGD attack of radius epsilon."
    )
    params = (
        Param("n_train", "int", 300, "Training examples per seed.", low=10, high=100_000),
        Param("n_test", "int", 1000, "Test examples per seed.", low=10, high=100_000),
        Param(
            "noise",
            "float",
            0.15,
            "Standard deviation of the Gaussian noise added to each point.",
            low=0.0,
            high=10.0,
        ),
        Param(
            "epsilon",
            "float",
            0.25,
            "Radius of the ℓ∞ ball the attacker may move each input in.",
            low=0.0,
            high=10.0,
        ),
        Param(
            "attack_steps",
            "int",
            10,
            "PGD steps of the evaluation attack (step size 2.5 epsilon / steps, random start).",
            low=1,
            high=1000,
        ),
        Param(
            "hidden",
            "int",
            32,
            "Hidden units in each of the network's two hidden layers.",
            low=1,
            high=1024,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        g = generator(device, seed, PROBLEM_STREAM)
        self.x_train, self.y_train = two_moons(
            params["n_train"], params["noise"], seeds, g, device, dtype
        )
        self.x_test, self.y_test = two_moons(
            params["n_test"], params["noise"], seeds, g, device, dtype
        )
        self.epsilon = params["epsilon"]
        self.initial = model.init_mlp(
            2,
            params["hidden"],
            CLASSES,
            seeds,
            generator(device, seed, MODEL_STREAM),
            device,
            dtype,
        )
