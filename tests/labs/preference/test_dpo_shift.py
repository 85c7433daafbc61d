"""DPO-Shift: DPO at λ = 1, and the trade of margin for chosen probability as λ falls.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.dpo import dpo_losses
from engine.labs.preference.dpo_shift import dpo_shift_losses
from engine.params import ParamError
from tests.labs.preference.support import build, run


def test_loss_at_hand_computed_points():
    """Result: −log σ(β h_w − λ β h_l). At π = π_ref (h = 0) it is log 2 for every λ; at
    h_w = 0.5, h_l = −0.2, β = 0.5, λ = 0.8 it is −log σ(0.25 + 0.08) = log(1 + e^−0.33)."""
    zero = torch.zeros(1, 2, dtype=torch.float64)
    for shift in (0.0, 0.5, 1.0):
        np.testing.assert_allclose(
            dpo_shift_losses(zero, zero, 0.1, shift).numpy(), math.log(2), rtol=0, atol=1e-15
        )
    value = dpo_shift_losses(
        torch.tensor([[0.5]], dtype=torch.float64),
        torch.tensor([[-0.2]], dtype=torch.float64),
        0.5,
        0.8,
    )
    assert value.item() == pytest.approx(math.log(1 + math.exp(-0.33)), abs=1e-15)


def test_lambda_one_is_dpo_exactly():
    """Result: at λ = 1, −log σ(β h_w − β h_l) is the DPO loss, pair by pair and along a
    whole run on the log-linear problem (bit for bit)."""
    chosen = torch.tensor([[0.7, -0.2, 3.0]], dtype=torch.float64)
    rejected = torch.tensor([[0.1, 0.4, -2.0]], dtype=torch.float64)
    np.testing.assert_array_equal(
        dpo_shift_losses(chosen, rejected, 0.3, 1.0).numpy(),
        dpo_losses(chosen, rejected, 0.3).numpy(),
    )
    shifted, _ = run("preference.dpo_shift", 40, "preference.loglinear", **{"lambda": 1.0})
    plain, _ = run("preference.dpo", 40, "preference.loglinear")
    np.testing.assert_array_equal(shifted.policy().numpy(), plain.policy().numpy())


@pytest.mark.parametrize(
    "schedule, first, middle",
    [
        ("fixed", 0.6, 0.6),
        ("increase_linear", 0.6, 0.8),
        ("decrease_linear", 1.0, 0.8),
    ],
)
def test_lambda_schedules_follow_the_authors_linear_rule(schedule, first, middle):
    """Result: λ_t = λ_min + (λ_max − λ_min)(t − 1)/T increasing, λ_max − (λ_max − λ_min)(t − 1)/T
    decreasing: with λ_min = 0.6, λ_max = 1 and T = 10, λ_1 is 0.6 or 1 and λ_6 is 0.8."""
    alg = build(
        "preference.dpo_shift",
        lambda_schedule=schedule,
        lambda_min=0.6,
        lambda_max=1.0,
        **{"lambda": 0.6},
    )
    assert alg.shift(1, 10) == pytest.approx(first, abs=1e-15)
    assert alg.shift(6, 10) == pytest.approx(middle, abs=1e-15)


def test_a_linear_schedule_needs_lambda_min_below_lambda_max():
    """Result: a schedule from λ_min to λ_max is refused, naming the key, when λ_min > λ_max."""
    with pytest.raises(ParamError, match=r"^algorithm\.lambda_min: must be <= lambda_max \(0\.7\)"):
        build(
            "preference.dpo_shift",
            lambda_schedule="increase_linear",
            lambda_min=0.9,
            lambda_max=0.7,
        )


@pytest.mark.parametrize("problem_id", ["preference.loglinear", "preference.tabular_bt"])
def test_margin_traded_for_chosen_probability_monotonically_in_lambda(problem_id):
    """Result (the paper's trade-off, seeded): after the same 100 steps on the same
    population loss, the smaller λ, the higher the mean chosen log-probability and the
    lower the reward margin; each step down in λ moves both by more than 0.01."""
    chosen, margin = [], []
    for shift in (0.5, 0.7, 0.85, 1.0):
        _, rec = run("preference.dpo_shift", 100, problem_id, beta=0.1, lr=0.1, **{"lambda": shift})
        chosen.append(rec.records[100]["chosen_logp"][0])
        margin.append(rec.records[100]["reward_margin"][0])
    assert np.all(np.diff(chosen) < -0.01), chosen
    assert np.all(np.diff(margin) > 0.01), margin
