"""A proxy reward that errs on a few responses: the problem on which optimisation over-shoots."""

from __future__ import annotations

import math

import torch

from engine.params import Param, ParamError
from engine.registry import Problem

PROXY_METRICS = ("proxy_reward", "true_reward", "kl_to_reference")


class ProxyReward(Problem):
    """One prompt, K responses, a true reward r and a proxy r̃ = r + e that a policy is
    optimised on; the error e is large on a few bad responses (a reward model that
    overrates them), so optimising r̃ hard enough lands on them.

    Unless given, everything is drawn once from `instance`:

        r_y ~ N(0, 1);   e_y = `error_size` on `error_responses` responses drawn among
        those with true reward below the median, plus `proxy_noise`·N(0, 1) on every one.

    The KL-regularised optimum of the proxy, π_λ ∝ π_ref exp(λ r̃) with λ = 1/β the
    optimisation pressure, runs from π_ref (λ = 0) to the proxy's best response (λ → ∞);
    along it the proxy reward only rises, the true reward may rise and then fall
    (Goodhart's law). `angle` is the angle between r and r̃ as directions in the plane of
    the simplex (each centred: a constant added to a reward changes no policy's ranking).
    """

    id = "preference.proxy_reward"
    family = "preference"
    title = "Proxy reward with structured error"
    summary = "K responses, true reward r, proxy r + e with a large error on a few bad responses."
    params = (
        Param("responses", "int", 10, "Number of responses K.", low=2, high=10_000),
        Param(
            "error_responses",
            "int",
            2,
            "Responses on which the proxy errs by error_size (drawn below the median true reward).",
            low=0,
            high=5000,
        ),
        Param(
            "error_size",
            "float",
            2.0,
            "How much the proxy overrates those responses.",
            low=-100.0,
            high=100.0,
        ),
        Param(
            "proxy_noise",
            "float",
            0.0,
            "Scale of Gaussian proxy error on every response.",
            low=0.0,
            high=100.0,
        ),
        Param("instance", "int", 0, "Seed of the drawn rewards and errors.", low=0, high=2**62),
        Param(
            "true_rewards",
            "floats",
            [],
            "True reward r per response; empty = drawn.",
            low=-100.0,
            high=100.0,
            min_len=0,
            max_len=10_000,
        ),
        Param(
            "proxy_rewards",
            "floats",
            [],
            "Proxy reward r̃ per response; empty = r + drawn error.",
            low=-100.0,
            high=100.0,
            min_len=0,
            max_len=10_000,
        ),
        Param(
            "reference",
            "floats",
            [],
            "Reference policy π_ref as positive weights; empty = uniform.",
            low=0.0,
            low_open=True,
            high=1e6,
            min_len=0,
            max_len=10_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        k = params["responses"]
        draw = torch.Generator().manual_seed(params["instance"])
        true = torch.randn(k, generator=draw, dtype=torch.float64)
        if params["true_rewards"]:
            true = _per_response("true_rewards", params["true_rewards"], k)
        if params["proxy_rewards"]:
            proxy = _per_response("proxy_rewards", params["proxy_rewards"], k)
        else:
            proxy = true + _drawn_error(params, true, draw)
        weights = _per_response("reference", params["reference"] or [1.0] * k, k)
        self.k = k
        self.true_rewards64, self.proxy_rewards64 = true, proxy
        self.reference64 = weights / weights.sum()
        self.true_rewards = true.to(device=device, dtype=dtype)
        self.proxy_rewards = proxy.to(device=device, dtype=dtype)
        self.reference = self.reference64.to(device=device, dtype=dtype)
        self.log_reference = self.reference.log()
        self.angle = reward_angle(true, proxy)

    def kl_optimum(self, inverse_beta: torch.Tensor) -> torch.Tensor:
        """π_λ ∝ π_ref exp(λ r̃) for pressures λ [n], [n, K]: the maximiser of
        E_π[r̃] − (1/λ) KL(π ‖ π_ref)."""
        return torch.softmax(self.log_reference + inverse_beta[:, None] * self.proxy_rewards, dim=1)

    def kl_to_reference(self, policy: torch.Tensor) -> torch.Tensor:
        """KL(π ‖ π_ref) for every row of π [n, K]; a response of probability 0 adds 0."""
        terms = policy * (policy.clamp_min(1e-300).log() - self.log_reference)
        return torch.where(policy > 0, terms, torch.zeros_like(terms)).sum(1)


def reward_angle(first: torch.Tensor, second: torch.Tensor) -> float:
    """The angle (radians) between two rewards [K] centred to sum 0 (their directions in the
    plane of the simplex); 0 where either is constant."""
    a, b = first - first.mean(), second - second.mean()
    norms = a.norm() * b.norm()
    if norms == 0:
        return 0.0
    return math.acos(max(-1.0, min(1.0, float(a @ b / norms))))


def _drawn_error(params: dict, true: torch.Tensor, draw: torch.Generator) -> torch.Tensor:
    """error_size on error_responses responses drawn below the median true reward, plus
    proxy_noise·N(0, 1) on every response."""
    k, m = true.numel(), params["error_responses"]
    below_median = torch.argsort(true)[: k // 2]
    if m > below_median.numel():
        raise ParamError(
            "problem.error_responses", f"must be at most half the responses ({k // 2}), got {m}"
        )
    erring = below_median[torch.randperm(below_median.numel(), generator=draw)[:m]]
    error = params["proxy_noise"] * torch.randn(k, generator=draw, dtype=torch.float64)
    error[erring] += params["error_size"]
    return error


def _per_response(name: str, values: list, k: int) -> torch.Tensor:
    if len(values) != k:
        raise ParamError(
            f"problem.{name}", f"needs one value per response ({k}), got {len(values)}"
        )
    return torch.tensor(values, dtype=torch.float64)
