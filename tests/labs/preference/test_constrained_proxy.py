"""Constrained proxy optimisation (Lagrangian), against roots and optima found in numpy.

Reference values come from the formulas in each docstring, computed with numpy
(bisection, a dense grid), never with the code under test.
"""

import numpy as np
import pytest

from engine.params import ParamError
from tests.labs.preference.support import run

PROXY = "preference.proxy_reward"
ALGORITHM = "preference.constrained_proxy"


def path_values(true, proxy, pressure):
    """E_π_λ[r], E_π_λ[r̃] at one pressure λ, π_λ ∝ exp(λ r̃) (uniform π_ref)."""
    weights = np.exp(pressure * (proxy - proxy.max()))
    policy = weights / weights.sum()
    return policy @ true, policy @ proxy


def multiplier_root(true, proxy, tau):
    """μ* with E_π_μ*[r̃] = τ by bisection (E_π_μ[r̃] increases with μ: its slope is Var ≥ 0)."""
    low, high = 0.0, 1.0
    while path_values(true, proxy, high)[1] < tau:
        high *= 2
    for _ in range(200):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if path_values(true, proxy, middle)[1] < tau else (low, middle)
    return 0.5 * (low + high)


def rewards_of(alg):
    return alg.problem.true_rewards.numpy(), alg.problem.proxy_rewards.numpy()


def test_the_multiplier_converges_to_the_root_of_the_constraint():
    """Result: the dual g(μ) = max_π L is convex with g'(μ) = E_π_μ[r̃] − τ, so projected
    dual descent with a step below 1/max Var(r̃) converges to μ* solving E_π_μ*[r̃] = τ
    (bisection in numpy); the constraint then holds with equality (gap < 1e-9) and the
    KL is that of π_μ*: μ* E[r̃] − log E_π_ref[exp(μ* r̃)]."""
    alg, rec = run(ALGORITHM, 300, PROXY, proxy_threshold=1.0, multiplier_lr=0.15)
    true, proxy = rewards_of(alg)
    mu = multiplier_root(true, proxy, 1.0)
    assert alg.multiplier == pytest.approx(mu, abs=1e-9)
    last = rec.records[300]
    assert abs(last["constraint_gap"][0]) < 1e-9
    assert last["multiplier"][0] == pytest.approx(mu, abs=1e-9)
    kl = mu * 1.0 - np.log(np.mean(np.exp(mu * proxy)))
    assert last["kl_to_reference"][0] == pytest.approx(kl, abs=1e-8)
    assert last["true_reward"][0] == pytest.approx(path_values(true, proxy, mu)[0], abs=1e-9)


def test_a_threshold_at_the_proxy_point_recovers_the_best_true_reward():
    """Result: E_π_λ[r̃] is increasing in λ, so the constrained optimum with τ equal to the
    proxy value at the true reward's peak (the proxy point, found on a dense λ grid in
    numpy, ≈ 0.459 on the seeded default instance) is the peak policy itself: its true
    reward is within 1e-8 of the peak, far above the −0.396 of the unconstrained λ = 100."""
    alg, _ = run(ALGORITHM, 1, PROXY)
    true, proxy = rewards_of(alg)
    grid = np.linspace(0.0, 20.0, 20001)
    values = np.array([path_values(true, proxy, lam) for lam in grid])
    peak = int(np.argmax(values[:, 0]))
    assert 0 < peak < len(grid) - 1
    tau = values[peak, 1]
    # Near μ* ≈ 3.26 Var_π_μ(r̃) ≈ 0.07: dual descent contracts by 1 − η Var per step, so η = 1.
    alg, rec = run(ALGORITHM, 400, PROXY, proxy_threshold=float(tau), multiplier_lr=1.0)
    final_true = rec.records[400]["true_reward"][0]
    assert final_true == pytest.approx(values[peak, 0], abs=1e-8)
    unconstrained_true = path_values(true, proxy, 100.0)[0]
    assert final_true - unconstrained_true > 0.8


def test_an_inactive_constraint_keeps_the_reference():
    """Result (KKT): when π_ref already meets τ (τ < E_π_ref[r̃]) the multiplier stays 0 and
    the optimum of max −KL is π_ref itself: KL = 0, E[r̃] = mean r̃ (uniform π_ref)."""
    alg, rec = run(ALGORITHM, 50, PROXY, proxy_threshold=-1.0)
    _, proxy = rewards_of(alg)
    last = rec.records[50]
    assert last["multiplier"][0] == 0.0
    assert last["kl_to_reference"][0] == pytest.approx(0.0, abs=1e-15)
    assert last["proxy_reward"][0] == pytest.approx(proxy.mean(), abs=1e-14)


def test_an_unreachable_threshold_is_refused():
    """Result: no KL-regularised policy reaches max r̃, so τ ≥ max r̃ has no multiplier;
    the error names the key and the reason."""
    with pytest.raises(
        ParamError, match=r"^algorithm\.proxy_threshold: must be below the largest proxy reward"
    ):
        run(ALGORITHM, 5, PROXY, proxy_threshold=50.0)
