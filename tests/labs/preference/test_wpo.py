"""WPO: aligned weights, hand-computed weighted losses, and the DPO optimum as its fixed point.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.wpo import aligned_log_weights, wpo_weights
from tests.labs.preference.support import kl_regularised_optimum, run, sigmoid


def test_aligned_weights_average_one_on_policy():
    """Result (the paper's sampled weight alignment): w(y) = π(y)/Σ_v π(v)², so
    E_{y∼π}[w(y)] = Σ π(y)²/Σ π(v)² = 1 for every policy."""
    log_policy = torch.log_softmax(
        torch.randn((5, 7), generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3,
        dim=1,
    )
    expected_weight = (log_policy.exp() * aligned_log_weights(log_policy).exp()).sum(1)
    np.testing.assert_allclose(expected_weight.numpy(), 1.0, rtol=0, atol=1e-14)


def test_pair_weights_by_hand_with_the_clamp():
    """Result: at π = (0.3, 0.7), Σπ² = 0.58 and w(0) w(1) = 0.21/0.58²; at π = (0.45, 0.45, 0.1),
    Σπ² = 0.415 and w(0) w(1) = (0.45/0.415)² ≈ 1.176 is clamped to 1 (the authors' code)."""
    pairs = torch.tensor([[0]]), torch.tensor([[1]])
    two = torch.log(torch.tensor([[0.3, 0.7]], dtype=torch.float64))
    assert wpo_weights(two, *pairs).item() == pytest.approx(0.21 / 0.58**2, abs=1e-15)
    three = torch.log(torch.tensor([[0.45, 0.45, 0.1]], dtype=torch.float64))
    assert (0.45 / 0.415) ** 2 > 1.17
    assert wpo_weights(three, *pairs).item() == 1.0


def test_loss_and_first_step_at_initialisation():
    """Result (K = 2, π_ref = (0.3, 0.7), population): both orientations of the pair carry
    weight c = 0.21/0.58², so the loss is c log 2, and with no gradient through the weight
    the first SGD step is c times DPO's: ∂L/∂θ0 = c β (1/2 − P), P = σ(Δr)."""
    c, beta, lr, p = 0.21 / 0.58**2, 0.5, 0.2, sigmoid(1.5)
    alg, rec = run(
        "preference.wpo",
        1,
        problem={"rewards": [1.5, 0.0], "reference": [0.3, 0.7]},
        beta=beta,
        optimizer="sgd",
        lr=lr,
    )
    assert rec.records[1]["loss"][0] == pytest.approx(c * math.log(2), abs=1e-15)
    grad0 = c * beta * (0.5 - p)
    np.testing.assert_allclose(
        alg.logits.numpy()[0],
        [math.log(0.3) - lr * grad0, math.log(0.7) + lr * grad0],
        rtol=0,
        atol=1e-15,
    )


def test_population_fixed_point_is_the_dpo_optimum():
    """Result: each unordered pair's two orientations share the weight w(y) w(y'), and at
    π* = π_ref exp(r/β)/Z every pair's DPO gradient (σ(βh) − p)∇h vanishes (βh = r_y − r_y'),
    so reweighting leaves π* the fixed point: exact optimisation reaches it to 1e-6."""
    reference, rewards = [0.1, 0.2, 0.3, 0.4], [1.0, 0.5, 0.0, -0.5]
    alg, rec = run(
        "preference.wpo",
        150,
        problem={"rewards": rewards, "reference": reference},
        beta=1.0,
        optimizer="sgd",
        lr=5.0,
    )
    np.testing.assert_allclose(
        alg.policy().numpy()[0], kl_regularised_optimum(reference, rewards, 1.0), rtol=0, atol=1e-6
    )
    assert rec.records[150]["distance_to_optimum"][0] < 1e-6
