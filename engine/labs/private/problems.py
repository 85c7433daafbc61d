"""Two moons with private data and public data of a shifted input distribution.

The private training set and the test set are two moons (`engine.labs.robust.problems.two_moons`);
the public set is the same task with its inputs rotated and translated. A network
pretrained on the public set (full-batch Adam, no privacy cost) starts in a good basin of
the private task's loss but not at its optimum: the two-phase picture of "Why Is Public
Pretraining Necessary for Private Model Training?".
"""

from __future__ import annotations

import math

import torch

from engine.labs.robust.problems import CLASSES, two_moons
from engine.labs.unlearning import model
from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

MODEL_STREAM = 3  # the initial weights: apart from the data's draws
PUBLIC_STREAM = 4  # the public data: adding it leaves the private draws unchanged


class ShiftedMoons(Problem):
    """Private two moons (training and test set) and public two moons whose inputs are
    turned by `shift_angle` degrees about the origin and moved by (`shift_offset`, 0); the
    initial weights of a 2 -> h -> h -> 2 ReLU network, the same for both starts (so runs
    with the same seed are paired); and that network pretrained on the public set."""

    id = "private.shifted_moons"
    family = "private"
    title = "Two moons, private, with public data of a shifted distribution"
    summary = "Private two moons and a rotated, translated public copy to pretrain on."
    params = (
        Param("n_train", "int", 500, "Private training examples per seed.", low=10, high=100_000),
        Param("n_test", "int", 1000, "Test examples per seed.", low=10, high=100_000),
        Param("n_public", "int", 500, "Public examples per seed.", low=10, high=100_000),
        Param(
            "noise",
            "float",
            0.1,
            "Standard deviation of the Gaussian noise added to each point.",
            low=0.0,
            high=10.0,
        ),
        Param(
            "shift_angle",
            "float",
            30.0,
            "Rotation of the public inputs, in degrees.",
            low=-180.0,
            high=180.0,
        ),
        Param(
            "shift_offset",
            "float",
            0.3,
            "Translation of the public inputs along the first axis.",
            low=-10.0,
            high=10.0,
        ),
        Param(
            "hidden",
            "int",
            32,
            "Hidden units in each of the network's two hidden layers.",
            low=1,
            high=1024,
        ),
        Param(
            "pretrain_steps",
            "int",
            300,
            "Full-batch Adam steps of pretraining on the public set.",
            low=1,
            high=100_000,
        ),
        Param(
            "pretrain_lr",
            "float",
            0.01,
            "Adam step size of that pretraining.",
            low=0.0,
            low_open=True,
            high=10.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        g = generator(device, seed, PROBLEM_STREAM)
        noise = params["noise"]
        self.x_train, self.y_train = two_moons(params["n_train"], noise, seeds, g, device, dtype)
        self.x_test, self.y_test = two_moons(params["n_test"], noise, seeds, g, device, dtype)
        self.x_public, self.y_public = two_moons(
            params["n_public"],
            noise,
            seeds,
            generator(device, seed, PUBLIC_STREAM),
            device,
            dtype,
            angle=math.radians(params["shift_angle"]),
            offset=(params["shift_offset"], 0.0),
        )
        self.initial = model.init_mlp(
            2,
            params["hidden"],
            CLASSES,
            seeds,
            generator(device, seed, MODEL_STREAM),
            device,
            dtype,
        )
        self._pretrained = None

    def pretrained(self) -> list[torch.Tensor]:
        """The initial network trained on the public set alone (built once)."""
        if self._pretrained is None:
            self._pretrained = model.train(
                self.initial,
                self.x_public,
                self.y_public,
                torch.ones_like(self.y_public, dtype=self.dtype),
                self.p["pretrain_steps"],
                self.p["pretrain_lr"],
            )
        return self._pretrained
