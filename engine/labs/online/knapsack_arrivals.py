"""Online knapsack arrivals with bounded value densities, and their hindsight optimum."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def fractional_optimum(
    densities: torch.Tensor, weights: torch.Tensor, capacity: float = 1.0
) -> torch.Tensor:
    """max_x sum_t x_t v_t  s.t.  sum_t x_t <= capacity,  0 <= x_t <= w_t, for every seed.

    Item t offers weight w_t at value density v_t (value v_t w_t in all). The relaxation in
    which items may be split is a fractional knapsack, solved exactly by filling the
    capacity with the densest items first; it bounds the value of every online (and
    offline) packing of the same items, so OPT / ALG is a competitive ratio.
    """
    order = torch.argsort(densities, dim=1, descending=True)
    v = densities.gather(1, order)
    w = weights.gather(1, order)
    before = torch.cumsum(w, dim=1) - w
    take = torch.minimum(w, (capacity - before).clamp_min(0.0))
    return (take * v).sum(dim=1)


@dataclass(frozen=True)
class Arrivals:
    densities: torch.Tensor  # [seeds, T] value per unit weight v_t, in [L, U]
    weights: torch.Tensor  # [seeds, T] weight w_t, a share of the capacity 1


class OnlineKnapsackArrivals(Problem):
    """T items arrive one by one at a knapsack of capacity 1; item t has weight w_t ~
    U(0, 2 mean_weight] and value density v_t in [L, U], known bounds.

    Densities are log-uniform, v_t = L (U / L)^{u_t}, u_t ~ U[0, 1], so every scale between
    L and U is equally represented. ``order = "increasing"`` sorts each seed's densities
    in increasing order: the adversary of the threshold analysis, which lets a greedy
    packer fill up on cheap items before the valuable ones arrive. ``order = "decreasing"``
    is the easy order. The whole sequence is drawn at the start from the problem's stream
    (common random numbers across algorithms).
    """

    id = "bandits.online_knapsack"
    family = "bandits"
    title = "Online knapsack arrivals"
    summary = (
        "Items with weights and value densities in [L, U] arriving at a unit-capacity knapsack."
    )
    params = (
        Param(
            "low_density",
            "float",
            1.0,
            "Lower bound L of the value densities.",
            low=0.0,
            low_open=True,
        ),
        Param(
            "high_density",
            "float",
            100.0,
            "Upper bound U of the value densities.",
            low=0.0,
            low_open=True,
        ),
        Param(
            "mean_weight",
            "float",
            0.01,
            "Mean item weight (the knapsack's capacity is 1).",
            low=0.0,
            low_open=True,
            high=0.5,
        ),
        Param(
            "order",
            "choice",
            "random",
            "Arrival order of the densities.",
            choices=("random", "increasing", "decreasing"),
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.low, self.high = params["low_density"], params["high_density"]
        if self.high <= self.low:
            raise ParamError(
                "high_density", f"must exceed low_density ({self.low:g}); got {self.high:g}"
            )
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def sequence(self, steps: int) -> Arrivals:
        u = torch.rand(
            (2, self.seeds, steps), generator=self._gen, device=self.device, dtype=self.dtype
        )
        log_span = torch.log(
            torch.tensor(self.high / self.low, dtype=self.dtype, device=self.device)
        )
        densities = self.low * torch.exp(u[0] * log_span)
        if self.p["order"] == "increasing":
            densities = torch.sort(densities, dim=1).values
        elif self.p["order"] == "decreasing":
            densities = torch.sort(densities, dim=1, descending=True).values
        # 1 - u lies in (0, 1], so no item weighs nothing.
        weights = 2.0 * self.p["mean_weight"] * (1.0 - u[1])
        return Arrivals(densities, weights)
