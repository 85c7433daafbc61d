"""The losses of TRADES, SCORE and WEAT on given vectors, against hand-computed values."""

import math

import pytest
import torch

from engine.labs.robust.score import smoothed_targets, squared_error
from engine.labs.robust.trades import trades_boundary
from engine.labs.robust.weat import energy, energy_weights


def test_trades_boundary_is_kl_from_the_clean_output_to_the_adversarial_one():
    """TRADES' term is KL(f(x) || f(x')): with p = f(x) = (0.8, 0.2) and q = f(x') = (0.5, 0.5),
    0.8 ln(0.8/0.5) + 0.2 ln(0.2/0.5) = 0.19274; the other direction KL(q || p) would give
    0.5 ln(0.5/0.8) + 0.5 ln(0.5/0.2) = 0.22314. Logits are log-probabilities (softmax
    returns p), and a constant added to them changes nothing."""
    p = torch.tensor([0.8, 0.2], dtype=torch.float64)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)
    forward = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    backward = 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(2.5)
    assert forward == pytest.approx(0.192745, abs=1e-6)
    assert float(trades_boundary(p.log(), q.log() + 3.0)) == pytest.approx(forward, abs=1e-12)
    assert float(trades_boundary(q.log(), p.log())) == pytest.approx(backward, abs=1e-12)
    assert float(trades_boundary(p.log(), p.log() - 1.0)) == pytest.approx(0.0, abs=1e-15)


def test_score_squared_error_against_smoothed_targets():
    """SCORE's natural term ||f(x) - ỹ||²: f(x) = (0.7, 0.3), label 0, smoothing 0.1 gives
    ỹ = (0.9, 0.1) and 0.2² + 0.2² = 0.08. Three classes, smoothing 0.3, label 2:
    ỹ = (0.15, 0.15, 0.7). The boundary term ||f(x') - f(x)||² of (0.5, 0.5) and (0.8, 0.2)
    is 0.09 + 0.09 = 0.18 (symmetric, unlike KL)."""
    target = smoothed_targets(torch.tensor([0]), 2, 0.1, torch.float64)
    assert target.flatten().tolist() == pytest.approx([0.9, 0.1], abs=1e-15)
    p = torch.tensor([[0.7, 0.3]], dtype=torch.float64)
    assert float(squared_error(p, target)) == pytest.approx(0.08, abs=1e-12)
    three = smoothed_targets(torch.tensor([2]), 3, 0.3, torch.float64)
    assert three.flatten().tolist() == pytest.approx([0.15, 0.15, 0.7], abs=1e-15)
    a = torch.tensor([0.5, 0.5], dtype=torch.float64)
    b = torch.tensor([0.8, 0.2], dtype=torch.float64)
    assert float(squared_error(a, b)) == pytest.approx(0.18, abs=1e-12)
    assert float(squared_error(b, a)) == pytest.approx(0.18, abs=1e-12)


def test_weat_weights_of_given_energies():
    """WEAT's w(E) = 1 / log(1 + exp(|E|)): E = 0 gives 1 / ln 2 = 1.442695; E = ±ln 2 gives
    1 / ln 3 = 0.910239; E = -3 gives 1 / ln(1 + e³) = 0.328021; E = 40 gives about 1/40 (the
    softplus is computed without overflow). The energy of logits (0, 0) is -ln 2."""
    energies = torch.tensor([0.0, math.log(2), -math.log(2), -3.0, 40.0], dtype=torch.float64)
    expected = [1 / math.log(2), 1 / math.log(3), 1 / math.log(3), 1 / math.log(1 + math.e**3)]
    weights = energy_weights(energies)
    assert weights[:4].tolist() == pytest.approx(expected, abs=1e-12)
    assert expected[3] == pytest.approx(0.328021, abs=1e-6)
    assert float(weights[4]) == pytest.approx(1 / 40, rel=1e-12)
    logits = torch.tensor([[0.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    assert energy(logits).tolist() == pytest.approx(
        [-math.log(2), -math.log(math.e + math.e**2)], abs=1e-12
    )
