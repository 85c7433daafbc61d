"""A decomposable combinatorial bandit standing in for neural architecture search: an
architecture is a tuple of choices, its loss a known function of them (no network is trained)."""

from __future__ import annotations

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# The optimum is found by enumerating every architecture, for every seed at once.
MAX_ARCHITECTURES = 2**20


class ArchitectureSearch(Problem):
    """N decisions (layers or edges), K choices each; architecture a = (a_1, ..., a_N). Its
    expected loss is additive plus a chain of pairwise interactions:

        mu(a) = (1 - lam) / N sum_i c_i(a_i) + lam / (N - 1) sum_{i<N} w_i(a_i, a_{i+1})

    with every c_i(k), w_i(k, k') ~ U[0, 1] drawn per seed from the problem's stream
    (lam = ``interaction``; with N = 1 the pair term is absent). mu lies in [0, 1]. An
    evaluation returns (1 - sigma) mu(a) + sigma B with B ~ Bernoulli(mu(a)): in [0, 1],
    mean mu(a), sigma = ``noise``. The best architecture a* = argmin mu is found exactly by
    enumerating all K^N (at most 2^20).
    """

    id = "bandits.architecture_search"
    family = "bandits"
    title = "Decomposable architecture search bandit"
    summary = "Tuples of choices whose loss is additive plus pairwise interactions, with noise; optimum by enumeration."
    params = (
        Param(
            "decisions",
            "int",
            6,
            "Number N of decisions (layers or edges), one agent each.",
            low=1,
            high=20,
        ),
        Param(
            "choices", "int", 4, "Number K of choices (operations) per decision.", low=2, high=32
        ),
        Param(
            "interaction",
            "float",
            0.0,
            "lam: share of the loss from pairs of neighbouring decisions (0 = additive).",
            low=0.0,
            high=1.0,
        ),
        Param(
            "noise",
            "float",
            0.5,
            "sigma: an evaluation is (1 - sigma) mu + sigma Bernoulli(mu).",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.decisions, self.choices = params["decisions"], params["choices"]
        if self.choices**self.decisions > MAX_ARCHITECTURES:
            raise ParamError(
                "problem.decisions",
                f"{self.choices}^{self.decisions} architectures exceed the "
                f"{MAX_ARCHITECTURES} that enumeration (the exact optimum) allows; use fewer "
                f"decisions or choices",
            )
        self.interaction, self.noise = params["interaction"], params["noise"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        n, k = self.decisions, self.choices
        f64 = {"dtype": torch.float64, "device": device}
        self.unary = torch.rand((seeds, n, k), generator=self._gen, **f64)
        self.pairwise = torch.rand((seeds, max(n - 1, 0), k, k), generator=self._gen, **f64)
        self._optimum = None

    @property
    def additive(self) -> bool:
        return self.interaction == 0.0 or self.decisions == 1

    def _weights(self) -> tuple[float, float]:
        n = self.decisions
        if n == 1:
            return 1.0, 0.0
        return (1.0 - self.interaction) / n, self.interaction / (n - 1)

    def expected_loss(self, arms: torch.Tensor) -> torch.Tensor:
        """mu(a) for arms [seeds, N] (long) -> [seeds]."""
        unary_w, pair_w = self._weights()
        total = unary_w * self.unary.gather(2, arms.unsqueeze(-1)).squeeze(-1).sum(1)
        if self.decisions > 1:
            k = self.choices
            flat = self.pairwise.reshape(self.seeds, self.decisions - 1, k * k)
            pairs = (arms[:, :-1] * k + arms[:, 1:]).unsqueeze(-1)
            total = total + pair_w * flat.gather(2, pairs).squeeze(-1).sum(1)
        return total

    def evaluate(self, arms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(observed loss, expected loss mu) for arms [seeds, N]."""
        mu = self.expected_loss(arms)
        if self.noise == 0.0:
            return mu, mu
        coin = (
            torch.rand(mu.shape, generator=self._gen, dtype=mu.dtype, device=mu.device) < mu
        ).to(mu.dtype)
        return (1.0 - self.noise) * mu + self.noise * coin, mu

    def all_expected_losses(self) -> torch.Tensor:
        """mu of every architecture, [seeds, K^N]; index sum_i a_i K^{N-1-i} (decision 1 most significant)."""
        n, k = self.decisions, self.choices
        unary_w, pair_w = self._weights()
        table = torch.zeros((self.seeds,) + (k,) * n, dtype=torch.float64, device=self.device)
        for i in range(n):
            shape = [self.seeds] + [1] * n
            shape[1 + i] = k
            table = table + unary_w * self.unary[:, i].reshape(shape)
            if i < n - 1:
                shape[2 + i] = k
                table = table + pair_w * self.pairwise[:, i].reshape(shape)
        return table.reshape(self.seeds, -1)

    def decode(self, index: torch.Tensor) -> torch.Tensor:
        """Architecture tuples [seeds, N] from enumeration indices [seeds]."""
        digits = []
        for _ in range(self.decisions):
            digits.append(index % self.choices)
            index = index // self.choices
        return torch.stack(digits[::-1], dim=1)

    def optimum(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu*, a*) by enumeration: [seeds] and [seeds, N]."""
        if self._optimum is None:
            best, index = self.all_expected_losses().min(1)
            self._optimum = (best, self.decode(index))
        return self._optimum
