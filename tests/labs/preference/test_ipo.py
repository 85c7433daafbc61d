"""IPO against its closed-form optimum and the bounded margin the paper is about.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.ipo import ipo_losses
from tests.labs.preference.support import run, sigmoid


def test_loss_at_hand_computed_points():
    """Result: (h_w − h_l − 1/(2τ))². At π = π_ref every log-ratio is 0, so the loss is
    1/(4τ²) = 25 at τ = 0.1; at h_w = 0.3, h_l = −0.4, τ = 0.5 it is (0.7 − 1)² = 0.09."""
    zero = torch.zeros(1, 3, dtype=torch.float64)
    np.testing.assert_allclose(ipo_losses(zero, zero, 0.1).numpy(), 25.0, rtol=0, atol=1e-12)
    value = ipo_losses(
        torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[-0.4]], dtype=torch.float64), 0.5
    )
    assert value.item() == pytest.approx(0.09, abs=1e-15)


@pytest.mark.parametrize("p", [0.5, 0.8, 1.0])
def test_label_averaged_loss_regresses_on_a_bounded_target(p):
    """Result (the paper's reduction of IPO to regression): averaged over the label of a pair
    {y, y'} preferred with probability p, the loss p (h − c)² + (1 − p)(−h − c)², c = 1/(2τ),
    equals (h − (2p − 1) c)² + c² (1 − (2p − 1)²): a target margin (p − 1/2)/τ, bounded
    by 1/(2τ) even at p = 1."""
    tau, c = 0.25, 2.0
    h = torch.linspace(-5.0, 5.0, 11, dtype=torch.float64)[None, :]
    zero = torch.zeros_like(h)
    averaged = p * ipo_losses(h, zero, tau) + (1 - p) * ipo_losses(zero, h, tau)
    expected = (h - (2 * p - 1) * c) ** 2 + c**2 * (1 - (2 * p - 1) ** 2)
    np.testing.assert_allclose(averaged.numpy(), expected.numpy(), rtol=0, atol=1e-12)


def test_first_sgd_step_follows_the_hand_derived_gradient():
    """Result (K = 2, population): L = P (h − c)² + (1 − P)(−h − c)² with c = 1/(2τ) and
    h = θ0 − θ1 − log(π_ref(0)/π_ref(1)), so at h = 0,
    ∂L/∂θ0 = −2cP + 2c(1 − P) = c (2 − 4P) = −∂L/∂θ1."""
    tau, lr = 0.5, 0.05
    p = sigmoid(1.5)
    grad0 = (1.0 / (2 * tau)) * (2 - 4 * p)
    alg, _ = run(
        "preference.ipo",
        1,
        problem={"rewards": [1.5, 0.0], "reference": [0.3, 0.7]},
        beta=tau,
        optimizer="sgd",
        lr=lr,
    )
    np.testing.assert_allclose(
        alg.logits.numpy()[0],
        [math.log(0.3) - lr * grad0, math.log(0.7) + lr * grad0],
        rtol=0,
        atol=1e-14,
    )


@pytest.mark.parametrize("label_flip", [0.0, 0.2])
def test_population_optimum_is_the_ipo_closed_form(label_flip):
    """Result (Azar et al., the IPO optimum): for pairs drawn from μ = π_ref,
        π*(y) ∝ π_ref(y) exp(τ⁻¹ Σ_y' π_ref(y') p(y ≻ y')),   p(y ≻ y) = 1/2,
    with p the (flipped) Bradley–Terry probability. Exact optimisation of the population
    loss reaches it to 1e-6, and `distance_to_optimum` measures against it."""
    reference = np.array([0.1, 0.2, 0.3, 0.4])
    rewards = np.array([1.0, 0.5, 0.0, -0.5])
    tau = 0.1
    gap = rewards[:, None] - rewards[None, :]
    p = (1 - label_flip) * sigmoid(gap) + label_flip * sigmoid(-gap)
    optimum = reference * np.exp(p @ reference / tau)
    optimum /= optimum.sum()
    alg, rec = run(
        "preference.ipo",
        250,
        problem={
            "rewards": rewards.tolist(),
            "reference": reference.tolist(),
            "label_flip": label_flip,
        },
        beta=tau,
        optimizer="sgd",
        lr=0.1,
    )
    np.testing.assert_allclose(alg.policy().numpy()[0], optimum, rtol=0, atol=1e-6)
    assert rec.records[250]["distance_to_optimum"][0] < 1e-6
    dpo_optimum = reference * np.exp(rewards / tau) / (reference * np.exp(rewards / tau)).sum()
    assert 0.5 * np.abs(optimum - dpo_optimum).sum() > 0.3


def test_population_optimum_on_the_loglinear_problem_is_the_least_squares_fit():
    """Result: on the log-linear problem h = (θ − θ_ref)ᵀ(φ(y_w) − φ(y_l)), so the population
    loss Σ W (dᵀδ − c)² is least squares: δ* solves Σ W d dᵀ δ = c Σ W d (W from numpy:
    2 π_ref(y) π_ref(y') σ(r_y − r_y') / (1 − Σ π_ref²), uniform π_ref). Exact optimisation
    reaches θ_ref + δ* to 1e-6."""
    tau = 0.5
    alg, rec = run("preference.ipo", 400, "preference.loglinear", beta=tau, optimizer="sgd", lr=0.2)
    phi = alg.problem.features64.numpy()
    rewards = alg.problem.rewards64.numpy()
    k = len(rewards)
    gram, moment = np.zeros((2, 2)), np.zeros(2)
    for w in range(k):
        for l in range(k):
            if w != l:
                weight = 2 * (1 / k) * (1 / k) / (1 - 1 / k) * sigmoid(rewards[w] - rewards[l])
                d = phi[w] - phi[l]
                gram += weight * np.outer(d, d)
                moment += weight * d / (2 * tau)
    np.testing.assert_allclose(
        alg.theta.detach().numpy()[0], np.linalg.solve(gram, moment), rtol=0, atol=1e-6
    )
    assert rec.records[400]["distance_to_optimum"][0] < 1e-6


def test_margin_stays_bounded_under_deterministic_preferences_where_dpo_grows_without_bound():
    """Result: with r = (100, 0) every label is 0 ≻ 1 (σ(100) = 1 in float64). IPO's
    margin β h converges to β/(2τ) = 1/2 (β = τ) and stays there. DPO's follows the
    gradient flow of −log σ(m): with θ0 = −θ1 moving by ηβσ(−m) per step,
    dm/dt = 2ηβ² σ(−m), so m + e^m = 2ηβ² t + 1 (m(0) = 0) and m ≈ log(2ηβ² t) grows
    without bound; the SGD iterates stay within 0.03 of the flow from step 30 on."""
    deterministic = {"rewards": [100.0, 0.0]}
    _, ipo = run("preference.ipo", 200, problem=deterministic, beta=0.5, optimizer="sgd", lr=0.2)
    _, ipo_margin = ipo.series("reward_margin")
    np.testing.assert_allclose(ipo_margin[-10:], 0.5, rtol=0, atol=1e-9)

    beta, lr = 0.5, 0.4
    _, dpo = run("preference.dpo", 300, problem=deterministic, beta=beta, optimizer="sgd", lr=lr)
    steps, margin = dpo.series("reward_margin")
    # The margin at step t belongs to the policy after t − 1 updates.
    target = 2 * lr * beta**2 * (steps - 1) + 1
    flow = np.log(target)
    for _ in range(50):  # Newton on m + e^m = target
        flow -= (flow + np.exp(flow) - target) / (1 + np.exp(flow))
    late = steps >= 30
    np.testing.assert_allclose(margin[late], flow[late], rtol=0, atol=0.03)
    assert margin[-1] > 4.0 and np.all(np.diff(margin) > 0)
