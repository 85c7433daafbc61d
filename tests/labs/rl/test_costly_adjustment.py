"""Harvest quotas for a Beverton–Holt stock with adjustment costs: the SDP against brute
force, hand-computed transitions and costs, and the value lost by ignoring the costs."""

import itertools
import math

import numpy as np
import pytest
import torch

from engine.labs.rl.beverton_holt import (
    BevertonHolt,
    adjustment_cost,
    rewards,
    solve,
    stock_transitions,
)
from engine.labs.rl.costly_adjustment import CostlyAdjustment
from tests.labs.rl.support import run

F64 = torch.float64


def test_adjustment_costs_on_hand_numbers():
    """Result: quotas (0, 0.5, 1), c = 2: moving 0 → 0.5 costs 1 (L1), 0.5 (L2), 2 (fixed);
    0 → 1 costs 2, 2, 2; keeping the quota costs nothing."""
    quotas = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    for penalty, expected in (("l1", (1.0, 2.0)), ("l2", (0.5, 2.0)), ("fixed", (2.0, 2.0))):
        C = adjustment_cost(quotas, penalty, 2.0)
        assert (C[0, 1].item(), C[0, 2].item()) == pytest.approx(expected, abs=1e-15)
        assert C.diagonal().abs().max().item() == 0.0
        assert C[2, 1].item() == C[1, 2].item()


def test_transition_cells_on_hand_numbers():
    """Result: A = 2, K = 1 (B = 1), f(y) = 2y/(1 + y). Without noise all mass goes to the grid
    point whose cell holds f(y): on the grid 0, 0.4, 0.8, 1.2 with h = 0.5, x = 0.8 gives
    f(0.3) = 0.46 (point 0.4) and x = 1.2 gives f(0.7) = 0.82 (point 0.8). With σ = 0.3, on
    the grid 0, 0.4, 0.8, 1, x = 1 leaves y = 0.5, f = 2/3, and the mass below the midpoint
    0.6 is Φ((log 0.6 − log(2/3) + σ²/2)/σ); rows sum to 1; an empty stock stays empty."""
    stock = torch.tensor([0.0, 0.4, 0.8, 1.2], dtype=F64)
    quotas = torch.tensor([0.0, 0.5], dtype=F64)
    P = stock_transitions(stock, quotas, 2.0, 1.0, 0.0)
    # x = 0.8: y = 0.3, f = 0.6/1.3 = 0.4615…, in the cell of 0.4 (0.2, 0.6)
    np.testing.assert_array_equal(P[2, 1].numpy(), [0.0, 1.0, 0.0, 0.0])
    # x = 1.2: y = 0.7, f = 1.4/1.7 = 0.8235…, in the cell of 0.8 (0.6, 1.0)
    np.testing.assert_array_equal(P[3, 1].numpy(), [0.0, 0.0, 1.0, 0.0])
    sigma = 0.3
    stock = torch.tensor([0.0, 0.4, 0.8, 1.0], dtype=F64)
    P = stock_transitions(stock, quotas, 2.0, 1.0, sigma)
    below = 0.5 * math.erfc(
        -((math.log(0.6) - math.log(2 / 3) + sigma**2 / 2) / sigma) / math.sqrt(2)
    )
    assert P[3, 1, :2].sum().item() == pytest.approx(below, rel=1e-12)
    np.testing.assert_allclose(P.sum(-1).numpy(), 1.0, rtol=0, atol=1e-12)
    assert P[0, 0, 0].item() == 1.0  # an empty stock stays empty


def _brute_force(P, R, discount):
    """Every deterministic stationary policy, each evaluated by a dense linear solve in numpy;
    returns the values of all of them [policies, states] and the policies."""
    nx, nh, na = R.shape
    states = list(itertools.product(range(nx), range(nh)))
    P, R = P.numpy(), R.numpy()
    policies, values = [], []
    for choice in itertools.product(range(na), repeat=len(states)):
        M = np.zeros((len(states), len(states)))
        r = np.zeros(len(states))
        for n, ((i, k), a) in enumerate(zip(states, choice)):
            r[n] = R[i, k, a]
            for j in range(nx):
                M[n, j * nh + a] += P[i, a, j]
        values.append(np.linalg.solve(np.eye(len(states)) - discount * M, r))
        policies.append(np.array(choice).reshape(nx, nh))
    return np.array(values), policies


@pytest.mark.parametrize("penalty,cost", [("none", 0.0), ("l1", 0.3), ("l2", 0.8), ("fixed", 0.1)])
def test_sdp_policy_matches_brute_force_on_a_tiny_grid(penalty, cost):
    """Result: on 3 stock × 2 quota points (6 states, 2 actions: 64 stationary policies, each
    evaluated by a linear solve) the best policy dominates all others in every state; value
    iteration finds its values to 1e-8 and the same quotas."""
    stock = torch.tensor([0.0, 0.6, 1.2], dtype=F64)
    quotas = torch.tensor([0.0, 0.4], dtype=F64)
    P = stock_transitions(stock, quotas, 2.0, 1.0, 0.3)
    R = rewards(stock, quotas, 1.0, penalty, cost)
    values, policies = _brute_force(P, R, 0.9)
    best = int(np.argmax(values.sum(1)))
    assert (values[best] >= values.max(0) - 1e-12).all()  # an optimal policy dominates
    v, policy = solve(P, R, 0.9)
    np.testing.assert_allclose(v.numpy().reshape(-1), values[best], rtol=0, atol=1e-8)
    ties = (values.sum(1) > values[best].sum() - 1e-9).sum()
    if ties == 1:
        np.testing.assert_array_equal(policy.numpy(), policies[best])


@pytest.fixture(scope="module")
def runs():
    out = {}
    for penalty, cost in (("l1", 0.2), ("l2", 2.0), ("fixed", 0.2)):
        out[penalty] = run(
            CostlyAdjustment,
            BevertonHolt,
            {"penalty": penalty, "cost": cost},
            {"stock_points": 31, "quota_points": 16},
            seeds=64,
            checkpoints=[300],
        )
    return out


def test_quadratic_costs_smooth_the_harvest(runs):
    """Result: with L2 adjustment costs (c = 2) the mean over 64 paths of each path's
    harvest variance over 300 years is less than half that of the penalty-free policy on
    the same growth shocks."""
    v = runs["l2"][2].values[300]
    assert v["harvest_variance"].mean() < 0.5 * v["harvest_variance_penalty_free"].mean()


@pytest.mark.parametrize("penalty", ["l1", "l2", "fixed"])
def test_ignoring_costs_loses_more_than_assuming_them(runs, penalty):
    """Result (the paper's conclusion): the expected value lost by using the penalty-free
    policy where costs exist exceeds the value lost by using the cost-aware policy where
    there are none, for L1, L2 and fixed costs; both are ≥ 0 (each optimum is optimal)."""
    alg = runs[penalty][0]
    assert alg.lost_assuming >= -1e-9
    assert alg.lost_ignoring > alg.lost_assuming


def test_simulated_profit_gap_agrees_with_the_exact_value_lost(runs):
    """Result: the discounted profit of the cost-aware policy minus that of the penalty-free
    one, on the same shocks, averaged over 64 paths of 300 years (δ^300 ≈ 2e-7), is within
    4 standard errors of the exact V*_c − V_c^{π₀} from policy evaluation (fixed costs)."""
    alg, _, rec = runs["fixed"]
    gap = rec.values[300]["profit_gap"].numpy()
    se = gap.std(ddof=1) / math.sqrt(len(gap))
    assert abs(gap.mean() - alg.lost_ignoring) < 4 * se
