"""A stochastically varying Beverton–Holt fish stock on a grid, harvested by annual quotas."""

from __future__ import annotations

import math

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

PENALTIES = ("none", "l1", "l2", "fixed")


def _normal_cdf(z: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-z / math.sqrt(2.0))


def stock_transitions(
    stock: torch.Tensor, quotas: torch.Tensor, growth: float, capacity: float, noise: float
) -> torch.Tensor:
    """P[i, a, j]: chance that a stock x_i fished with quota h_a is x_j next year.

    Escapement y = x − min(h, x); next stock Z f(y) with f(y) = A y / (1 + B y),
    B = (A − 1)/K (so K is the deterministic equilibrium) and log Z ~ N(−σ²/2, σ²)
    (E Z = 1). The mass of each grid point is that of its cell, bounded by the midpoints
    to its neighbours (the last cell reaches to +∞, the first down to 0); a zero
    escapement stays at 0.
    """
    harvest = torch.minimum(quotas[None, :], stock[:, None])
    escapement = stock[:, None] - harvest
    b = (growth - 1.0) / capacity
    mean = growth * escapement / (1.0 + b * escapement)
    edges = (stock[1:] + stock[:-1]) / 2
    if noise > 0:
        log_mean = torch.log(mean.clamp_min(1e-300))[..., None] - noise**2 / 2
        cdf = _normal_cdf((torch.log(edges) - log_mean) / noise)
    else:
        cdf = (edges >= mean[..., None]).to(stock.dtype)
    zeros = torch.zeros(cdf.shape[:-1] + (1,), dtype=stock.dtype)
    ones = torch.ones_like(zeros)
    cdf = torch.cat([zeros, cdf, ones], -1)
    P = cdf[..., 1:] - cdf[..., :-1]
    extinct = (mean <= 0)[..., None]
    first = torch.zeros_like(P)
    first[..., 0] = 1.0
    return torch.where(extinct, first, P)


def adjustment_cost(quotas: torch.Tensor, penalty: str, cost: float) -> torch.Tensor:
    """C[k, a]: the cost of moving the quota from h_k (last year) to h_a."""
    change = quotas[None, :] - quotas[:, None]
    if penalty == "none":
        return torch.zeros_like(change)
    if penalty == "l1":
        return cost * change.abs()
    if penalty == "l2":
        return cost * change.pow(2)
    if penalty == "fixed":
        return cost * (change != 0).to(quotas.dtype)
    raise ValueError(f"unknown penalty {penalty!r} (known: {', '.join(PENALTIES)})")


def rewards(stock, quotas, price, penalty, cost) -> torch.Tensor:
    """R[i, k, a] = price · min(h_a, x_i) − C[k, a]."""
    harvest = torch.minimum(quotas[None, :], stock[:, None])
    return price * harvest[:, None, :] - adjustment_cost(quotas, penalty, cost)[None, :, :]


def solve(P: torch.Tensor, R: torch.Tensor, discount: float, tol: float = 1e-11):
    """Value iteration on states (x_i, h_k), actions a (next h_k = h_a):
    V(i, k) = max_a R[i, k, a] + δ Σ_j P[i, a, j] V(j, a). Returns (V [nx, nh], policy [nx, nh])."""
    v = torch.zeros(R.shape[:2], dtype=R.dtype)
    for _ in range(1_000_000):
        q = R + discount * torch.einsum("iaj,ja->ia", P, v)[:, None, :]
        new, policy = q.max(-1)
        if (new - v).abs().max() <= tol * max(1.0, new.abs().max().item()):
            return new, policy
        v = new
    raise RuntimeError("value iteration did not converge")


def evaluate(
    P: torch.Tensor, R: torch.Tensor, policy: torch.Tensor, discount: float, tol: float = 1e-11
):
    """V^π(i, k) = R[i, k, π(i, k)] + δ Σ_j P[i, π(i, k), j] V^π(j, π(i, k)), by iteration."""
    nx, nh = policy.shape
    i = torch.arange(nx)[:, None].expand(nx, nh)
    reward = R.gather(-1, policy[..., None])[..., 0]
    step = P[i, policy]  # [nx, nh, nx]
    v = torch.zeros_like(reward)
    for _ in range(1_000_000):
        new = reward + discount * (step * v[:, policy].permute(1, 2, 0)).sum(-1)
        if (new - v).abs().max() <= tol * max(1.0, new.abs().max().item()):
            return new
        v = new
    raise RuntimeError("policy evaluation did not converge")


class BevertonHolt(Problem):
    """A Beverton–Holt stock with lognormal growth shocks, managed by annual quotas.

    x_{t+1} = Z_t f(x_t − min(h_t, x_t)), f(y) = A y/(1 + B y), K = (A − 1)/B,
    log Z_t ~ N(−σ²/2, σ²). The stock lives on `stock_points` evenly spaced values in
    [0, `stock_max` K] and the quota on `quota_points` values in [0, `quota_max` K]; the
    transition between grid points is the lognormal mass of each grid cell. Each year
    pays price · min(h, x) minus the cost of changing the quota. The seed drives the
    growth shocks (problem stream); the model itself is the same for every seed.
    """

    id = "rl.beverton_holt"
    family = "rl"
    title = "Beverton–Holt fish stock with lognormal shocks, harvested by annual quotas"
    summary = "Stochastic Beverton–Holt growth on a grid; profit from harvest; quotas on a grid."
    params = (
        Param(
            "growth",
            "float",
            2.0,
            "Beverton–Holt growth A (> 1).",
            low=1.0,
            low_open=True,
            high=100.0,
        ),
        Param("capacity", "float", 1.0, "Carrying capacity K.", low=0.0, low_open=True, high=1e6),
        Param("noise", "float", 0.2, "σ of the lognormal growth shock.", low=0.0, high=5.0),
        Param("price", "float", 1.0, "Price per unit harvested.", low=0.0, high=1e6),
        Param(
            "discount",
            "float",
            0.95,
            "Annual discount factor δ.",
            low=0.0,
            high=1.0,
            high_open=True,
        ),
        Param("stock_points", "int", 41, "Grid points of the stock.", low=2, high=400),
        Param(
            "stock_max",
            "float",
            1.6,
            "Top of the stock grid, in units of K.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param("quota_points", "int", 21, "Grid points of the quota.", low=2, high=200),
        Param(
            "quota_max",
            "float",
            0.8,
            "Top of the quota grid, in units of K.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param(
            "initial_stock",
            "float",
            0.75,
            "Stock in the first year, in units of K (nearest grid point).",
            low=0.0,
            high=100.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        p = params
        f64 = torch.float64
        self._gen = generator(device, seed, PROBLEM_STREAM)
        self.stock = torch.linspace(
            0.0, p["stock_max"] * p["capacity"], p["stock_points"], dtype=f64
        )
        self.quotas = torch.linspace(
            0.0, p["quota_max"] * p["capacity"], p["quota_points"], dtype=f64
        )
        self.discount, self.price = p["discount"], p["price"]
        self.P = stock_transitions(self.stock, self.quotas, p["growth"], p["capacity"], p["noise"])
        self.cumulative = self.P.cumsum(-1).to(device)
        self.initial_index = int((self.stock - p["initial_stock"] * p["capacity"]).abs().argmin())

    def rewards(self, penalty: str, cost: float) -> torch.Tensor:
        return rewards(self.stock, self.quotas, self.price, penalty, cost)

    def next_stock(
        self, stock_index: torch.Tensor, quota_index: torch.Tensor, u: torch.Tensor
    ) -> torch.Tensor:
        """Next grid index per seed from a uniform u [seeds] (shared by policies compared)."""
        cdf = self.cumulative[stock_index, quota_index]
        return (cdf < u[:, None]).sum(-1).clamp_max_(len(self.stock) - 1)

    def uniforms(self) -> torch.Tensor:
        return torch.rand(self.seeds, generator=self._gen, device=self.device, dtype=torch.float64)
