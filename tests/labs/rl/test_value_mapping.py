"""Q-learning, log Q-learning and the mixed map against hand-computed updates and Q* from
value iteration."""

import math

import numpy as np
import pytest
import torch

from engine.labs.rl.tabular_mdp import RewardScalesMDP, control_values_batched
from engine.labs.rl.value_mapping import ValueMapping, mapped_update
from tests.labs.rl.support import build, run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_channel_update_on_hand_numbers(dtype):
    """Result: on a log channel with c = 0.5, d = 0: Q(s, a) = 2, Q(s', ã) = 4, r = 1, γ = 0.5
    give U = 3; β_reg = 0.5 gives Û = 2.5; β_f = 0.4 moves Q̃ = 0.5 log 2 to
    0.5 log 2 + 0.4 (0.5 log 2.5 − 0.5 log 2). The identity channel beside it, with the
    same numbers, is Q-learning with step β_reg β_f = 0.2: 2 + 0.2 (3 − 2) = 2.2."""
    c = 0.5
    q_tilde = torch.tensor([c * math.log(2.0), 2.0], dtype=dtype)
    q_tilde_next = torch.tensor([c * math.log(4.0), 4.0], dtype=dtype)
    new = mapped_update(
        q_tilde,
        q_tilde_next,
        torch.tensor([1.0, 1.0], dtype=dtype),
        torch.tensor(0.5, dtype=dtype),
        torch.tensor([True, False]),
        0.5,
        0.4,
        c,
        0.0,
        1e-4,
    )
    expected_log = c * math.log(2.0) + 0.4 * (c * math.log(2.5) - c * math.log(2.0))
    tol = 1e-6 if dtype == torch.float32 else 1e-15
    assert new[0].item() == pytest.approx(expected_log, abs=tol)
    assert new[1].item() == pytest.approx(2.2, abs=tol)


def test_floor_keeps_a_log_channel_finite():
    """Result: a target Û ≤ 0 on a log channel is floored at log_floor, so Q̃ moves towards
    c log(floor) + d = 0.5 log 1e-4 rather than to −inf or NaN."""
    f64 = torch.float64
    new = mapped_update(
        torch.tensor([0.0], dtype=f64),
        torch.tensor([0.0], dtype=f64),
        torch.tensor([-5.0], dtype=f64),
        torch.tensor(0.0, dtype=f64),
        torch.tensor([True]),
        1.0,
        1.0,
        0.5,
        0.0,
        1e-4,
    )
    assert new.item() == pytest.approx(0.5 * math.log(1e-4), rel=1e-12)


@pytest.mark.parametrize(
    "mapping,expected",
    [
        ("identity", [[-0.3 + 100.0]]),
        ("log", [[99.7, 0.0]]),
        ("mixed", [[0.0, 0.3, 100.0, 0.0]]),
    ],
)
def test_channels_decompose_the_reward(mapping, expected):
    """Result: the channel rewards of small = −0.3 and large = 100 are r; (r⁺, r⁻) = (99.7, 0);
    and (small⁺, small⁻, large⁺, large⁻) = (0, 0.3, 100, 0), and Σ_j λ_j r_j = 99.7 in each."""
    alg, _ = build(ValueMapping, RewardScalesMDP, {"mapping": mapping}, {}, seeds=1)
    r = alg.channel_rewards(
        torch.tensor([-0.3], dtype=torch.float64), torch.tensor([100.0], dtype=torch.float64)
    )
    np.testing.assert_allclose(r.numpy(), expected, rtol=0, atol=1e-12)
    assert (r * alg.weights).sum().item() == pytest.approx(99.7, abs=1e-12)


def test_greedy_action_is_taken_on_the_combined_q():
    """Result: ã = argmax_a Σ_j λ_j f_j⁻¹(Q̃_j(s', a)), not per channel: with r⁺ values (5, 3)
    and r⁻ values (4, 0) at s', action 1 (Q = 3) beats action 0 (Q = 1), so each channel
    bootstraps from action 1: after one update with β_reg = β_f = 1, r = 0, γ = 0.5 the
    channels of Q(s, a) are 1.5 and the floor (Q = 1.5 − 1e-4)."""
    alg, prob = build(
        ValueMapping,
        RewardScalesMDP,
        {"mapping": "log", "beta_reg": 1.0, "beta_f": 1.0, "epsilon": 0.0},
        {
            "states": 2,
            "actions": 2,
            "deterministic": True,
            "discount": 0.5,
            "small_scale": 0.0,
            "large_scale": 0.0,
            "restart": 0.0,
        },
        seeds=1,
    )
    c = alg.p["c"]
    alg.q_tilde[0, 1] = c * torch.log(torch.tensor([[5.0, 4.0], [3.0, 1e-4]], dtype=torch.float64))
    alg.q_tilde[0, 0] = c * math.log(1e-4)
    prob.cumulative[0] = torch.tensor([0.0, 1.0], dtype=torch.float64)  # every move goes to state 1
    prob.reset = lambda count: torch.zeros(count, dtype=torch.long)
    alg.run(
        1,
        type(
            "R",
            (),
            {
                "should_record": staticmethod(lambda t: False),
                "progress": staticmethod(lambda t: None),
            },
        ),
    )
    q = alg.q_values()
    chosen = q[0, 0].max().item()
    assert chosen == pytest.approx(1.5 - 1e-4, rel=1e-12)


@pytest.mark.parametrize("mapping", ["identity", "log", "mixed"])
def test_converges_to_q_star_on_a_deterministic_mdp(mapping):
    """Result: with deterministic transitions and rewards, every map's fixed point is Q*
    (the channels' values under the greedy policy add up to Q*); from Q = 0, 2500 steps
    with β_reg = 1, β_f = 0.5 bring the RMS error to Q* (value iteration) below 1e-8 of
    the scale of Q* on 3 seeds, and the greedy policy's return to the optimum. The log
    floor is 1e-9 here, so that no channel value lies below it (at the default 1e-4 a
    channel worth less is learned as the floor, an error of about 1e-6 of the scale)."""
    _, prob, rec = run(
        ValueMapping,
        RewardScalesMDP,
        {"mapping": mapping, "log_floor": 1e-9, "beta_reg": 1.0, "beta_f": 0.5, "epsilon": 0.5},
        {
            "states": 4,
            "actions": 2,
            "deterministic": True,
            "restart": 0.3,
            "small_scale": 0.1,
            "large_scale": 10.0,
        },
        seeds=3,
        checkpoints=[2500],
    )
    scale = prob.q_star.abs().amax((1, 2))
    assert (rec.values[2500]["q_error"] < 1e-8 * scale).all()
    assert rec.values[2500]["return_gap"].abs().max() < 1e-9 * scale.max()


def test_value_iteration_on_a_two_state_chain():
    """Result: two states, one action each moving to the other, rewards 1 and 0, γ = 0.5:
    Q*(0) = 1/(1 − γ²) = 4/3 and Q*(1) = γ Q*(0) = 2/3."""
    P = torch.tensor([[[[0.0, 1.0]], [[1.0, 0.0]]]], dtype=torch.float64)
    R = torch.tensor([[[1.0], [0.0]]], dtype=torch.float64)
    q = control_values_batched(P, R, 0.5)
    np.testing.assert_allclose(q[0, :, 0].numpy(), [4 / 3, 2 / 3], rtol=0, atol=1e-11)
