"""Bandits with replenishable knapsacks: arms pay rewards and consume (or refill) resources."""

from __future__ import annotations

import torch

from engine.labs.online.knapsack_lp import knapsack_lp
from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class ReplenishableKnapsack(Problem):
    """K arms and d resources. Each round, arm k pays a Bernoulli(r_k) reward and changes
    resource i by c_ki, drawn as c_ki +- a_ki with equal chance, a_ki = min(noise, 1 - |c_ki|),
    so it stays in [-1, 1] with mean exactly c_ki; a negative draw replenishes the
    resource. Every arm's reward and consumption are drawn each round, played or not
    (common random numbers). A void action (reward 0, consumption 0) is always available.

    The budget is rho_i T for resource i over a horizon of T rounds. The benchmark is the
    LP relaxation's optimum per round, OPT = max_xi r . xi subject to C^T xi <= rho,
    sum xi <= 1, xi >= 0 (solved exactly, `knapsack_lp`); T * OPT bounds the expected
    reward of any policy that respects the budgets.

    Defaults: arm 0 pays most and drains resource 0, arm 1 refills resource 0 while
    draining resource 1, arm 2 refills resource 1; the LP plays all three (OPT = 0.7).
    """

    id = "bandits.replenishable_knapsack"
    family = "bandits"
    title = "Bandit with replenishable knapsacks"
    summary = (
        "K arms paying rewards and consuming or refilling d resources, with an exact LP benchmark."
    )
    params = (
        Param(
            "rewards",
            "floats",
            [0.9, 0.5, 0.3],
            "Mean reward r_k of each arm.",
            low=0.0,
            high=1.0,
            min_len=1,
            max_len=12,
        ),
        Param("resources", "int", 2, "Number d of resources.", low=1, high=4),
        Param(
            "consumption",
            "floats",
            [0.7, 0.1, -0.4, 0.4, 0.1, -0.5],
            "Mean consumption c_ki, row after row (K rows of d values); negative = replenishment.",
            low=-1.0,
            high=1.0,
            min_len=1,
            max_len=48,
        ),
        Param(
            "budget_rate",
            "floats",
            [0.2, 0.2],
            "Budget per round rho_i of each resource (budget rho_i T).",
            low=0.0,
            low_open=True,
            high=1.0,
            min_len=1,
            max_len=4,
        ),
        Param(
            "consumption_noise",
            "float",
            0.2,
            "Half-width of the two-point noise around each mean consumption.",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        rewards, d = params["rewards"], params["resources"]
        k = len(rewards)
        if len(params["consumption"]) != k * d:
            raise ParamError(
                "problem.consumption",
                f"needs K x d = {k} x {d} = {k * d} values (one row per "
                f"arm), got {len(params['consumption'])}",
            )
        if len(params["budget_rate"]) != d:
            raise ParamError(
                "problem.budget_rate",
                f"needs one value per resource ({d}), got {len(params['budget_rate'])}",
            )
        f64 = torch.float64
        self.k, self.d = k, d
        self.rewards = torch.tensor(rewards, dtype=f64, device=device)
        self.consumption = torch.tensor(params["consumption"], dtype=f64, device=device).reshape(
            k, d
        )
        self.budget_rate = torch.tensor(params["budget_rate"], dtype=f64, device=device)
        self.noise = torch.minimum(
            torch.full_like(self.consumption, params["consumption_noise"]),
            1.0 - self.consumption.abs(),
        )
        self.lp = knapsack_lp(
            params["rewards"], self.consumption.cpu().numpy(), params["budget_rate"]
        )
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This round's rewards [seeds, K] and consumption [seeds, K, d] of every arm."""
        s, k, d = self.seeds, self.k, self.d
        u = torch.rand((s, k * (d + 1)), generator=self._gen, device=self.device, dtype=self.dtype)
        rewards = (u[:, :k] < self.rewards).to(torch.float64)
        sign = 2.0 * (u[:, k:].reshape(s, k, d) >= 0.5).to(torch.float64) - 1.0
        return rewards, self.consumption + sign * self.noise
