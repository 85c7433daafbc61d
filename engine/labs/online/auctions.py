"""Repeated second-price auctions with a budget, and their hindsight optimum."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


@dataclass(frozen=True)
class HindsightSolution:
    value: torch.Tensor  # [seeds] the optimal total utility
    take: torch.Tensor  # [seeds, n] the share x_t of each round's auction won, in [0, 1]
    multiplier: torch.Tensor  # [seeds] mu*, the utility per unit spend of the last round bought


def hindsight_optimum(values: torch.Tensor, prices: torch.Tensor, budget) -> HindsightSolution:
    """max_x sum_t x_t (v_t - d_t)  s.t.  sum_t x_t d_t <= B,  0 <= x_t <= 1, for every seed.

    Winning round t costs the highest competing bid d_t and earns v_t - d_t, so the
    relaxation is a fractional knapsack: rounds with v_t > d_t, taken greedily by
    (v_t - d_t) / d_t (free ones first), the round where the budget runs out in part.
    Its value bounds the utility of any bidding with the budget (winning round t at all
    is x_t = 1); the integral optimum is at most one round's surplus below it. By LP
    duality it equals min_{mu >= 0} mu B + sum_t (v_t - (1 + mu) d_t)^+, attained at
    mu* = the ratio of the round where the budget runs out (0 if it never does), so
    bidding v_t / (1 + mu*) wins exactly the rounds the optimum buys.
    """
    surplus = values - prices
    tiny = torch.finfo(values.dtype).tiny
    useful = surplus > 0
    free = useful & (prices <= 0)
    ratio = torch.where(free, torch.full_like(surplus, math.inf), surplus / prices.clamp_min(tiny))
    ratio = torch.where(useful, ratio, torch.full_like(surplus, -1.0))
    order = torch.argsort(ratio, dim=1, descending=True)
    cost = torch.where(useful, prices, torch.zeros_like(prices)).gather(1, order)
    gain = torch.where(useful, surplus, torch.zeros_like(surplus)).gather(1, order)
    budget = torch.as_tensor(budget, dtype=values.dtype, device=values.device).reshape(-1, 1)
    spent_before = torch.cumsum(cost, dim=1) - cost
    room = (budget - spent_before).clamp_min(0.0)
    share = torch.where(
        cost > 0, (room / cost.clamp_min(tiny)).clamp(max=1.0), torch.ones_like(cost)
    )
    share = torch.where(gain > 0, share, torch.zeros_like(share))
    value = (share * gain).sum(dim=1)
    sorted_ratio = ratio.gather(1, order)
    short = (spent_before + cost > budget) & (gain > 0)
    first_short = short.to(torch.int8).argmax(dim=1, keepdim=True)
    multiplier = torch.where(
        short.any(dim=1), sorted_ratio.gather(1, first_short).squeeze(1), torch.zeros_like(value)
    )
    take = torch.zeros_like(share).scatter(1, order, share)
    return HindsightSolution(value, take, multiplier)


@dataclass(frozen=True)
class AuctionSequence:
    values: torch.Tensor  # [seeds, T] the advertiser's value v_t
    prices: torch.Tensor  # [seeds, T] the highest competing bid d_t
    sample_values: torch.Tensor  # [seeds, T] one historical sample of v_t's distribution
    sample_prices: torch.Tensor  # [seeds, T] ... and of d_t's


class BudgetedAuctions(Problem):
    """T second-price auctions with time-varying distributions and a budget rho T.

    Round t draws the value v_t ~ U[0, A_t] and the highest competing bid d_t ~ U[0, C_t]
    independently, with seasonal scales

        A_t = (1 + value_swing sin(2 pi t / period)) / 2,
        C_t = (1 + bid_swing sin(2 pi t / period + pi)) / 2,

    so by default values are high exactly when competition is low. Winning costs d_t and
    earns v_t - d_t. The historical data is one sample per round from the same
    distributions, or from perturbed ones: with sample_noise = s each sample's scales are
    multiplied by 1 + s xi_t, xi_t ~ U[-1, 1] (clipped to [0, 1]). The whole sequence,
    real and sampled, is drawn at the start from the problem's stream (common random
    numbers across algorithms).
    """

    id = "bandits.budgeted_auctions"
    family = "bandits"
    title = "Budgeted second-price auctions"
    summary = "Repeated second-price auctions with seasonal value and competing-bid distributions and a budget."
    params = (
        Param(
            "budget_rate",
            "float",
            0.02,
            "Budget per round rho (total budget rho T).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "period",
            "int",
            2000,
            "Length of one season of the value and bid distributions, in rounds.",
            low=2,
            high=100_000_000,
        ),
        Param(
            "value_swing",
            "float",
            0.8,
            "Relative amplitude of the seasonal value scale.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "bid_swing",
            "float",
            0.8,
            "Relative amplitude of the seasonal competing-bid scale.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "sample_noise",
            "float",
            0.0,
            "Relative perturbation s of the distributions the samples come from.",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.budget_rate = params["budget_rate"]
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def scales(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_t, C_t) for t = 1..T, each [T]."""
        t = torch.arange(1, steps + 1, dtype=torch.float64, device=self.device)
        angle = 2.0 * math.pi * t / self.p["period"]
        value_scale = 0.5 * (1.0 + self.p["value_swing"] * torch.sin(angle))
        bid_scale = 0.5 * (1.0 + self.p["bid_swing"] * torch.sin(angle + math.pi))
        return value_scale, bid_scale

    def sequence(self, steps: int) -> AuctionSequence:
        value_scale, bid_scale = (x.to(self.dtype) for x in self.scales(steps))
        u = torch.rand(
            (6, self.seeds, steps), generator=self._gen, device=self.device, dtype=self.dtype
        )
        noise = self.p["sample_noise"]
        sample_value_scale = (value_scale * (1.0 + noise * (2.0 * u[4] - 1.0))).clamp(0.0, 1.0)
        sample_bid_scale = (bid_scale * (1.0 + noise * (2.0 * u[5] - 1.0))).clamp(0.0, 1.0)
        return AuctionSequence(
            u[0] * value_scale, u[1] * bid_scale, u[2] * sample_value_scale, u[3] * sample_bid_scale
        )
