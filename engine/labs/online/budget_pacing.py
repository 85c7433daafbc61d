from __future__ import annotations

import math

import torch

from engine.labs.online.auctions import hindsight_optimum
from engine.params import Param
from engine.registry import Algorithm


class SingleSampleBudgetPacing(Algorithm):
    """Budget pacing from one sample per distribution: an expenditure plan learned from the
    samples and a dual controller that tracks it (paper: "Robust Budget Pacing with a
    Single Sample", Balseiro, Kumar, Mirrokni, Sivan & Wang 2023).

    Plan. Solve the hindsight problem on the sampled sequence (v~_t, d~_t) with the real
    budget B = rho T (`hindsight_optimum`): its optimal shares x~_t give the target spend
    of each round, rho_t = x~_t d~_t (summing to min(B, what the samples could spend)),
    and its multiplier mu~ starts the controller.

    Controller (dual descent on the budget constraint, with the plan as the target):

        b_t = min( v_t / (1 + mu_t), remaining budget )        bid in the second-price auction
        z_t = d_t 1[b_t >= d_t]                                 spend (win pays the competing bid)
        mu_t+1 = clip( mu_t - eta (rho_t - z_t), 0, 1 / rho )

    Spending below plan lowers mu (bid more), above plan raises it. The cap at the
    remaining budget means the budget is never exceeded. ``plan = "uniform"`` is the
    classical dual descent with a flat target rho_t = rho started at mu = 0 (no samples),
    for comparison. The step defaults to eta = 1 / sqrt T.

    Regret is against the hindsight optimum of the realised sequence (the fractional
    knapsack, exact; it bounds every bidding strategy with the budget): at round t,
    ``cumulative_regret`` is the optimum's utility over rounds 1..t minus the
    controller's, so at t = T it is OPT - utility. Also recorded: ``budget_spent`` (share
    of B) and ``multiplier`` (mu_t).

    Departures: the paper gives the algorithm with its analysis (a O~(sqrt T) regret
    with constants not stated in closed form, so no bound is drawn); the plan here is the
    sample problem's exact fractional solution and the controller a projected dual step,
    as its proof analyses them, while its treatment of noisy samples is reduced to the
    problem's ``sample_noise`` knob.
    """

    id = "bandits.single_sample_pacing"
    family = "bandits"
    paper = "Robust Budget Pacing with a Single Sample"
    summary = "Expenditure plan from one sample per round, tracked by a dual pacing controller."
    params = (
        Param(
            "plan",
            "choice",
            "single_sample",
            "single_sample: the paper's plan; uniform: flat target, no samples.",
            choices=("single_sample", "uniform"),
        ),
        Param("step_size", "float", 0.0, "Dual step eta; 0 = 1 / sqrt T.", low=0.0, high=100.0),
    )
    problems = ("bandits.budgeted_auctions",)
    plot = "regret"
    metrics = ("cumulative_regret", "budget_spent", "multiplier")

    def run(self, steps, rec):
        prob = self.problem
        s, dev, f64 = self.seeds, self.device, torch.float64
        seq = prob.sequence(steps)
        budget = prob.budget_rate * steps
        optimum = hindsight_optimum(seq.values, seq.prices, budget)
        optimum_gain = optimum.take * (seq.values - seq.prices)
        if self.p["plan"] == "single_sample":
            sample = hindsight_optimum(seq.sample_values, seq.sample_prices, budget)
            target = sample.take * seq.sample_prices
            mu = sample.multiplier.clone()
        else:
            target = torch.full((s, steps), prob.budget_rate, dtype=f64, device=dev)
            mu = torch.zeros(s, dtype=f64, device=dev)
        step = self.p["step_size"] or 1.0 / math.sqrt(steps)
        mu_max = 1.0 / prob.budget_rate
        remaining = torch.full((s,), budget, dtype=f64, device=dev)
        utility = torch.zeros(s, dtype=f64, device=dev)
        benchmark = torch.zeros(s, dtype=f64, device=dev)
        for t in range(steps):
            value, price = seq.values[:, t], seq.prices[:, t]
            bid = torch.minimum(value / (1.0 + mu), remaining)
            won = bid >= price
            spend = torch.where(won, price, torch.zeros_like(price))
            remaining -= spend
            utility += torch.where(won, value - price, torch.zeros_like(price))
            benchmark += optimum_gain[:, t]
            mu = (mu - step * (target[:, t] - spend)).clamp(0.0, mu_max)
            if rec.should_record(t + 1):
                rec.metrics(
                    t + 1,
                    {
                        "cumulative_regret": benchmark - utility,
                        "budget_spent": 1.0 - remaining / budget,
                        "multiplier": mu,
                    },
                )
            rec.progress(t + 1)
