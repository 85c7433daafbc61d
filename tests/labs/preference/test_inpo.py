"""INPO against the KL-regularised Nash equilibrium, solved independently in numpy.

Reference values come from the formulas in each docstring, computed by hand, by a
damped mirror-descent iteration in numpy, or as an LP optimum (scipy), never with the code
under test.
"""

import numpy as np
import pytest
import torch

from engine.labs.preference.inpo import inpo_losses
from engine.params import ParamError
from tests.labs.preference.support import run
from tests.labs.preference.test_spo import lp_minimax_winner

INTRANSITIVE = "preference.intransitive"
GAME = {"responses": 5, "noise": 1.0, "instance": 0}


def numpy_regularised_nash(preference, reference, tau, step=0.02, iterations=200_000):
    """π*_τ ∝ π_ref exp(Pπ*_τ/τ) by damped fixed-point iteration in log space,
    log π ← (1 − α) log π + α (log π_ref + Pπ/τ), normalised (α = step·τ: a small step of
    the regularised game's mirror descent, which converges because the game is strongly
    monotone). Stops when the iterate moves less than 1e-16, and checks the fixed point."""
    preference, log_reference = np.asarray(preference), np.log(np.asarray(reference))
    alpha = step * tau
    log_policy = log_reference.copy()
    for _ in range(iterations):
        policy = np.exp(log_policy)
        target = log_reference + preference @ policy / tau
        updated = (1 - alpha) * log_policy + alpha * target
        updated -= np.log(np.exp(updated - updated.max()).sum()) + updated.max()
        if np.abs(updated - log_policy).max() < 1e-16:
            break
        log_policy = updated
    policy = np.exp(log_policy)
    fixed = np.exp(log_reference + preference @ policy / tau)
    assert np.abs(fixed / fixed.sum() - policy).max() < 1e-12
    return policy


def test_loss_by_hand():
    """Result: h = log π(y_w)/π(y_l) − (τ/η) log π_ref(y_w)/π_ref(y_l)
    − (1 − τ/η) log π_t(y_w)/π_t(y_l).
    With 0.5, 0.2, −0.1, τ = 0.1, η = 0.5: h = 0.5 − 0.04 + 0.08 = 0.54 and
    (h − 1/(2η))² = (0.54 − 1)² = 0.2116; with τ = η the π_t term drops: h = 0.5 − 0.2 = 0.3,
    (0.3 − 1)² = 0.49."""
    args = [torch.tensor([x], dtype=torch.float64) for x in (0.5, 0.2, -0.1)]
    assert inpo_losses(*args, 0.1, 0.5).item() == pytest.approx(0.2116, abs=1e-15)
    assert inpo_losses(*args, 0.5, 0.5).item() == pytest.approx(0.49, abs=1e-15)


def test_first_round_loss_and_step_are_the_mirror_descent_step():
    """Result: at π_1 = π_ref every h is 0, so L_1(π_1) = (1/(2η))² = 1 at η = 1/2 (the pair
    weights sum to 2 πᵀPπ = 1). The exact minimiser of L_1 is the mirror-descent step
    π_2 ∝ π_ref^{τ/η} π_1^{1 − τ/η} exp(P(y ≻ π_1)/η) = π_ref exp(Pπ_ref/η) (numpy, 1e-12)."""
    eta = 0.5
    alg, rec = run(
        "preference.inpo",
        1,
        INTRANSITIVE,
        problem={**GAME, "reference": [1, 2, 3, 2, 1]},
        every_step=True,
        tau=0.1,
        eta=eta,
    )
    assert rec.records[1]["loss"][0] == pytest.approx(1.0, abs=1e-14)
    preference = alg.problem.preference.numpy()
    reference = np.array([1, 2, 3, 2, 1]) / 9
    step = reference * np.exp(preference @ reference / eta)
    np.testing.assert_allclose(alg.final_policy.numpy()[0], step / step.sum(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "instance,tau,eta,rounds",
    [(0, 0.1, 0.5, 300), (1, 0.1, 1.0, 300), (2, 0.05, 0.5, 700), (3, 0.5, 1.0, 300)],
)
def test_last_iterate_converges_to_the_regularised_nash_equilibrium(instance, tau, eta, rounds):
    """Result (the paper's last-iterate convergence): exact INPO rounds converge to the
    KL-regularised Nash equilibrium π*_τ ∝ π_ref exp(Pπ*_τ/τ), here solved by an
    independent damped fixed-point iteration in numpy: after 300 rounds (700 where
    τ/η = 0.1 makes the contraction slower) the total
    variation is below 1e-8, the regularised exploitability (0 exactly at π*_τ, ≥ 0
    elsewhere) below 1e-12, and the engine's own equilibrium agrees to 1e-10."""
    alg, rec = run(
        "preference.inpo",
        rounds,
        INTRANSITIVE,
        problem={**GAME, "instance": instance},
        tau=tau,
        eta=eta,
    )
    expected = numpy_regularised_nash(
        alg.problem.preference.numpy(), alg.problem.reference.numpy(), tau
    )
    assert 0.5 * np.abs(alg.final_policy.numpy()[0] - expected).sum() < 1e-8
    np.testing.assert_allclose(alg.equilibrium.numpy(), expected, rtol=0, atol=1e-10)
    assert abs(rec.records[rounds]["regularised_exploitability"][0]) < 1e-12
    _, gap = rec.series("regularised_exploitability")
    assert gap[0] > 1e-3 and np.all(gap > -1e-12)


def test_small_tau_approaches_the_unregularised_minimax_winner():
    """Result: as τ → 0 the regularised equilibrium tends to the minimax winner of the
    unregularised game (the LP of von Neumann, scipy): INPO's last iterate is at TV ≈ 0.38
    from it at τ = 0.1, 0.15 at τ = 0.03 and within 0.06 at τ = 0.01, and its unregularised
    exploitability falls with τ.
    (τ → 0 is a limit only: INPO needs τ > 0, and its rounds contract more slowly as τ/η → 0.)"""
    winner = None
    distances, exploitabilities = [], []
    for tau, steps in [(0.1, 100), (0.03, 300), (0.01, 800)]:
        alg, rec = run("preference.inpo", steps, INTRANSITIVE, problem=GAME, tau=tau, eta=0.5)
        if winner is None:
            winner = lp_minimax_winner(alg.problem.preference.numpy())
        distances.append(0.5 * np.abs(alg.final_policy.numpy()[0] - winner).sum())
        exploitabilities.append(rec.records[steps]["exploitability"][0])
    assert distances[0] > 0.3 and distances[2] < 0.06
    assert distances[0] > distances[1] > distances[2]
    assert exploitabilities[0] > exploitabilities[1] > exploitabilities[2]


def test_sampled_pairs_reach_a_neighbourhood_of_the_equilibrium():
    """Result: with 256 labelled pairs from π_t per round (no win rate is ever estimated),
    the rounds are noisy mirror-descent steps: over 4 seeds after 100 rounds the mean TV to
    π*_τ (numpy) is below 0.07, from 0.21 at π_ref, and the regularised exploitability below
    0.005; seeds differ (seeded)."""
    alg, rec = run(
        "preference.inpo",
        100,
        INTRANSITIVE,
        seeds=4,
        problem=GAME,
        tau=0.1,
        eta=0.5,
        mode="sampled",
        pairs=256,
    )
    expected = numpy_regularised_nash(
        alg.problem.preference.numpy(), alg.problem.reference.numpy(), 0.1
    )
    start = 0.5 * np.abs(np.full(5, 0.2) - expected).sum()
    assert start > 0.2
    distance = 0.5 * np.abs(alg.final_policy.numpy() - expected).sum(1)
    assert distance.mean() < 0.07 and np.ptp(distance) > 0
    assert rec.records[100]["regularised_exploitability"].mean() < 0.005


def test_adam_rounds_approach_the_exact_rounds():
    """Result: 40 Adam steps per round nearly minimise each quadratic round loss, so after
    30 rounds the policy is within TV 5e-3 of π*_τ (numpy), from 0.21 at π_ref."""
    alg, _ = run(
        "preference.inpo",
        30,
        INTRANSITIVE,
        problem=GAME,
        tau=0.1,
        eta=0.5,
        solver="adam",
        inner_steps=40,
        lr=0.05,
    )
    expected = numpy_regularised_nash(
        alg.problem.preference.numpy(), alg.problem.reference.numpy(), 0.1
    )
    assert 0.5 * np.abs(alg.final_policy.numpy()[0] - expected).sum() < 5e-3


def test_a_step_weight_below_zero_is_refused():
    """Result: η < τ would weight π_t by 1 − τ/η < 0; the error names the key and the reason."""
    with pytest.raises(ParamError, match=r"^algorithm\.eta: must be at least tau \(0\.5\)"):
        run("preference.inpo", 2, INTRANSITIVE, problem=GAME, tau=0.5, eta=0.2)
