"""KTO on unpaired examples derived from the pairs, against hand-derived values and gradients.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.kto import kto_losses
from engine.labs.preference.problems import PreferencePairs, UnpairedExamples
from tests.labs.preference.support import run, sigmoid

LAMBDAS = {"lambda_desirable": 1.33, "lambda_undesirable": 1.0}


def test_pairs_become_weighted_desirable_and_undesirable_examples():
    """Result: each pair y_w ≻ y_l of weight w gives y_w desirable and y_l undesirable,
    each of weight w/2, so the example weights still sum to 1 per seed."""
    pairs = PreferencePairs(
        chosen=torch.tensor([[0, 2]]),
        rejected=torch.tensor([[1, 0]]),
        weight=torch.tensor([[0.25, 0.75]], dtype=torch.float64),
    )
    examples = UnpairedExamples.from_pairs(pairs)
    assert examples.response.tolist() == [[0, 2, 1, 0]]
    assert examples.desirable.tolist() == [[True, True, False, False]]
    np.testing.assert_allclose(
        examples.weight.numpy(), [[0.125, 0.375, 0.125, 0.375]], rtol=0, atol=0
    )


def test_loss_at_hand_computed_points():
    """Result: λ_D − λ_D σ(β(r − z_0)) for a desirable example, λ_U − λ_U σ(β(z_0 − r)) for
    an undesirable one: at r = 0.5, z_0 = 0.2, β = 0.1 these are 1.33 (1 − σ(0.03)) and
    1 − σ(−0.03); at r = z_0 both values are λ/2."""
    logratio = torch.tensor([[0.5, 0.5, 0.2, 0.2]], dtype=torch.float64)
    desirable = torch.tensor([[True, False, True, False]])
    losses = kto_losses(
        logratio, desirable, torch.tensor([0.2], dtype=torch.float64), 0.1, 1.33, 1.0
    )
    expected = [1.33 * (1 - sigmoid(0.03)), 1 - sigmoid(-0.03), 1.33 / 2, 0.5]
    np.testing.assert_allclose(losses.numpy()[0], expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("problem_id", ["preference.tabular_bt", "preference.loglinear"])
def test_loss_at_initialisation(problem_id):
    """Result: at π = π_ref every r_θ = z_0 = 0, so each example costs λ_y/2; desirable and
    undesirable examples each carry half the weight, so the loss is (λ_D + λ_U)/4."""
    _, rec = run("preference.kto", 1, problem_id, seeds=2, **LAMBDAS)
    np.testing.assert_allclose(rec.records[1]["loss"], (1.33 + 1.0) / 4, rtol=0, atol=1e-15)


def test_first_sgd_step_follows_the_hand_derived_gradient():
    """Result (K = 2, population, P = σ(Δr)): the examples are 0 desirable (weight P/2) and
    undesirable ((1 − P)/2), 1 desirable ((1 − P)/2) and undesirable (P/2). With
    ∂r_0/∂θ0 = π(1), ∂r_1/∂θ0 = −π(0) and σ' = 1/4 at r = z_0 = 0,
        ∂L/∂θ0 = (β/8) [π(1)(λ_U (1 − P) − λ_D P) + π(0)(λ_D (1 − P) − λ_U P)] = −∂L/∂θ1."""
    beta, lr, p = 0.5, 0.3, sigmoid(1.2)
    pi0, pi1 = 0.3, 0.7
    lam_d, lam_u = LAMBDAS["lambda_desirable"], LAMBDAS["lambda_undesirable"]
    grad0 = beta / 8 * (pi1 * (lam_u * (1 - p) - lam_d * p) + pi0 * (lam_d * (1 - p) - lam_u * p))
    alg, _ = run(
        "preference.kto",
        1,
        problem={"rewards": [1.2, 0.0], "reference": [pi0, pi1]},
        beta=beta,
        optimizer="sgd",
        lr=lr,
        **LAMBDAS,
    )
    np.testing.assert_allclose(
        alg.logits.numpy()[0],
        [math.log(pi0) - lr * grad0, math.log(pi1) + lr * grad0],
        rtol=0,
        atol=1e-15,
    )


def test_the_reference_point_carries_no_gradient():
    """Result: z_0 = KL(π ‖ π_ref) enters the value but is not differentiated (the paper
    does not back-propagate through it). For tabular logits ∂r_y/∂θ_j = δ_yj − π_j, so
        ∂L/∂θ_j = Σ_e w_e β s_e (δ_{y_e j} − π_j),  s_e = −λ_D σ'(β(r − z_0)) if desirable,
                                                           +λ_U σ'(β(z_0 − r)) if not,
    with z_0 held fixed. Five SGD steps replayed in numpy with this gradient match the
    run to 1e-13; at π ≠ π_ref ∂KL/∂θ ≠ 0, so a differentiated z_0 would not."""
    rewards, reference = np.array([1.0, 0.3, -0.4]), np.array([0.2, 0.3, 0.5])
    beta, lr, steps = 0.5, 2.0, 5
    lam_d, lam_u = LAMBDAS["lambda_desirable"], LAMBDAS["lambda_undesirable"]
    examples = []
    for w in range(3):
        for l in range(3):
            if w != l:
                pair = (
                    2
                    * reference[w]
                    * reference[l]
                    / (1 - np.sum(reference**2))
                    * sigmoid(rewards[w] - rewards[l])
                )
                examples += [(w, True, pair / 2), (l, False, pair / 2)]
    theta = np.log(reference)
    for _ in range(steps):
        policy = np.exp(theta) / np.exp(theta).sum()
        logratio = np.log(policy / reference)
        z0 = np.sum(policy * logratio)
        grad = np.zeros(3)
        for y, desirable, weight in examples:
            if desirable:
                slope = (
                    -lam_d
                    * beta
                    * sigmoid(beta * (logratio[y] - z0))
                    * sigmoid(-beta * (logratio[y] - z0))
                )
            else:
                slope = (
                    lam_u
                    * beta
                    * sigmoid(beta * (z0 - logratio[y]))
                    * sigmoid(-beta * (z0 - logratio[y]))
                )
            grad += weight * slope * (np.eye(3)[y] - policy)
        theta = theta - lr * grad
    alg, _ = run(
        "preference.kto",
        steps,
        problem={"rewards": rewards.tolist(), "reference": reference.tolist()},
        beta=beta,
        optimizer="sgd",
        lr=lr,
        **LAMBDAS,
    )
    np.testing.assert_allclose(alg.logits.numpy()[0], theta, rtol=0, atol=1e-13)


def test_on_two_responses_kto_has_no_interior_optimum():
    """Result (from the gradient above with λ_D = λ_U = 1): ∂L/∂θ0 = (β/2)(1 − 2P)
    (σ'_0 π(1) + σ'_1 π(0)) < 0 whenever P > 1/2, at every θ: unlike DPO, whose optimum
    π_ref exp(r/β)/Z keeps π(1) ≈ 0.136 here, KTO raises π(0) at every step towards 1
    (seeded: strictly increasing over 300 steps, above 0.99 at the end)."""
    alg, rec = run(
        "preference.kto",
        300,
        problem={"rewards": [1.0, 0.0], "reference": [0.7, 0.3]},
        beta=1.0,
        optimizer="sgd",
        lr=1.0,
    )
    steps = sorted(rec.records)
    rewards = np.array([rec.records[t]["true_reward"][0] for t in steps])
    assert np.all(np.diff(rewards) > 0)
    assert alg.policy().numpy()[0, 0] > 0.99
    dpo_optimum = 0.7 * math.e / (0.7 * math.e + 0.3)
    assert dpo_optimum < 0.89
