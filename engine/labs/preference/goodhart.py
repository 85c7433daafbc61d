"""Optimising a proxy reward along the KL-regularised path, stopped before Goodhart's law bites."""

from __future__ import annotations

import math

import torch

from engine.labs.preference.proxy import PROXY_METRICS
from engine.params import Param
from engine.registry import Algorithm

PRESSURE_PARAMS = (
    Param(
        "pressure_start",
        "float",
        0.01,
        "λ = 1/β at the first step.",
        low=0.0,
        low_open=True,
        high=1e6,
    ),
    Param(
        "pressure_end",
        "float",
        100.0,
        "λ = 1/β at the last step (geometric path in between).",
        low=0.0,
        low_open=True,
        high=1e6,
    ),
)


def pressure_path(start: float, end: float, steps: int, device, dtype) -> torch.Tensor:
    """λ_t = λ_start (λ_end/λ_start)^((t − 1)/(T − 1)), t = 1 … T, [T]."""
    if steps == 1:
        return torch.tensor([start], device=device, dtype=dtype)
    fraction = torch.arange(steps, device=device, dtype=torch.float64) / (steps - 1)
    return (start * (end / start) ** fraction).to(dtype)


class GoodhartEarlyStopping(Algorithm):
    """Optimal early stopping of proxy optimisation (Karwowski, Hayman, Bai, Kiendlhofer,
    Griffin & Skalse, "Goodhart's Law in Reinforcement Learning", 2023).

    The proxy r̃ is optimised along the path of KL-regularised optima, the policies a
    regularised optimiser reaches as its pressure λ = 1/β grows:

        π_λ(y) ∝ π_ref(y) exp(λ r̃(y)),   λ_1 < … < λ_T geometric.

    In a one-state problem the occupancy measure is π itself, and the true reward changes
    along the path at the rate dE_π[r]/dλ = ⟨d_λ, r⟩ with the direction of travel
    d_λ = dπ_λ/dλ = π_λ ⊙ (r̃ − E_π_λ[r̃]). If the true reward lies within angle θ of the
    proxy (both centred on the simplex's plane), every ⟨d, r⟩ > 0 while
    angle(d_λ, r̃) < π/2 − θ. The paper's early stopping therefore follows the proxy until
    the first step where

        angle(d_λ, r̃) ≥ π/2 − θ,

    and returns the policy there: up to it the true reward provably never falls, for any
    true reward within θ of the proxy. With `early_stopping` off the path runs to the end.

    Departures from the paper: one prompt (a bandit, whose occupancy measures are the
    policies) instead of an MDP; the optimisation path is the closed-form KL-regularised
    one on a geometric grid of pressures rather than the iterates of an RL algorithm; the
    angle bound θ defaults to the problem's exact angle between r and r̃ (an oracle, as in
    the paper's experiments that compute it from the true reward).

    Metrics: `proxy_reward`, `true_reward`, `kl_to_reference` of the policy the algorithm
    holds (frozen once stopped); `path_proxy_reward`, `path_true_reward` of π_λt whether
    stopped or not (the Goodhart curve); `inverse_beta` λ_t; `stopped` (0 or 1);
    `direction_angle` angle(d_λt, r̃) in degrees.
    """

    id = "preference.goodhart_early_stopping"
    family = "preference"
    paper = "Goodhart's Law in Reinforcement Learning"
    summary = (
        "KL-regularised proxy optimisation along a 1/β path, stopped once the true reward may fall."
    )
    problems = ("preference.proxy_reward",)
    plot = "curves"
    metrics = PROXY_METRICS + (
        "path_proxy_reward",
        "path_true_reward",
        "inverse_beta",
        "stopped",
        "direction_angle",
    )
    # exact steps on a problem drawn from its `instance`, not from the run's seed
    deterministic = True
    params = PRESSURE_PARAMS + (
        Param(
            "early_stopping",
            "bool",
            True,
            "Stop once the true reward may fall; false runs the whole path.",
        ),
        Param(
            "known_angle",
            "bool",
            True,
            "Use the problem's exact angle between true and proxy reward as θ.",
        ),
        Param(
            "angle_bound",
            "float",
            45.0,
            "θ in degrees when the angle is not known.",
            low=0.0,
            high=90.0,
            high_open=True,
        ),
    )

    def run(self, steps, rec):
        prob = self.problem
        theta = prob.angle if self.p["known_angle"] else math.radians(self.p["angle_bound"])
        path = pressure_path(
            self.p["pressure_start"], self.p["pressure_end"], steps, self.device, self.dtype
        )
        proxy_centred = prob.proxy_rewards - prob.proxy_rewards.mean()
        held = None
        for t in range(1, steps + 1):
            policy = prob.kl_optimum(path[t - 1 : t])
            angle = direction_angle(policy[0], prob.proxy_rewards, proxy_centred)
            if self.p["early_stopping"] and held is None and angle >= math.pi / 2 - theta:
                held = policy
            current = policy if held is None else held
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        name: value.expand(self.seeds)
                        for name, value in {
                            "proxy_reward": current @ prob.proxy_rewards,
                            "true_reward": current @ prob.true_rewards,
                            "kl_to_reference": prob.kl_to_reference(current),
                            "path_proxy_reward": policy @ prob.proxy_rewards,
                            "path_true_reward": policy @ prob.true_rewards,
                            "inverse_beta": path[t - 1 : t],
                            "stopped": torch.tensor(
                                [float(held is not None)], device=self.device, dtype=self.dtype
                            ),
                            "direction_angle": torch.tensor(
                                [math.degrees(angle)], device=self.device, dtype=self.dtype
                            ),
                        }.items()
                    },
                )
            rec.progress(t)
        self.final_policy = (policy if held is None else held)[0]
        self.stopped = held is not None


def direction_angle(
    policy: torch.Tensor, proxy: torch.Tensor, proxy_centred: torch.Tensor
) -> float:
    """angle(d, r̃) in radians, d = π ⊙ (r̃ − E_π r̃) the direction dπ_λ/dλ; 0 where π has
    stopped moving (d = 0: a point mass, or a constant proxy)."""
    direction = policy * (proxy - policy @ proxy)
    norms = direction.norm() * proxy_centred.norm()
    if norms == 0:
        return 0.0
    return math.acos(max(-1.0, min(1.0, float(direction @ proxy_centred / norms))))
