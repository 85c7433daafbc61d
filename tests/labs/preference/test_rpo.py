"""RPO: DPO at η = 0, its stationary point on two responses, and the chosen probability it keeps.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.preference.dpo import dpo_losses
from engine.labs.preference.rpo import rpo_losses
from tests.labs.preference.support import run, sigmoid


def test_loss_at_initialisation_adds_the_reference_log_likelihood():
    """Result: at π = π_ref the DPO part is log 2 and the SFT part η β E[−log π_ref(y_w)].
    K = 2, π_ref = (0.3, 0.7), P = σ(1): the chosen response is 0 with weight P and 1 with
    1 − P, so the loss is log 2 − η β (P log 0.3 + (1 − P) log 0.7)."""
    beta, eta, p = 0.5, 0.8, sigmoid(1.0)
    _, rec = run(
        "preference.rpo",
        1,
        problem={"rewards": [1.0, 0.0], "reference": [0.3, 0.7]},
        beta=beta,
        eta=eta,
    )
    expected = math.log(2) - eta * beta * (p * math.log(0.3) + (1 - p) * math.log(0.7))
    assert rec.records[1]["loss"][0] == pytest.approx(expected, abs=1e-14)


def test_eta_zero_is_dpo_exactly():
    """Result: at η = 0 the SFT term vanishes: the DPO loss pair by pair, and the same run
    bit for bit."""
    chosen = torch.tensor([[0.7, -0.2]], dtype=torch.float64)
    rejected = torch.tensor([[0.1, 0.4]], dtype=torch.float64)
    logp = torch.tensor([[-1.0, -2.0]], dtype=torch.float64)
    np.testing.assert_array_equal(
        rpo_losses(chosen, rejected, logp, 0.3, 0.0).numpy(),
        dpo_losses(chosen, rejected, 0.3).numpy(),
    )
    regularised, _ = run("preference.rpo", 40, "preference.loglinear", eta=0.0)
    plain, _ = run("preference.dpo", 40, "preference.loglinear")
    np.testing.assert_array_equal(regularised.policy().numpy(), plain.policy().numpy())


def test_population_stationary_point_on_two_responses():
    """Result (K = 2, population): with x = θ0 − θ1, π(0) = σ(x), h = x − log(π_ref(0)/π_ref(1))
    and P = σ(Δr), the loss is P ℓ(βh) + (1 − P) ℓ(−βh) − ηβ (P log σ(x) + (1 − P) log σ(−x)),
    whose derivative is β [σ(βh) − P + η (σ(x) − P)]. Its root (bisection in numpy) is
    where exact optimisation settles, to 1e-9. It lies strictly between DPO's root
    βh = logit P (x ≈ 1.153) and the SFT term's own, σ(x) = P (x = 1): the SFT term pulls
    the policy towards the distribution of the chosen responses."""
    beta, eta, ratio = 0.5, 0.8, math.log(0.3 / 0.7)
    p = sigmoid(1.0)
    low, high = -50.0, 50.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if sigmoid(beta * (middle - ratio)) - p + eta * (sigmoid(middle) - p) > 0:
            high = middle
        else:
            low = middle
    alg, _ = run(
        "preference.rpo",
        100,
        problem={"rewards": [1.0, 0.0], "reference": [0.3, 0.7]},
        beta=beta,
        eta=eta,
        optimizer="sgd",
        lr=5.0,
    )
    logits = alg.logits.numpy()[0]
    assert abs((logits[0] - logits[1]) - low) < 1e-9
    dpo_root = 1.0 / beta + ratio
    assert 1.0 + 0.02 < low < dpo_root - 0.02


def test_sft_term_keeps_the_chosen_probability_that_dpo_displaces():
    """Result (the paper's Figure 1 claim, on the log-linear problem, seeded): after the
    same 250 steps DPO has lowered the mean chosen log-probability by more than 5 nats from
    its reference value log(1/8), while RPO with η = 1 keeps it within 0.05 nats; a larger η
    keeps more (η = 0.2 lies in between)."""
    finals = {}
    for eta in (0.0, 0.2, 1.0):
        _, rec = run("preference.rpo", 250, "preference.loglinear", beta=0.1, lr=0.1, eta=eta)
        start = rec.records[1]["chosen_logp"][0]
        assert start == pytest.approx(math.log(1 / 8), abs=1e-14)
        finals[eta] = rec.records[250]["chosen_logp"][0] - start
    assert finals[0.0] < -5.0
    assert abs(finals[1.0]) < 0.05
    assert finals[0.0] < finals[0.2] - 1.0 and finals[0.2] < finals[1.0] - 1.0
