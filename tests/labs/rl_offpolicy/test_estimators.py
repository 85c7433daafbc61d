"""The off-policy estimators and SharpeRatio@k on hand-computed numbers."""

import math

import pytest
import torch

from engine.labs.rl_offpolicy.estimators import (
    clipped_ips,
    direct_method,
    doubly_robust,
    exact_moments,
    ips,
    smoothed_ips,
    snips,
    top_k_portfolio,
)

DTYPES = (torch.float32, torch.float64)

# Two logged rounds: π(a_i|x_i), π0(a_i|x_i), r_i.
TARGET = [0.5, 0.2]
LOGGING = [0.25, 0.5]
REWARD = [1.0, 0.5]


def t(values, dtype):
    return torch.tensor(values, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_smoothed_ips_at_alpha_one_and_zero_is_its_two_limits(dtype):
    """Exponential smoothing: π/π0^α at α = 1 is IPS, (2 + 0.2)/2 = 1.1, and at α = 0 the
    uncorrected (1/n) Σ π r = (0.5 + 0.1)/2 = 0.3; in between, α = ½ gives
    (0.5/0.5 + 0.2/√0.5 · 0.5)/2."""
    args = t(TARGET, dtype), t(LOGGING, dtype), t(REWARD, dtype)
    assert smoothed_ips(*args, 1.0).item() == pytest.approx(1.1, rel=1e-6)
    assert smoothed_ips(*args, 1.0).item() == pytest.approx(ips(*args).item(), rel=1e-6)
    assert smoothed_ips(*args, 0.0).item() == pytest.approx(0.3, rel=1e-6)
    assert smoothed_ips(*args, 0.5).item() == pytest.approx(
        (1 + 0.1 / math.sqrt(0.5)) / 2, rel=1e-6
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipped_ips_and_snips_on_hand_numbers(dtype):
    """Clipped IPS π/max(π0, τ) at τ = 0.4: (0.5/0.4 + 0.2/0.5 · 0.5)/2 = 0.725; τ = 0 is IPS.
    SNIPS: Σ w r / Σ w with w = (2, 0.4): 2.2 / 2.4."""
    args = t(TARGET, dtype), t(LOGGING, dtype), t(REWARD, dtype)
    assert clipped_ips(*args, 0.4).item() == pytest.approx(0.725, rel=1e-6)
    assert clipped_ips(*args, 0.0).item() == pytest.approx(1.1, rel=1e-6)
    assert snips(*args).item() == pytest.approx(2.2 / 2.4, rel=1e-6)
    # No logged action has mass under π: SNIPS is 0, not 0/0.
    assert snips(t([0.0, 0.0], dtype), t(LOGGING, dtype), t(REWARD, dtype)).item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_direct_method_and_doubly_robust_on_hand_numbers(dtype):
    """DM = (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a) = ((0.3 + 0.1) + (0.08 + 0.18))/2 = 0.33;
    DR adds (1/n) Σ w_i (r_i − q̂(x_i, a_i)) = (2 · 0.4 + 0.4 · (−0.4))/2 = 0.32: 0.65."""
    policy = t([[0.5, 0.5], [0.8, 0.2]], dtype)
    q_hat = t([[0.6, 0.2], [0.1, 0.9]], dtype)
    assert direct_method(policy, q_hat).item() == pytest.approx(0.33, rel=1e-6)
    dr = doubly_robust(
        policy, q_hat, t(TARGET, dtype), t(LOGGING, dtype), t(REWARD, dtype), t([0.6, 0.9], dtype)
    )
    assert dr.item() == pytest.approx(0.65, rel=1e-6)
    # A perfect reward model leaves nothing to correct; DR then equals DM.
    exact = doubly_robust(
        policy,
        q_hat,
        t(TARGET, dtype),
        t(LOGGING, dtype),
        t([0.6, 0.9], dtype),
        t([0.6, 0.9], dtype),
    )
    assert exact.item() == pytest.approx(0.33, rel=1e-6)


def test_exact_moments_match_enumeration_of_one_round():
    """exact_moments: E[Z] and Var(Z)/n of Z = ω(x, a) r(x, a) with x uniform over two
    contexts and a ~ π0(·|x), against the four outcomes enumerated by hand."""
    logging = torch.tensor([[0.25, 0.75], [0.5, 0.5]], dtype=torch.float64)
    weight = torch.tensor([[2.0, 0.4], [1.0, 3.0]], dtype=torch.float64)
    reward = torch.tensor([[1.0, 0.0], [0.5, 1.0]], dtype=torch.float64)
    outcomes = [(0.5 * 0.25, 2.0), (0.5 * 0.75, 0.0), (0.5 * 0.5, 0.5), (0.5 * 0.5, 3.0)]
    mean = sum(p * z for p, z in outcomes)
    variance = sum(p * z * z for p, z in outcomes) - mean**2
    got_mean, got_variance = exact_moments(weight, logging, reward, samples=4)
    assert got_mean.item() == pytest.approx(mean, rel=1e-12)
    assert got_variance.item() == pytest.approx(variance / 4, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sharpe_ratio_at_k_on_a_hand_vector(dtype):
    """SharpeRatio@k = (best@k − J(π_b)) / std@k with std over the top-k (1/k).

    True values J = (0.5 = π_b, 0.9, 0.2, 0.7), estimates (0.4, 0.6, 0.8, 0.1): the
    ranking is 2, 1, 0, 3, so the top-k true values are 0.2 | 0.9 | 0.5 | 0.7. Then
    k = 2: best 0.9, std 0.35, SR 0.4/0.35; k = 3: std of (0.2, 0.9, 0.5) = 0.286744…;
    k = 4: std 0.258602…; k = 1: best 0.2 and SR undefined (NaN)."""
    true_values = t([0.5, 0.9, 0.2, 0.7], dtype)
    estimates = t([0.4, 0.6, 0.8, 0.1], dtype)
    out = top_k_portfolio(estimates, true_values, true_values[0], range(1, 5))
    assert out["best"].tolist() == pytest.approx([0.2, 0.9, 0.9, 0.9], rel=1e-6)
    assert out["std"].tolist() == pytest.approx(
        [0.0, 0.35, 0.28674417556808757, 0.258602010819715], rel=1e-5
    )
    assert math.isnan(out["sharpe"][0].item())
    assert out["sharpe"][1:].tolist() == pytest.approx(
        [1.142857142857143, 1.3949716649258315, 1.5467783824730619], rel=1e-5
    )


def test_sharpe_ratio_batches_over_seeds_and_ranks_ties_by_index():
    """Leading axes are batches: a second seed whose estimates put π_b first gets best@1 =
    J(π_b) = 0.5; tied estimates keep the lower index first (stable sort)."""
    true_values = torch.tensor([0.5, 0.9, 0.2, 0.7], dtype=torch.float64)
    estimates = torch.tensor([[0.4, 0.6, 0.8, 0.1], [0.9, 0.3, 0.3, 0.1]], dtype=torch.float64)
    out = top_k_portfolio(
        estimates, true_values, torch.full((2,), 0.5, dtype=torch.float64), [1, 2, 3]
    )
    assert out["best"][1].tolist() == pytest.approx([0.5, 0.9, 0.9])
    # Seed 2's top 3 are indices 0, 1, 2: values 0.5, 0.9, 0.2.
    assert out["std"][1, 2].item() == pytest.approx(
        torch.tensor([0.5, 0.9, 0.2]).std(unbiased=False).item(), rel=1e-6
    )
