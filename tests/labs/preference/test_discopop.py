"""DiscoPOP's log-ratio modulated loss at hand-computed points and its optimum on two responses.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.discopop import discopop_losses
from tests.labs.preference.support import run, sigmoid


def lrml(rho, tau=0.05):
    """The paper's f(ρ) = (1 − σ(ρ/τ)) log(1 + e^−ρ) + σ(ρ/τ) e^−ρ, in numpy."""
    rho = np.asarray(rho, dtype=float)
    return (1 - sigmoid(rho / tau)) * np.log1p(np.exp(-rho)) + sigmoid(rho / tau) * np.exp(-rho)


def losses_at(rho, beta=1.0, tau=0.05):
    chosen = torch.tensor([rho], dtype=torch.float64) / beta
    return discopop_losses(chosen, torch.zeros_like(chosen), beta, tau).numpy()[0]


def test_loss_at_hand_computed_points():
    """Result: at ρ = 0 the blend is half and half: (log 2 + 1)/2. Far from 0 on the scale τ
    it is the exponential loss e^−ρ (ρ = 2: σ(40) = 1 − 4e−18) or the logistic loss
    log(1 + e^−ρ) (ρ = −2); in between, the paper's formula (ρ = 0.03, τ = 0.05)."""
    np.testing.assert_allclose(
        losses_at([0.0, 2.0, -2.0, 0.03], beta=0.5),
        [(math.log(2) + 1) / 2, math.exp(-2), math.log(1 + math.exp(2)), lrml(0.03)],
        rtol=0,
        atol=1e-15,
    )


def test_large_negative_margins_stay_finite():
    """Result: for ρ = −1000, σ(ρ/τ) = 0 and the loss is the logistic log(1 + e^1000) ≈ 1000,
    although e^−ρ overflows."""
    np.testing.assert_allclose(losses_at([-1000.0, -800.0]), [1000.0, 800.0], rtol=1e-12)


def test_slope_at_zero_margin_by_hand():
    """Result (differentiating the paper's formula): with σ'(0) = 1/4,
    f'(0) = −(log 2)/(4τ) − 1/4 + 1/(4τ) − 1/2 = (1 − log 2)/(4τ) − 3/4: about +0.784 at the
    paper's τ = 0.05 (the loss rises as the margin grows from 0) and −0.366 at τ = 0.2."""
    for tau in (0.05, 0.2):
        chosen = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
        discopop_losses(chosen, torch.zeros(1, 1, dtype=torch.float64), 1.0, tau).sum().backward()
        assert chosen.grad.item() == pytest.approx((1 - math.log(2)) / (4 * tau) - 0.75, abs=1e-14)


def golden_section(f, low, high):
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(100):
        a, b = high - golden * (high - low), low + golden * (high - low)
        if f(a) < f(b):
            high = b
        else:
            low = a
    return 0.5 * (low + high)


def local_minima(f):
    """The interior local minima of f on a grid of step 1e-5 over [−3, 3], refined."""
    grid = np.linspace(-3.0, 3.0, 600_001)
    values = f(grid)
    interior = (values[1:-1] < values[:-2]) & (values[1:-1] < values[2:])
    return [golden_section(f, x - 1e-4, x + 1e-4) for x in grid[1:-1][interior]]


@pytest.mark.parametrize("tau, lr, steps, which", [(0.05, 0.2, 300, 0), (0.2, 1.0, 150, -1)])
def test_population_optimisation_on_two_responses(tau, lr, steps, which):
    """Result (K = 2, uniform π_ref, population, P = σ(1)): the loss is
    P f(ρ) + (1 − P) f(−ρ) with ρ = θ0 − θ1 (β = 1), minimised in numpy (grid, then
    golden-section search). At τ = 0.05 it has two local minima, near ρ = −0.154 and 1.252;
    since f'(0) > 0, small gradient steps from ρ = 0 settle at the negative one, the wrong
    preference, to 1e-6. At τ = 0.2 the only minimum is near 1.264, past DPO's
    logit P = 1, and exact optimisation reaches it to 1e-6."""
    p = sigmoid(1.0)
    minima = local_minima(lambda rho: p * lrml(rho, tau) + (1 - p) * lrml(-rho, tau))
    expected = [[-0.154, 1.252], [1.264]][tau == 0.2]
    np.testing.assert_allclose(minima, expected, rtol=0, atol=1e-3)
    alg, _ = run(
        "preference.discopop",
        steps,
        problem={"rewards": [1.0, 0.0]},
        beta=1.0,
        tau=tau,
        optimizer="sgd",
        lr=lr,
    )
    logits = alg.logits.numpy()[0]
    assert abs((logits[0] - logits[1]) - minima[which]) < 1e-6
