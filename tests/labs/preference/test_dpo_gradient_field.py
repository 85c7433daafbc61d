"""The DPO gradient field over (π_w, π_l): closed forms against autograd, the ratio identity,
and the recorded curves against hand-computed steps.

Reference values come from the formulas in each docstring, computed by hand or by torch
autograd on the loss written out in the test, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.labs.preference.dpo_gradient_field import dpo_probability_gradients
from engine.params import ParamError
from tests.labs.preference.support import run

POINTS = [
    (0.2, 0.5, 0.3, 0.4, 0.1),
    (0.7, 0.05, 0.25, 0.25, 0.5),
    (0.01, 0.9, 0.5, 0.1, 2.0),
    (0.45, 0.45, 0.1, 0.6, 1.0),
    (0.999, 1e-6, 0.2, 0.3, 0.05),
]


@pytest.mark.parametrize("x1,x2,ref_w,ref_l,beta", POINTS)
def test_closed_forms_match_autograd(x1, x2, ref_w, ref_l, beta):
    """Result (the paper's partial derivatives): for L(x₁, x₂) = −log σ(β log(x₁/π_ref,w) −
    β log(x₂/π_ref,l)), autograd on L as written here gives ∂L/∂x₁ = −β(1 − σ(u))/x₁ and
    ∂L/∂x₂ = β(1 − σ(u))/x₂ to 1e-12 relative, at points across the unit square (including
    π_l = 1e-6), and so does the paper's form ∓β c x₂^β / (x_i (x₁^β + c x₂^β)),
    c = (π_ref,w/π_ref,l)^β."""
    x = torch.tensor([x1, x2], dtype=torch.float64, requires_grad=True)
    loss = -F.logsigmoid(beta * torch.log(x[0] / ref_w) - beta * torch.log(x[1] / ref_l))
    (grad,) = torch.autograd.grad(loss, x)
    d1, d2 = dpo_probability_gradients(
        *(torch.tensor(v, dtype=torch.float64) for v in (x1, x2, ref_w, ref_l)), beta
    )
    np.testing.assert_allclose([d1.item(), d2.item()], grad.numpy(), rtol=1e-12, atol=0)
    c = (ref_w / ref_l) ** beta
    denominator = x1**beta + c * x2**beta
    np.testing.assert_allclose(
        [d1.item(), d2.item()],
        [-beta * c * x2**beta / (x1 * denominator), beta * c * x2**beta / (x2 * denominator)],
        rtol=1e-12,
        atol=0,
    )
    assert d1.item() < 0 < d2.item()


def test_ratio_of_the_magnitudes_is_the_probability_ratio():
    """Result (the paper's ratio): |∂L/∂π_l| / |∂L/∂π_w| = π_w/π_l for every β and π_ref, on a
    grid of 400 points of the open unit square and 3 values of β, to 1e-12 relative."""
    grid = torch.linspace(0.02, 0.98, 20, dtype=torch.float64)
    x1, x2 = torch.meshgrid(grid, grid, indexing="ij")
    for beta, ref_w, ref_l in ((0.1, 0.3, 0.2), (1.0, 0.05, 0.6), (5.0, 0.5, 0.5)):
        d1, d2 = dpo_probability_gradients(
            x1,
            x2,
            torch.tensor(ref_w, dtype=torch.float64),
            torch.tensor(ref_l, dtype=torch.float64),
            beta,
        )
        np.testing.assert_allclose(
            (d2.abs() / d1.abs()).numpy(), (x1 / x2).numpy(), rtol=1e-12, atol=0
        )


def test_recorded_curves_follow_hand_computed_steps():
    """Result: with K = 3, π_ref = (0.2, 0.5, 0.3), pair (0 ≻ 1), β = 1/2: at step 1 (π = π_ref,
    u = 0) the gradients are −β/(2π_w) and β/(2π_l), magnitudes 1.25 and 0.5, ratio 0.4 =
    0.2/0.5. The logits' gradient is −βσ(−u) on y_w and +βσ(−u) on y_l (log π_w − log π_l =
    θ_w − θ_l), so one SGD step of 0.1 moves them by ±0.025 and step 2 sees
    π = softmax(log π_ref + (0.025, −0.025, 0)). Every step, gradient_ratio equals
    probability_ratio (1e-12), and after 300 steps the ratio exceeds 50: the rejected
    probability is pushed down ever faster than the chosen one is pushed up."""
    reference = np.array([0.2, 0.5, 0.3])
    _, rec = run(
        "preference.dpo_gradient_field",
        300,
        problem={"rewards": [1.0, 0.0, 0.5], "reference": reference.tolist()},
        every_step=True,
        beta=0.5,
        lr=0.1,
        optimizer="sgd",
    )
    first = rec.records[1]
    assert first["loss"][0] == pytest.approx(math.log(2), abs=1e-15)
    assert first["chosen_gradient"][0] == pytest.approx(1.25, abs=1e-14)
    assert first["rejected_gradient"][0] == pytest.approx(0.5, abs=1e-14)
    assert first["gradient_ratio"][0] == pytest.approx(0.4, abs=1e-14)
    logits = np.log(reference) + np.array([0.025, -0.025, 0.0])
    policy = np.exp(logits) / np.exp(logits).sum()
    assert rec.records[2]["chosen_probability"][0] == pytest.approx(policy[0], abs=1e-14)
    assert rec.records[2]["rejected_probability"][0] == pytest.approx(policy[1], abs=1e-14)
    _, ratio = rec.series("gradient_ratio")
    _, probability_ratio = rec.series("probability_ratio")
    np.testing.assert_allclose(ratio, probability_ratio, rtol=1e-12, atol=0)
    assert ratio[-1] > 50 and np.all(np.diff(ratio) > 0)


def test_a_pair_must_be_two_responses_of_the_problem():
    """Result: chosen = rejected, or an index past K, is refused with the key and the reason."""
    with pytest.raises(ParamError, match=r"^algorithm\.rejected: must differ from chosen \(1\)"):
        run("preference.dpo_gradient_field", 2, chosen=1, rejected=1)
    with pytest.raises(
        ParamError, match=r"^algorithm\.chosen: must be a response index below 4, got 7$"
    ):
        run("preference.dpo_gradient_field", 2, chosen=7)
