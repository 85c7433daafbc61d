"""Harvest quotas by stochastic dynamic programming when changing the quota costs."""

from __future__ import annotations

import torch

from engine.labs.rl.beverton_holt import PENALTIES, evaluate, solve
from engine.params import Param
from engine.registry import Algorithm


class CostlyAdjustment(Algorithm):
    """Optimal quotas for a stochastic Beverton–Holt stock under L1, L2 or fixed costs of
    changing the quota, against the policy that ignores those costs.

    Paper: "Optimal management of a stochastically varying population when policy
    adjustment is costly". The state is (stock x, last year's quota h⁻), the action the
    quota h; with adjustment cost C(h⁻, h) = c|h − h⁻| (l1), c(h − h⁻)² (l2) or
    c·1{h ≠ h⁻} (fixed), stochastic dynamic programming (value iteration) solves

        V(x, h⁻) = max_h  p min(h, x) − C(h⁻, h) + δ E V(Z f(x − min(h, x)), h),

    and the same with C = 0 gives the penalty-free policy π₀(x) (it ignores h⁻). Each
    step is one simulated year: every seed's stock is moved under the costly-optimal
    policy π_c and, on the same growth shocks, under π₀ (charged the adjustment costs
    it ignores). Recorded: the harvests of both, their running variance along each
    path, the stock, the discounted profit of π_c minus that of π₀ so far, and the exact
    expected losses (policy evaluation from the first year's state, h⁻ = π₀'s quota):
    `value_lost_ignoring_costs` = V*_c − V_c^{π₀} (using π₀ where costs exist) and
    `value_lost_assuming_costs` = V*_0 − V_0^{π_c} (using π_c where they do not).

    Departures: stock and quota live on grids (the paper's too, at its own resolution);
    the problem is infinite-horizon discounted rather than a finite horizon; the
    realised harvest is min(h, x).
    """

    id = "rl.costly_adjustment"
    family = "rl"
    paper = (
        "Optimal management of a stochastically varying population when policy adjustment is costly"
    )
    summary = "SDP harvest quotas for a Beverton–Holt stock with L1, L2 or fixed adjustment costs; paths, variance, value lost."
    params = (
        Param(
            "penalty", "choice", "l2", "Form of the cost of changing the quota.", choices=PENALTIES
        ),
        Param("cost", "float", 0.5, "Scale c of the adjustment cost.", low=0.0, high=1e6),
    )
    problems = ("rl.beverton_holt",)
    plot = "curves"
    metrics = (
        "harvest",
        "harvest_penalty_free",
        "harvest_variance",
        "harvest_variance_penalty_free",
        "stock",
        "profit_gap",
        "value_lost_ignoring_costs",
        "value_lost_assuming_costs",
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        prob = problem
        costly = prob.rewards(params["penalty"], params["cost"])
        free = prob.rewards("none", 0.0)
        self.value, self.policy = solve(prob.P, costly, prob.discount)
        self.value_free, self.policy_free = solve(prob.P, free, prob.discount)
        i0 = prob.initial_index
        self.initial_quota = int(self.policy_free[i0, 0])
        ignoring = evaluate(prob.P, costly, self.policy_free, prob.discount)
        assuming = evaluate(prob.P, free, self.policy, prob.discount)
        k0 = self.initial_quota
        self.lost_ignoring = float(self.value[i0, k0] - ignoring[i0, k0])
        self.lost_assuming = float(self.value_free[i0, k0] - assuming[i0, k0])
        self.rewards_costly = costly.to(device=device, dtype=dtype)

    def run(self, steps: int, rec) -> None:
        prob, dev, dt = self.problem, self.device, self.dtype
        policy, policy_free = self.policy.to(dev), self.policy_free.to(dev)
        stock_values, quotas = (
            prob.stock.to(device=dev, dtype=dt),
            prob.quotas.to(device=dev, dtype=dt),
        )
        paths = {}
        for name in ("costly", "free"):
            paths[name] = {
                "stock": torch.full(
                    (self.seeds,), prob.initial_index, dtype=torch.long, device=dev
                ),
                "quota": torch.full(
                    (self.seeds,), self.initial_quota, dtype=torch.long, device=dev
                ),
                "mean": torch.zeros(self.seeds, dtype=dt, device=dev),
                "m2": torch.zeros(self.seeds, dtype=dt, device=dev),
                "profit": torch.zeros(self.seeds, dtype=dt, device=dev),
                "harvest": torch.zeros(self.seeds, dtype=dt, device=dev),
            }
        lost_ignoring = torch.full((self.seeds,), self.lost_ignoring, dtype=dt, device=dev)
        lost_assuming = torch.full((self.seeds,), self.lost_assuming, dtype=dt, device=dev)
        for t in range(1, steps + 1):
            u = prob.uniforms()
            for name, table in (("costly", policy), ("free", policy_free)):
                path = paths[name]
                x, last = path["stock"], path["quota"]
                quota = table[x, last]
                harvest = torch.minimum(quotas[quota], stock_values[x])
                path["profit"] += prob.discount ** (t - 1) * self.rewards_costly[x, last, quota]
                delta = harvest - path["mean"]  # Welford's running variance along the path
                path["mean"] += delta / t
                path["m2"] += delta * (harvest - path["mean"])
                path["harvest"] = harvest
                path["stock"] = prob.next_stock(x, quota, u)
                path["quota"] = quota
            if rec.should_record(t):
                costly, free = paths["costly"], paths["free"]
                rec.metrics(
                    t,
                    {
                        "harvest": costly["harvest"],
                        "harvest_penalty_free": free["harvest"],
                        "harvest_variance": costly["m2"] / t,
                        "harvest_variance_penalty_free": free["m2"] / t,
                        "stock": stock_values[costly["stock"]],
                        "profit_gap": costly["profit"] - free["profit"],
                        "value_lost_ignoring_costs": lost_ignoring,
                        "value_lost_assuming_costs": lost_assuming,
                    },
                )
            rec.progress(t)
