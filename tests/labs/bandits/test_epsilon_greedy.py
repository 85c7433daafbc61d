"""ε-greedy against reference values. Each test names the result it checks."""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits import epsilon_greedy
from engine.labs.bandits.epsilon_greedy import EpsilonGreedy, decaying_epsilon, epsilon_greedy_bound
from engine.labs.bandits.problems import BernoulliBandit, GaussianBandit
from tests.labs.bandits.recorder import CPU, run

F64 = torch.float64
FIXED = {"schedule": "fixed", "c": 6.0, "d": 0.1}


def greedy_by_hand(uniforms, means):
    """Pure-Python greedy (ε = 0) on one seed's replayed uniforms: an unplayed arm has mean
    +inf, ties go to the lowest index. Returns the pseudo-regret after each round."""
    k = len(means)
    counts, sums, regret, out = [0] * k, [0.0] * k, 0.0, []
    for u in uniforms:
        estimates = [sums[i] / counts[i] if counts[i] else math.inf for i in range(k)]
        arm = estimates.index(max(estimates))
        counts[arm] += 1
        sums[arm] += 1.0 if u < means[arm] else 0.0
        regret += max(means) - means[arm]
        out.append(regret)
    return out


def test_greedy_matches_a_hand_trajectory_on_the_same_rewards():
    """ε = 0 is greedy: on Bernoulli arms, replaying the problem's uniforms through a
    pure-Python greedy gives the same regret, seed by seed, at every checkpoint."""
    means, seeds, checkpoints = [0.3, 0.6, 0.5], 5, [1, 2, 3, 4, 10, 40, 150]
    _, _, rec = run(
        EpsilonGreedy,
        {**FIXED, "epsilon": 0.0},
        BernoulliBandit,
        {"means": means},
        seeds,
        checkpoints,
    )
    twin = BernoulliBandit({"means": means}, seeds, CPU, F64, 0)
    uniforms = torch.stack([twin.draw_uniforms() for _ in range(150)]).numpy()
    for s in range(seeds):
        expected = greedy_by_hand(uniforms[:, s].tolist(), means)
        got = rec.series("cumulative_regret")[:, s]
        np.testing.assert_allclose(got, [expected[t - 1] for t in checkpoints], atol=1e-12)


def test_greedy_on_deterministic_arms_by_hand():
    """Means (0.2, 0.9, 0.5), sigma = 0: rounds 1-3 try arms 0, 1, 2 (regret 0.7, 0.7, 1.1),
    then arm 1 is the best estimate for ever."""
    _, _, rec = run(
        EpsilonGreedy,
        {**FIXED, "epsilon": 0.0},
        GaussianBandit,
        {"means": [0.2, 0.9, 0.5], "sigma": 0.0},
        2,
        [1, 2, 3, 4, 100],
    )
    np.testing.assert_allclose(
        rec.series("cumulative_regret")[:, 0], [0.7, 0.7, 1.1, 1.1, 1.1], atol=1e-12
    )


def test_fixed_epsilon_explores_uniformly_at_rate_epsilon():
    """On deterministic arms, once every arm is known greedy is right, and a round's
    expected regret is epsilon * mean gap. Between rounds 50 and 1050, over 300 seeds, with
    epsilon = 0.2 and gaps (0.7, 0, 0.4): 1000 * 0.2 * 1.1 / 3 = 73.33, each seed's count
    binomial, so within 4 standard errors."""
    _, _, rec = run(
        EpsilonGreedy,
        {**FIXED, "epsilon": 0.2},
        GaussianBandit,
        {"means": [0.2, 0.9, 0.5], "sigma": 0.0},
        300,
        [50, 1050],
    )
    growth = (rec.values[1050]["cumulative_regret"] - rec.values[50]["cumulative_regret"]).numpy()
    expected = 1000 * 0.2 * 1.1 / 3
    # per round: gap 0.7 or 0.4 each with probability 0.2 / 3
    variance = 1000 * ((0.2 / 3) * (0.49 + 0.16) - (0.2 * 1.1 / 3) ** 2)
    assert abs(growth.mean() - expected) < 4 * math.sqrt(variance / 300)


def test_decaying_schedule_by_hand():
    """epsilon_t = min(1, c K / (d^2 t)): c = 6, K = 3, d = 0.5 gives 72 / t, so 1 up to
    t = 72, then 0.5 at t = 144 and 0.01 at t = 7200."""
    assert decaying_epsilon(72, 6.0, 0.5, 3) == 1.0
    assert decaying_epsilon(144, 6.0, 0.5, 3) == pytest.approx(0.5)
    assert decaying_epsilon(7200, 6.0, 0.5, 3) == pytest.approx(0.01)


def test_decaying_schedule_explores_as_much_as_it_should():
    """On deterministic arms, after every arm is known the expected regret from round m+1
    to T is sum_t epsilon_t * (mean gap) = (c K / d^2) (H_T - H_m) * 1.1 / 3 for means
    (0.2, 0.9, 0.5), c = 6, d = 0.5 (epsilon_t = 72 / t past 72); over 300 seeds within 4
    standard errors."""
    _, _, rec = run(
        EpsilonGreedy,
        {"schedule": "decaying", "c": 6.0, "d": 0.5},
        GaussianBandit,
        {"means": [0.2, 0.9, 0.5], "sigma": 0.0},
        300,
        [200, 3000],
    )
    growth = (rec.values[3000]["cumulative_regret"] - rec.values[200]["cumulative_regret"]).numpy()
    rates = np.array([72 / t for t in range(201, 3001)])
    expected = rates.sum() * 1.1 / 3
    variance = np.sum(rates / 3 * 0.65 - (rates * 1.1 / 3) ** 2)
    assert abs(growth.mean() - expected) < 4 * math.sqrt(variance / 300)


def test_decaying_schedule_stays_under_the_theorem_3_bound():
    """Auer et al. (2002), Theorem 3 summed over rounds: with c = 6 > 5 and d = 0.3 = the
    smallest gap, the mean regret over 200 seeds stays under the drawn bound at every
    checkpoint; the bound is the one `epsilon_greedy_bound` computes."""
    checkpoints = [10, 100, 1000, 3000]
    means = [0.2, 0.5, 0.8]
    alg, problem, rec = run(
        EpsilonGreedy,
        {"schedule": "decaying", "c": 6.0, "d": 0.3},
        BernoulliBandit,
        {"means": means},
        200,
        checkpoints,
    )
    bound = rec.bounds["regret_upper_bound"]
    np.testing.assert_allclose(
        bound,
        epsilon_greedy_bound(np.array([0.6, 0.3, 0.0]), 6.0, 0.3, np.array(checkpoints)),
        rtol=1e-12,
    )
    assert np.all(rec.series("cumulative_regret").mean(1) <= bound)


def test_theorem_3_bound_by_direct_summation(monkeypatch):
    """The chunked sum equals a direct sum of min(max gap, sum gap * min(1, P_n)) over rounds
    (P_n from Theorem 3, trivial before cK/d and where x < e), also across chunk edges."""
    gaps, c, d, k = np.array([0.0, 0.3, 0.5]), 6.0, 0.3, 3
    n = np.arange(1, 5001, dtype=float)
    x = (n - 1) * d * d * math.sqrt(math.e) / (c * k)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        p = (
            c / (d * d * n)
            + 2 * (c / d**2) * np.log(x) * x ** (-c / (5 * d * d))
            + 4 * math.e / d**2 * x ** (-c / 2)
        )
    per = np.where((n < c * k / d) | (x < math.e), 0.5, np.minimum(0.5, 0.8 * np.minimum(1, p)))
    steps = np.array([1, 59, 60, 61, 1000, 4999, 5000])
    monkeypatch.setattr(epsilon_greedy, "_BOUND_CHUNK", 61)
    np.testing.assert_allclose(
        epsilon_greedy_bound(gaps, c, d, steps), np.cumsum(per)[steps - 1], rtol=1e-12
    )


def test_bound_is_drawn_only_where_theorem_3_applies():
    """Not for a fixed epsilon, not for c <= 5, not when d exceeds the smallest gap."""
    for params in (
        {"schedule": "fixed", "epsilon": 0.1, "c": 6.0, "d": 0.1},
        {"schedule": "decaying", "c": 5.0, "d": 0.1},
        {"schedule": "decaying", "c": 6.0, "d": 0.35},
    ):
        _, _, rec = run(EpsilonGreedy, params, BernoulliBandit, {"means": [0.2, 0.5, 0.8]}, 2, [10])
        assert "regret_upper_bound" not in rec.bounds
