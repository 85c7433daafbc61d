"""The unlearning problem: Gaussian blobs, a small network trained on them, and a forget set.

Everything is generated from the run's seed: the data, which examples are to be
forgotten, and the model to unlearn from (trained here, the same for every algorithm run
with the same seed, so their results are paired). The retrained reference (the same
network trained from the same initial weights on the retain set alone) is built once per
run too: every method's forget quality is a test against its outputs.
"""

from __future__ import annotations

import torch

from engine.labs.unlearning import model
from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

MODEL_STREAM = 3  # the original network's initial weights: apart from the data's draws


class GaussianBlobs(Problem):
    """C classes, one isotropic Gaussian blob each: class c has centre mu_c ~ N(0, spread^2 I_d)
    and examples mu_c + N(0, I_d). Labels are balanced (n_train / C examples per class up
    to one) and shuffled; the test set is drawn the same way, independently.

    The model to unlearn from is a d -> h -> h -> C ReLU network trained by full-batch
    Adam on the whole training set. The forget set is either one class (`forget = "class"`,
    every training example of class `forget_class`) or a random subset (`forget = "random"`,
    round(forget_fraction n_train) examples drawn uniformly per seed); the retain set is the
    rest of the training set. The unseen data the membership-inference attack compares the
    forget set with are test examples of the same kind: the test examples of the forgotten
    class, or the whole test set for a random subset.
    """

    id = "unlearning.gaussian_blobs"
    family = "unlearning"
    title = "Gaussian-blob classification with a forget set"
    summary = "Five Gaussian classes, a small ReLU network trained on them, and a class or random subset to forget."
    params = (
        Param("classes", "int", 5, "Number of classes C.", low=2, high=50),
        Param("n_features", "int", 2, "Input dimension d.", low=1, high=100),
        Param(
            "spread",
            "float",
            2.5,
            "Standard deviation of the class centres (the noise has unit "
            "variance): larger means easier.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param("n_train", "int", 500, "Training examples per seed.", low=10, high=100_000),
        Param("n_test", "int", 2000, "Test examples per seed.", low=10, high=100_000),
        Param(
            "forget",
            "choice",
            "class",
            "What to forget: one whole class, or a random subset of the training set.",
            choices=("class", "random"),
        ),
        Param(
            "forget_class",
            "int",
            0,
            'The class forgotten when forget = "class" (counted from 0).',
            low=0,
            high=49,
        ),
        Param(
            "forget_fraction",
            "float",
            0.1,
            'Fraction of the training set forgotten when forget = "random".',
            low=0.0,
            low_open=True,
            high=1.0,
            high_open=True,
        ),
        Param(
            "hidden",
            "int",
            64,
            "Hidden units in each of the network's two hidden layers.",
            low=1,
            high=1024,
        ),
        Param(
            "train_steps",
            "int",
            500,
            "Full-batch Adam steps that train the original model (and the retrained reference).",
            low=1,
            high=100_000,
        ),
        Param(
            "train_lr",
            "float",
            0.01,
            "Adam step size of that training.",
            low=0.0,
            low_open=True,
            high=10.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.classes, self.n_features = params["classes"], params["n_features"]
        if params["forget"] == "class" and params["forget_class"] >= self.classes:
            raise ParamError(
                "problem.forget_class",
                f"must be below classes = {self.classes}, got {params['forget_class']}",
            )
        self.mode = params["forget"]
        g = generator(device, seed, PROBLEM_STREAM)
        f64 = dict(device=device, dtype=torch.float64)
        centres = params["spread"] * torch.randn(
            (seeds, self.classes, self.n_features), generator=g, **f64
        )

        def draw(n):
            base = torch.arange(n, device=device) % self.classes
            order = torch.rand((seeds, n), generator=g, **f64).argsort(dim=1)
            labels = base[order]
            means = centres.gather(1, labels.unsqueeze(2).expand(-1, -1, self.n_features))
            return (means + torch.randn((seeds, n, self.n_features), generator=g, **f64)).to(
                dtype
            ), labels

        self.x_train, self.y_train = draw(params["n_train"])
        self.x_test, self.y_test = draw(params["n_test"])
        n = params["n_train"]
        if self.mode == "class":
            forget = self.y_train == params["forget_class"]
            unseen = self.y_test == params["forget_class"]
        else:
            count = max(1, round(params["forget_fraction"] * n))
            ranks = torch.rand((seeds, n), generator=g, **f64).argsort(dim=1).argsort(dim=1)
            forget = ranks < count
            unseen = torch.ones_like(self.y_test, dtype=torch.bool)
        # 0/1 masks in the run's dtype: losses and accuracies are sums over them
        self.forget_mask = forget.to(dtype)
        self.retain_mask = (~forget).to(dtype)
        self.train_mask = torch.ones_like(self.forget_mask)
        self.unseen_mask = unseen.to(dtype)
        # test accuracy: the retained classes when a class is forgotten, else the whole test set
        self.test_mask = (~unseen).to(dtype) if self.mode == "class" else unseen.to(dtype)
        self.initial = model.init_mlp(
            self.n_features,
            params["hidden"],
            self.classes,
            seeds,
            generator(device, seed, MODEL_STREAM),
            device,
            dtype,
        )
        self._original = None
        self._retrained = None

    def train_on(self, mask) -> list[torch.Tensor]:
        """The network trained from the problem's initial weights on the masked training examples."""
        return model.train(
            self.initial,
            self.x_train,
            self.y_train,
            mask,
            self.p["train_steps"],
            self.p["train_lr"],
        )

    def original(self) -> list[torch.Tensor]:
        """The model to unlearn from: trained on the whole training set (built once)."""
        if self._original is None:
            self._original = self.train_on(self.train_mask)
        return self._original

    def retrained(self) -> list[torch.Tensor]:
        """The gold standard: trained from the same initial weights on the retain set only (built once)."""
        if self._retrained is None:
            self._retrained = self.train_on(self.retain_mask)
        return self._retrained

    @property
    def forget_count(self) -> torch.Tensor:
        return self.forget_mask.sum(dim=1)

    @property
    def retain_count(self) -> torch.Tensor:
        return self.retain_mask.sum(dim=1)
