"""Online kernel regression streams: y_t = f(x_t) + noise with f in a Gaussian RKHS."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def gaussian_kernel(a: torch.Tensor, b: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """k(a, b) = exp( -||a - b||^2 / (2 h^2) ) for a [..., n, d], b [..., m, d] -> [..., n, m]."""
    sq = ((a.unsqueeze(-2) - b.unsqueeze(-3)) ** 2).sum(-1)
    return torch.exp(-sq / (2.0 * bandwidth**2))


@dataclass(frozen=True)
class KernelStream:
    inputs: torch.Tensor  # [seeds, T, d] x_t
    targets: torch.Tensor  # [seeds, T] y_t = f(x_t) + noise
    clean: torch.Tensor  # [seeds, T] f(x_t)


class KernelRegressionStream(Problem):
    """x_t ~ U[-1, 1]^d i.i.d., y_t = f(x_t) + sigma eps_t with eps_t ~ N(0, 1), and

        f = sum_{m=1}^M c_m k(z_m, .),   k(x, x') = exp( -||x - x'||^2 / (2 h^2) ),

    centres z_m ~ U[-1, 1]^d and weights c ~ N(0, I) rescaled so that the RKHS norm
    ||f||_H = sqrt(c^T K_Z c) equals ``target_norm`` exactly: the target lies in the ball
    the learners are told to search. Every seed draws its own f and stream, all at the
    start from the problem's stream (common random numbers across algorithms).
    """

    id = "bandits.kernel_regression"
    family = "bandits"
    title = "Online kernel regression stream"
    summary = "Inputs in [-1, 1]^d, targets f(x) + noise with f of known norm in a Gaussian RKHS."
    params = (
        Param("dimension", "int", 1, "Input dimension d.", low=1, high=20),
        Param(
            "bandwidth",
            "float",
            0.3,
            "Gaussian kernel bandwidth h.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param("centres", "int", 8, "Number M of kernel centres in the target f.", low=1, high=200),
        Param("target_norm", "float", 1.0, "RKHS norm ||f||_H of the target.", low=0.0, high=100.0),
        Param("noise", "float", 0.1, "Noise standard deviation sigma.", low=0.0, high=10.0),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.bandwidth = params["bandwidth"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        d, m = params["dimension"], params["centres"]
        self.target_centres = (
            2.0 * torch.rand((seeds, m, d), generator=self._gen, device=device, dtype=dtype) - 1.0
        )
        weights = torch.randn((seeds, m), generator=self._gen, device=device, dtype=dtype)
        gram = self.kernel(self.target_centres, self.target_centres)
        norm = torch.sqrt((weights.unsqueeze(-2) @ gram @ weights.unsqueeze(-1)).reshape(seeds))
        self.target_weights = weights * (params["target_norm"] / norm).unsqueeze(-1)

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return gaussian_kernel(a, b, self.bandwidth)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for x [seeds, n, d] -> [seeds, n]."""
        return (self.kernel(x, self.target_centres) * self.target_weights.unsqueeze(-2)).sum(-1)

    def stream(self, steps: int) -> KernelStream:
        d = self.p["dimension"]
        x = (
            2.0
            * torch.rand(
                (self.seeds, steps, d), generator=self._gen, device=self.device, dtype=self.dtype
            )
            - 1.0
        )
        clean = self.target(x)
        noise = torch.randn(
            (self.seeds, steps), generator=self._gen, device=self.device, dtype=self.dtype
        )
        return KernelStream(x, clean + self.p["noise"] * noise, clean)
