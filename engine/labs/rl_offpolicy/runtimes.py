"""Heavy-tailed runtime distributions of three solvers, and the utility of a runtime distribution."""

from __future__ import annotations

import math

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

SOLVERS = ("fast", "steady", "pareto")
CAPTIME_MODELS = ("fixed", "uniform", "exponential")
QUANTILES = 20_000  # midpoints of the quantile grid for the exact (quadrature) utility


def captime_survival(t: torch.Tensor, captime: float, model: str) -> torch.Tensor:
    """P(κ ≥ t) for the captime κ of each model, with the law's parameter κ₀ = `captime`:

    fixed: κ = κ₀, so 1[t ≤ κ₀]; uniform: κ ~ U[0, κ₀] (the maximum-entropy law when
    only the upper bound κ₀ is known), so max(0, 1 − t/κ₀); exponential: κ ~ Exp(mean κ₀)
    (the maximum-entropy law on [0, ∞) when only the mean κ₀ is known), so exp(−t/κ₀).
    The uniform and exponential laws and their parameters are the authors' (their public
    experiment code scores a runtime t by 1 − t/κ₀ and e^{−t/κ₀}).
    """
    if model == "fixed":
        return (t <= captime).to(t.dtype)
    if model == "uniform":
        return (1 - t / captime).clamp(min=0)
    return torch.exp(-t / captime)


def runtime_utility(
    runtimes: torch.Tensor,
    captime: float,
    model: str,
    discount: float,
    probabilities: torch.Tensor | None = None,
) -> torch.Tensor:
    """Expected utility of a runtime distribution under random captimes, over the last axis:

        U = E_t[ u(t) ],   u(t) = p(t) · P(κ ≥ t),   p(t) = exp(−λ t)   (λ = `discount`),

    a run that finishes at t before the captime is worth p(t), one that the captime cuts
    off is worth 0. With λ = 0 (the default), u(t) = P(κ ≥ t) is the captime law's
    survival function, the utility the authors' experiments score solvers with; p(t) =
    e^{−λt} is this project's choice (see `RuntimeUtilityChoice`). With `probabilities`
    (same shape) the runtimes are the atoms of a discrete distribution; without, they are
    samples and U is their mean u(t_i), the authors' estimate from runtime samples (a run
    cut off at the largest possible captime scores 0 whatever its true runtime).
    """
    value = captime_survival(runtimes, captime, model)
    if discount > 0:  # λ = 0 keeps p ≡ 1 exactly, also for a run that never ends (t = ∞)
        value = torch.exp(-discount * runtimes) * value
    if probabilities is None:
        return value.mean(-1)
    return (value * probabilities).sum(-1)


class HeavyTailedRuntimes(Problem):
    """Runtimes of three solvers that always return the right answer:

    fast: lognormal, median m_f, log-sd σ_f (large: usually fast, occasionally very slow);
    steady: lognormal, median m_s, log-sd σ_s (small: never fast, never very slow);
    pareto: Pareto with scale x_m and shape a, P(T > t) = (x_m/t)^a for t ≥ x_m (a ≤ 2:
    infinite variance, a ≤ 1: infinite mean).

    Each seed draws `runs` runtimes per solver (`runtimes` [seeds, 3, runs], from the
    problem's stream, in float64). The true means are in `true_mean` (inf where a ≤ 1) and
    the exact utility of each law is `exact_utility` (a midpoint rule over the
    distribution's quantiles, U = ∫₀¹ p(F⁻¹(q)) P(κ ≥ F⁻¹(q)) dq).
    """

    id = "rl.heavy_tailed_runtimes"
    family = "rl"
    title = "Heavy-tailed runtimes of three solvers"
    summary = (
        "Lognormal (fast, heavy tail), lognormal (steady) and Pareto runtimes, sampled per seed."
    )
    params = (
        Param("runs", "int", 200, "Runtimes drawn per solver and seed.", low=1, high=1_000_000),
        Param(
            "fast_median",
            "float",
            1.0,
            "Median m_f of the fast solver.",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "fast_sigma",
            "float",
            2.5,
            "Log-sd σ_f of the fast solver.",
            low=0.0,
            low_open=True,
            high=20.0,
        ),
        Param(
            "steady_median",
            "float",
            5.0,
            "Median m_s of the steady solver.",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "steady_sigma",
            "float",
            0.3,
            "Log-sd σ_s of the steady solver.",
            low=0.0,
            low_open=True,
            high=20.0,
        ),
        Param(
            "pareto_scale",
            "float",
            0.5,
            "Scale x_m of the Pareto solver (its shortest runtime).",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "pareto_shape",
            "float",
            1.1,
            "Shape a of the Pareto solver (mean finite for a > 1).",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        p = params
        g = generator("cpu", seed, PROBLEM_STREAM)
        shape = (seeds, p["runs"])
        normal = torch.randn((2,) + shape, generator=g, dtype=torch.float64)
        uniform = torch.rand(shape, generator=g, dtype=torch.float64)
        fast = p["fast_median"] * torch.exp(p["fast_sigma"] * normal[0])
        steady = p["steady_median"] * torch.exp(p["steady_sigma"] * normal[1])
        pareto = p["pareto_scale"] * (1 - uniform).pow(-1 / p["pareto_shape"])
        self.runtimes = torch.stack([fast, steady, pareto], 1).to(device=device, dtype=dtype)
        self._quantiles = None
        a = p["pareto_shape"]
        self.true_mean = [
            p["fast_median"] * math.exp(p["fast_sigma"] ** 2 / 2),
            p["steady_median"] * math.exp(p["steady_sigma"] ** 2 / 2),
            a * p["pareto_scale"] / (a - 1) if a > 1 else math.inf,
        ]

    def quantile_runtimes(self) -> torch.Tensor:
        """F⁻¹(q) of each solver at the midpoints q = (i − ½)/Q, [3, Q] in float64."""
        if self._quantiles is None:
            self._quantiles = self._quantile_grid()
        return self._quantiles

    def _quantile_grid(self) -> torch.Tensor:
        p = self.p
        q = (torch.arange(QUANTILES, dtype=torch.float64) + 0.5) / QUANTILES
        z = math.sqrt(2) * torch.erfinv(2 * q - 1)
        return torch.stack(
            [
                p["fast_median"] * torch.exp(p["fast_sigma"] * z),
                p["steady_median"] * torch.exp(p["steady_sigma"] * z),
                p["pareto_scale"] * (1 - q).pow(-1 / p["pareto_shape"]),
            ]
        )

    def exact_utility(self, captime: float, model: str, discount: float) -> torch.Tensor:
        """U of each solver's law [3] (float64), by the midpoint rule over quantiles."""
        return runtime_utility(self.quantile_runtimes(), captime, model, discount)
