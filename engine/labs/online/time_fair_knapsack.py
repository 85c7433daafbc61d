from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.online.knapsack_arrivals import fractional_optimum
from engine.params import Param, ParamError
from engine.registry import Algorithm


def lambert_w(x: float) -> float:
    """The principal branch W(x) (w e^w = x) for x >= 0, by Newton's method."""
    w = math.log1p(x)
    for _ in range(100):
        ew = math.exp(w)
        step = (w * ew - x) / (ew * (w + 1.0))
        w -= step
        if abs(step) <= 1e-15 * max(1.0, abs(w)):
            break
    return w


def zcl_fairness(low: float, high: float) -> float:
    """alpha* = 1 / (1 + ln(U / L)): the share of capacity ZCL sells at the flat price L."""
    return 1.0 / (1.0 + math.log(high / low))


def ect_rate(low: float, high: float, alpha: float) -> float:
    """beta(alpha) = W( U (1 - alpha) / (L alpha) ) / (1 - alpha), the exponential rate of
    ECT[alpha] and its competitive ratio; U / L at alpha = 1 (a flat threshold)."""
    if alpha >= 1.0:
        return high / low
    return lambert_w(high * (1.0 - alpha) / (low * alpha)) / (1.0 - alpha)


def threshold(z, low: float, high: float, alpha: float):
    """psi_alpha(z): L on [0, alpha), U e^{beta (z - 1)} on [alpha, 1] (numpy or torch z)."""
    beta = ect_rate(low, high, alpha)
    lib = torch if isinstance(z, torch.Tensor) else np
    return lib.where(z < alpha, low + 0.0 * z, high * lib.exp(beta * (z - 1.0)))


class TimeFairKnapsack(Algorithm):
    """Threshold admission for online knapsack with value densities in [L, U], with a
    time-fairness parameter alpha (paper: "Time Fairness in Online Knapsack Problems"): ZCL
    and the paper's extended-constant-threshold variant ECT[alpha].

    With the knapsack filled to z in [0, 1], an item of density v is admitted only while
    v >= psi(z). ZCL's threshold (Zhou, Chakrabarty & Lukose) is

        psi(z) = L                          for z in [0, alpha*),  alpha* = 1 / (1 + ln(U/L)),
        psi(z) = (U e / L)^z (L / e)        for z in [alpha*, 1],

    (L on the first alpha* of the capacity, where the exponential would lie below L; it
    reaches L at alpha* and U at 1), competitive ratio 1 + ln(U / L). ECT[alpha] keeps the
    flat price L for a longer share alpha >= alpha* (the share of capacity sold at the
    same, static price -- the paper's alpha-conditional time fairness), then

        psi(z) = U e^{beta (z - 1)},   beta = W( U (1 - alpha) / (L alpha) ) / (1 - alpha),

    which jumps at alpha from L to alpha beta L (continuous only at alpha*), and is
    beta-competitive (the Pareto-optimal trade-off: beta grows from 1 + ln(U/L) at
    alpha* to U / L at alpha = 1). ``fairness = 0`` selects alpha* (ECT[alpha*] = ZCL).

    Admission: ``fractional`` admits the part of item t the threshold pays for,
    x_t = clip(g(v_t) - z, 0, w_t) with g(v) = sup{z : psi(z) <= v} -- the infinitesimal-
    item limit that the competitive analysis assumes, where the bound holds on every
    sequence; ``whole`` admits the entire item when psi(z) <= v_t and it fits (as in the
    paper's experiments; then the bound holds up to the largest item's weight).

    Recorded: ``competitive_ratio`` = OPT_t / ALG_t with OPT_t the hindsight fractional
    optimum of the items seen so far (exact, `fractional_optimum`), ``cumulative_value``
    ALG_t, ``utilization`` z; the bound beta as ``competitive_ratio_upper_bound``.
    Departures: the paper's randomised and learning-augmented variants are not included.
    """

    id = "bandits.time_fair_knapsack"
    family = "bandits"
    paper = "Time Fairness in Online Knapsack Problems"
    summary = "ZCL / ECT[alpha] threshold admission: competitive ratio against the time-fairness share alpha."
    params = (
        Param(
            "fairness",
            "float",
            0.0,
            "Share alpha of capacity sold at the flat price L; 0 = ZCL's 1 / (1 + ln(U/L)).",
            low=0.0,
            high=1.0,
        ),
        Param(
            "admission",
            "choice",
            "fractional",
            "fractional: the analysed infinitesimal-item limit; whole: admit entire items.",
            choices=("fractional", "whole"),
        ),
    )
    problems = ("bandits.online_knapsack",)
    plot = "curves"
    metrics = ("competitive_ratio", "cumulative_value", "utilization")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        low, high = problem.low, problem.high
        floor = zcl_fairness(low, high)
        alpha = params["fairness"] or floor
        if alpha < floor - 1e-12:
            raise ParamError(
                "fairness",
                f"must be 0 or at least 1 / (1 + ln(U/L)) = {floor:.4g} "
                f"for U/L = {high / low:g} (below it no threshold is competitive); got {alpha:g}",
            )
        self.alpha = max(alpha, floor)
        self.beta = ect_rate(low, high, self.alpha)

    def fill_level(self, v: torch.Tensor) -> torch.Tensor:
        """g(v) = sup{z in [0, 1] : psi(z) <= v}: alpha on the flat part, then the inverse exponential."""
        low, high = self.problem.low, self.problem.high
        if self.alpha >= 1.0:
            return torch.where(v >= low, torch.ones_like(v), torch.zeros_like(v))
        level = (1.0 + torch.log(v / high) / self.beta).clamp(max=1.0)
        level = torch.maximum(level, torch.full_like(v, self.alpha))
        return torch.where(v >= low, level, torch.zeros_like(v))

    def run(self, steps, rec):
        prob = self.problem
        seq = prob.sequence(steps)
        fill = torch.zeros(self.seeds, dtype=self.dtype, device=self.device)
        value = torch.zeros_like(fill)
        rec.bound(
            "competitive_ratio_upper_bound",
            rec.checkpoints,
            np.full(len(rec.checkpoints), self.beta),
        )
        fractional = self.p["admission"] == "fractional"
        for t in range(steps):
            v, w = seq.densities[:, t], seq.weights[:, t]
            if fractional:
                take = torch.minimum(w, (self.fill_level(v) - fill).clamp_min(0.0))
            else:
                price = threshold(fill, prob.low, prob.high, self.alpha)
                take = torch.where((v >= price) & (fill + w <= 1.0), w, torch.zeros_like(w))
            fill = fill + take
            value = value + take * v
            if rec.should_record(t + 1):
                optimum = fractional_optimum(seq.densities[:, : t + 1], seq.weights[:, : t + 1])
                rec.metrics(
                    t + 1,
                    {
                        "competitive_ratio": optimum / value,
                        "cumulative_value": value,
                        "utilization": fill,
                    },
                )
            rec.progress(t + 1)
