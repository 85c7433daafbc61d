"""SPO self-play on intransitive preferences, against hand-solved games and exact LP optima.

Reference values come from the formulas in each docstring, computed by hand, with numpy,
or as the optimum of a linear programme solved by scipy, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from engine.labs.preference.intransitive import IntransitivePreferences
from engine.params import ParamError, validate_params
from tests.labs.preference.support import CPU, run

INTRANSITIVE = "preference.intransitive"
# A weighted rock–paper–scissors: 0 beats 1 by a = 0.3, 1 beats 2 by b = 0.4, 2 beats 0 by c = 0.2.
WEIGHTED_RPS = [0.5, 0.8, 0.3, 0.2, 0.5, 0.9, 0.7, 0.1, 0.5]


def build_problem(**params):
    checked = validate_params(IntransitivePreferences.params, params, "problem")
    return IntransitivePreferences(checked, 1, CPU, torch.float64, 0)


def lp_minimax_winner(preference):
    """The minimax winner as the LP max v s.t. Σ_y x_y (P[y, j] − 1/2) ≥ v for all j,
    Σ x = 1, x ≥ 0 (von Neumann); the value of a symmetric game is v = 0."""
    game = np.asarray(preference) - 0.5
    k = game.shape[0]
    result = linprog(
        c=np.r_[np.zeros(k), -1.0],
        A_ub=np.c_[-game.T, np.ones(k)],
        b_ub=np.zeros(k),
        A_eq=np.r_[np.ones(k), 0.0][None, :],
        b_eq=[1.0],
        bounds=[(0, None)] * k + [(None, None)],
        method="highs",
    )
    assert result.status == 0
    assert result.x[-1] == pytest.approx(0.0, abs=1e-9)
    return result.x[:k]


def test_exploitability_by_hand():
    """Result: exploitability(π) = max_y' Σ_y π(y) P[y', y] − 1/2. For π = (1/2, 1/2, 0) on
    the weighted game: P(0 ≻ π) = (0.5 + 0.8)/2 = 0.65, P(1 ≻ π) = (0.2 + 0.5)/2 = 0.35,
    P(2 ≻ π) = (0.7 + 0.1)/2 = 0.4, so 0.15; for π = e_0 it is P(2 ≻ 0) − 1/2 = 0.2."""
    problem = build_problem(preference=WEIGHTED_RPS)
    policy = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    np.testing.assert_allclose(
        problem.exploitability(policy).numpy(), [0.15, 0.2], rtol=0, atol=1e-15
    )


def test_weighted_rock_paper_scissors_winner_by_hand():
    """Result: with A = P − 1/2 having A[0,1] = a, A[1,2] = b, A[2,0] = c > 0, the winner x
    makes every column of xᵀA vanish: −a x1 + c x2 = 0, a x0 − b x2 = 0, b x1 − c x0 = 0,
    so x ∝ (b, c, a) = (0.4, 0.2, 0.3)/0.9; its exploitability is 0. The plain cycle
    (γ = 1, no reward, no noise) is rock–paper–scissors, whose winner is uniform."""
    np.testing.assert_allclose(
        build_problem(preference=WEIGHTED_RPS).minimax_winner.numpy(),
        np.array([0.4, 0.2, 0.3]) / 0.9,
        rtol=0,
        atol=1e-12,
    )
    rps = build_problem(responses=3, cycle_strength=1.0)
    assert rps.preference[0, 1].item() == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-15)
    np.testing.assert_allclose(rps.minimax_winner.numpy(), np.full(3, 1 / 3), rtol=0, atol=1e-12)
    assert rps.exploitability(rps.minimax_winner[None]).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("instance", [0, 1, 2])
def test_minimax_winner_matches_the_linear_programme(instance):
    """Result: on seeded K = 6 games with a cycle and skew noise, the support-enumeration
    winner equals the LP optimum (unique for a generic game) to 1e-8."""
    problem = build_problem(
        responses=6,
        cycle_strength=1.0,
        noise=1.0,
        instance=instance,
        rewards=[0.3, 0.0, -0.2, 0.1, 0.0, 0.2],
    )
    np.testing.assert_allclose(
        problem.minimax_winner.numpy(),
        lp_minimax_winner(problem.preference.numpy()),
        rtol=0,
        atol=1e-8,
    )


def test_average_exploitability_is_the_regret_and_obeys_the_hedge_bound():
    """Result: since π_tᵀ P π_t = 1/2, the average iterate's exploitability equals the
    self-play regret R_T/T = max_y (1/T) Σ_t P(y ≻ π_t) − 1/2 (linearity in π), and
    Hedge from uniform with gains in [0, 1] has R_T ≤ ln K/η + ηT/8, so at every step
    exploitability(π̄_T) ≤ ln K/(ηT) + η/8 (here η = 0.1, K = 6)."""
    eta = 0.1
    _, rec = run(
        "preference.spo",
        2000,
        INTRANSITIVE,
        problem={"responses": 6, "noise": 1.0, "instance": 4},
        eta=eta,
    )
    steps = sorted(rec.records)
    exploit = np.array([rec.records[t]["exploitability"][0] for t in steps])
    regret = np.array([rec.records[t]["self_play_regret"][0] for t in steps])
    np.testing.assert_allclose(exploit, regret, rtol=0, atol=1e-12)
    bound = math.log(6) / (eta * np.array(steps)) + eta / 8
    assert np.all(exploit <= bound)
    assert exploit[-1] < 0.015


def test_average_iterate_reaches_the_weighted_rps_winner_while_the_last_iterate_cycles():
    """Result: self-play's average iterate converges to the minimax winner
    (b, c, a)/(a + b + c) = (4, 2, 3)/9 of the weighted game (TV < 0.01 after 4000 rounds,
    exploitability < 0.003), while Hedge's last iterate keeps cycling around it (TV > 0.1,
    seeded), which is why the theorem is about the average."""
    alg, rec = run(
        "preference.spo", 4000, INTRANSITIVE, problem={"preference": WEIGHTED_RPS}, eta=0.5
    )
    winner = np.array([4, 2, 3]) / 9
    last = rec.records[4000]
    assert 0.5 * np.abs(alg.average_policy.numpy()[0] - winner).sum() < 0.01
    assert last["distance_to_minimax"][0] < 0.01
    assert last["exploitability"][0] < 0.003
    assert last["last_distance_to_minimax"][0] > 0.1


def test_sampled_self_play_reaches_the_lp_winner():
    """Result: with win rates estimated from 32 samples of π_t per round (Bernoulli labels),
    Hedge still sees unbiased gains in [0, 1], so the average iterate approaches the LP
    minimax winner: from TV ≈ 0.6 at the uniform start to mean TV < 0.06 and mean
    exploitability < 0.01 over 4 seeds after 2000 rounds (seeded); seeds differ."""
    problem = {"responses": 5, "noise": 1.0, "instance": 0}
    alg, rec = run(
        "preference.spo",
        2000,
        INTRANSITIVE,
        seeds=4,
        problem=problem,
        eta=0.2,
        mode="sampled",
        samples=32,
    )
    winner = lp_minimax_winner(alg.problem.preference.numpy())
    start = 0.5 * np.abs(np.full(5, 0.2) - winner).sum()
    assert start > 0.5
    distance = 0.5 * np.abs(alg.average_policy.numpy() - winner).sum(1)
    assert distance.mean() < 0.06
    assert rec.records[2000]["exploitability"].mean() < 0.01
    assert np.ptp(distance) > 0


def test_transitive_preference_reaches_the_condorcet_winner():
    """Result: with no cycle and no noise P[y, y'] = σ(r_y − r_y') is transitive, and the
    best response y = 1 (r = 1) beats every other with probability > 1/2: it is the Condorcet
    winner and the unique minimax winner e_1 (also by the LP). Self-play's reward
    P(1 ≻ π_t) − P(y ≻ π_t) > 0 for every y ≠ 1, so Hedge puts π(1) > 0.99 at the end and the
    average within TV 0.02 of e_1 after 2000 rounds."""
    problem = {"responses": 3, "cycle_strength": 0.0, "rewards": [0.0, 1.0, 0.5]}
    alg, rec = run("preference.spo", 2000, INTRANSITIVE, problem=problem, eta=0.5)
    np.testing.assert_allclose(alg.problem.minimax_winner.numpy(), [0, 1, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        lp_minimax_winner(alg.problem.preference.numpy()), [0, 1, 0], rtol=0, atol=1e-8
    )
    assert alg.last_policy.numpy()[0, 1] > 0.99
    assert rec.records[2000]["distance_to_minimax"][0] < 0.02


def test_a_preference_that_is_not_a_game_is_refused():
    """Result: P must satisfy P + Pᵀ = 1; the error names the key and the reason."""
    with pytest.raises(
        ParamError, match=r"^problem\.preference: must satisfy P\[y, y'\] \+ P\[y', y\] = 1"
    ):
        build_problem(preference=[0.5, 0.8, 0.3, 0.3, 0.5, 0.9, 0.7, 0.1, 0.5])
    with pytest.raises(
        ParamError, match=r"^problem\.preference: needs responses × responses = 9 values, got 4$"
    ):
        build_problem(preference=[0.5, 0.5, 0.5, 0.5])
