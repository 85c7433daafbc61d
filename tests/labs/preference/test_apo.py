"""A*-PO against the closed-form optimal value, the KL-regularised optimum and hand values.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.apo import apo_residuals, sample_optimal_value
from engine.seeding import ALGORITHM_STREAM, generator
from tests.labs.preference.support import build, kl_regularised_optimum, run

REFERENCE = [0.1, 0.2, 0.3, 0.4]
REWARDS = [1.0, 0.5, 0.0, -0.5]


def optimal_value(reference, rewards, beta):
    """V* = β ln Σ_y π_ref(y) exp(r_y/β), the log-partition of the KL-regularised optimum."""
    return beta * np.log(np.sum(np.asarray(reference) * np.exp(np.asarray(rewards) / beta)))


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_population_value_is_the_closed_form(beta):
    """Result: with value_samples = 0, stage 1 is V* = β ln E_π_ref[exp(r/β)] exactly
    (numpy, to 1e-12) for every seed."""
    alg = build(
        "preference.apo",
        seeds=3,
        problem={"reference": REFERENCE, "rewards": REWARDS},
        beta=beta,
        value_samples=0,
    )
    np.testing.assert_allclose(
        alg.estimate_optimal_value(None).numpy(),
        optimal_value(REFERENCE, REWARDS, beta),
        rtol=0,
        atol=1e-12,
    )


def test_sampled_value_by_hand():
    """Result: the estimator β ln (1/N) Σ exp(r_i/β) on the sample r = (1, 0, 0) with β = 1
    is ln((e + 2)/3) = 0.5514..., and on the sample (2, 2) with β = 0.5 it is 2 (a
    constant sample estimates itself)."""
    value = sample_optimal_value(
        torch.tensor([[1.0, 0.0, 0.0], [2.0, 2.0, 2.0]], dtype=torch.float64), 1.0
    ).numpy()
    assert value[0] == pytest.approx(math.log((math.e + 2) / 3), abs=1e-15)
    assert sample_optimal_value(
        torch.tensor([2.0, 2.0], dtype=torch.float64), 0.5
    ).item() == pytest.approx(2.0, abs=1e-15)


def test_sampled_value_converges_with_its_delta_method_error():
    """Result: V̂* from N draws of π_ref is consistent, with the delta-method standard error
    β sd(e^{r/β}) / (√N E[e^{r/β}]) (numpy). Over 16 seeds the error shrinks as N grows
    (1e2 → 1e4 → 1e6, mean absolute error falling each time) and at N = 1e6 every seed is
    within 4 standard errors of V*; for small N the mean lies below V* (Jensen: the log of
    a mean underestimates), by about the second-order bias σ²/(2N m²)·β."""
    beta = 0.5
    exact = optimal_value(REFERENCE, REWARDS, beta)
    weights = np.exp(np.asarray(REWARDS) / beta)
    mean = np.sum(np.asarray(REFERENCE) * weights)
    sd = math.sqrt(np.sum(np.asarray(REFERENCE) * weights**2) - mean**2)
    errors = []
    for n in (100, 10_000, 1_000_000):
        alg = build(
            "preference.apo",
            seeds=16,
            problem={"reference": REFERENCE, "rewards": REWARDS},
            beta=beta,
            value_samples=n,
        )
        values = alg.estimate_optimal_value(generator(alg.device, 0, ALGORITHM_STREAM)).numpy()
        errors.append(np.abs(values - exact).mean())
        if n == 1_000_000:
            assert np.all(np.abs(values - exact) < 4 * beta * sd / (math.sqrt(n) * mean))
        assert np.ptp(values) > 0
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("optimizer,lr", [("sgd", 1.0), ("adam", 0.05)])
def test_population_optimisation_reaches_the_kl_regularised_optimum(optimizer, lr):
    """Result: with V* exact and β₁ = β₂, β ln π*/π_ref = r − V* holds for π* =
    π_ref exp(r/β)/Z (the DPO paper, Eq. 4), so the regression loss is 0 there only;
    minimising its exact expectation over π_t reaches π* to 1e-6 (numpy) and the loss
    to 1e-12."""
    beta = 0.5
    alg, rec = run(
        "preference.apo",
        600,
        problem={"reference": REFERENCE, "rewards": REWARDS},
        beta=beta,
        policy_samples=0,
        optimizer=optimizer,
        lr=lr,
    )
    optimum = kl_regularised_optimum(REFERENCE, REWARDS, beta)
    np.testing.assert_allclose(alg.policy().numpy()[0], optimum, rtol=0, atol=1e-6)
    assert rec.records[600]["loss"][0] < 1e-12
    assert rec.records[600]["distance_to_optimum"][0] < 1e-6


def test_a_biased_value_estimate_keeps_the_population_optimum():
    """Result (derived in the docstring): with one prompt, V̂* − V* is a constant shift of
    every target, and the exact on-policy gradient 2β π(j)(e_j − E_π e) vanishes when the
    residuals e are constant, so even V̂* from N = 4 draws (off by more than 0.01 here) leaves
    the population optimum at π_ref exp(r/β)/Z (numpy, 1e-6); the loss settles at
    (V̂* − V*)² instead of 0."""
    beta = 0.5
    alg, rec = run(
        "preference.apo",
        600,
        problem={"reference": REFERENCE, "rewards": REWARDS},
        beta=beta,
        value_samples=4,
        policy_samples=0,
        optimizer="adam",
        lr=0.05,
    )
    error = alg.optimal_value.numpy()[0] - optimal_value(REFERENCE, REWARDS, beta)
    assert abs(error) > 0.01
    np.testing.assert_allclose(
        alg.policy().numpy()[0], kl_regularised_optimum(REFERENCE, REWARDS, beta), rtol=0, atol=1e-6
    )
    assert rec.records[600]["loss"][0] == pytest.approx(error**2, abs=1e-10)


def test_one_on_policy_sample_per_step_reaches_the_optimum_on_the_loglinear_problem():
    """Result: π* is in the log-linear family (θ* = θ_ref + w/β), where every residual
    β log π/π_ref − (r − V*) is 0, so even the paper's single on-policy sample per step has a
    vanishing gradient there: SGD on 4 seeds reaches θ* to 1e-5 (numpy: θ_ref + w/β)."""
    beta = 1.0
    alg, _ = run(
        "preference.apo",
        1500,
        "preference.loglinear",
        seeds=4,
        beta=beta,
        policy_samples=1,
        optimizer="sgd",
        lr=0.5,
    )
    expected = (
        alg.problem.reference_parameters64.numpy() + alg.problem.reward_weights64.numpy() / beta
    )
    np.testing.assert_allclose(
        alg.theta.detach().numpy(), np.tile(expected, (4, 1)), rtol=0, atol=1e-5
    )


def test_loss_at_the_reference_by_hand():
    """Result: at π = π_ref every log-ratio is 0, so the population loss is
    E_π_ref[(r − V*)²]; with r = (1, 0), uniform π_ref and β = 1, V* = ln((e + 1)/2) =
    0.62011... and the loss is ((1 − V*)² + V*²)/2 = 0.26442... Residuals by hand:
    β h − (r − V) at β = 0.5, h = (0.4, −1), r = (1, 0), V = 0.2 are (−0.6, −0.3)."""
    v = math.log((math.e + 1) / 2)
    _, rec = run(
        "preference.apo",
        1,
        problem={"rewards": [1.0, 0.0]},
        every_step=True,
        beta=1.0,
        policy_samples=0,
    )
    assert rec.records[1]["loss"][0] == pytest.approx(((1 - v) ** 2 + v**2) / 2, abs=1e-15)
    residual = apo_residuals(
        torch.tensor([[0.4, -1.0]], dtype=torch.float64),
        torch.tensor([[0.8, -0.2]], dtype=torch.float64),
        0.5,
    )
    np.testing.assert_allclose(residual.numpy(), [[-0.6, -0.3]], rtol=0, atol=1e-15)
