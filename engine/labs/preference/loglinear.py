"""A log-linear policy over responses that share features: where likelihood displacement shows."""

from __future__ import annotations

import math

import torch

from engine.labs.preference.problems import COMPARISON_PARAMS, PreferenceProblem
from engine.params import Param, ParamError


class LogLinearPreferences(PreferenceProblem):
    """One prompt, K responses with feature vectors φ(y) ∈ R^d, a linear reward and a
    log-linear policy family:

        r(y) = wᵀφ(y),    π_θ(y) = exp(θᵀφ(y)) / Σ_y' exp(θᵀφ(y')),    π_ref = π_θref.

    Comparisons are drawn and labelled by Bradley–Terry exactly as on the tabular problem.
    Because the responses share the coordinates of θ, a step that raises the chosen
    response's log-ratio against the rejected one also moves every other response: the
    chosen probability can fall while the margin grows (likelihood displacement), which
    independent tabular logits cannot show for a single pair. The KL-regularised optimum
    π_ref exp(r/β)/Z is still in the family, at θ = θ_ref + w/β.

    Unless given, φ and w are drawn once from `instance` (not from the run's seed, so that
    every seed and every algorithm faces the same responses):

        c, z_y, w ~ N(0, I_d),    φ(y) = (√ρ c + √(1 − ρ) z_y) / √d,

    where ρ = `shared_feature` is the weight of a component c all responses share: the
    larger ρ, the more alike the responses and the stronger the displacement.
    """

    id = "preference.loglinear"
    title = "Log-linear policy with shared features"
    summary = "K responses with d shared features, reward linear in the features, π ∝ exp(θᵀφ)."
    params = (
        Param("responses", "int", 8, "Number of responses K.", low=2, high=1000),
        Param("feature_dim", "int", 2, "Number of features d per response.", low=1, high=256),
        Param(
            "shared_feature",
            "float",
            0.5,
            "Weight ρ of the feature component every response shares (drawn features only).",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        Param(
            "instance",
            "int",
            0,
            "Seed of the drawn features and reward weights.",
            low=0,
            high=2**62,
        ),
        Param(
            "features",
            "floats",
            [],
            "Feature vectors φ(y), responses × feature_dim numbers row by row; "
            "empty = drawn from the instance.",
            low=-1e3,
            high=1e3,
            min_len=0,
            max_len=100_000,
        ),
        Param(
            "reward_weights",
            "floats",
            [],
            "Reward weights w (r = wᵀφ), feature_dim numbers; empty = drawn from the instance.",
            low=-1e3,
            high=1e3,
            min_len=0,
            max_len=256,
        ),
        Param(
            "reference_parameters",
            "floats",
            [],
            "θ_ref of the reference policy, feature_dim numbers; empty = 0 (uniform π_ref).",
            low=-1e3,
            high=1e3,
            min_len=0,
            max_len=256,
        ),
    ) + COMPARISON_PARAMS

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        k, d = params["responses"], params["feature_dim"]
        draw = torch.Generator().manual_seed(params["instance"])
        shared = torch.randn(d, generator=draw, dtype=torch.float64)
        own = torch.randn((k, d), generator=draw, dtype=torch.float64)
        rho = params["shared_feature"]
        features = (math.sqrt(rho) * shared + math.sqrt(1.0 - rho) * own) / math.sqrt(d)
        weights = torch.randn(d, generator=draw, dtype=torch.float64)
        if params["features"]:
            features = _given(
                "features", params["features"], k * d, "responses × feature_dim"
            ).view(k, d)
        if params["reward_weights"]:
            weights = _given("reward_weights", params["reward_weights"], d, "feature_dim")
        theta_ref = torch.zeros(d, dtype=torch.float64)
        if params["reference_parameters"]:
            theta_ref = _given(
                "reference_parameters", params["reference_parameters"], d, "feature_dim"
            )
        self.reward_weights64 = weights
        self._define(features @ weights, theta_ref, features)

    def optimal_parameters(self, beta: float) -> torch.Tensor:
        """θ* = θ_ref + w/β, [d] in float64: log π_θ* = log π_ref + r/β − log Z."""
        return self.reference_parameters64 + self.reward_weights64 / beta


def _given(name: str, values: list, count: int, what: str) -> torch.Tensor:
    if len(values) != count:
        raise ParamError(f"problem.{name}", f"needs {what} = {count} values, got {len(values)}")
    return torch.tensor(values, dtype=torch.float64)
