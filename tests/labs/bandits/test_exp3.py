"""Exp3 against reference values. Each test names the result it checks."""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.adversarial import AdversarialBandit, SwitchingBandit
from engine.labs.bandits.exp3 import Exp3, exp3_bound, tuned_gamma
from engine.labs.bandits.problems import BernoulliBandit
from engine.labs.bandits.ucb1 import UCB1
from tests.labs.bandits.recorder import CPU, run

F64 = torch.float64
ADVERSARY = {
    "sequence": "moving_leader",
    "arms": 3,
    "growth": 2.0,
    "leader_reward": 1.0,
    "other_reward": 0.0,
}


def test_one_update_by_hand():
    """K = 3, gamma = 0.3, equal weights: p = 0.7 / 3 + 0.1 = 1/3 each. Arm 1 pays 1, so
    xhat = 1 / (1/3) = 3 and w_1 = exp(0.3 * 3 / 3) = e^0.3; then
    p_1 = 0.7 e^0.3 / (e^0.3 + 2) + 0.1 and p_0 = p_2 = 0.7 / (e^0.3 + 2) + 0.1.
    A reward of 0 changes nothing."""
    problem = BernoulliBandit({"means": [0.5, 0.5, 0.5]}, 2, CPU, F64, 0)
    alg = Exp3({"gamma": 0.3}, problem, 2, CPU, F64, 0)
    alg.start(100)
    alg.select(1)
    np.testing.assert_allclose(alg.probs.numpy(), 1 / 3, rtol=1e-12)
    alg.update(torch.tensor([1, 2]), torch.tensor([1.0, 0.0], dtype=F64))
    e = math.exp(0.3)
    p = alg.probabilities().numpy()
    np.testing.assert_allclose(
        p[0], [0.7 / (e + 2) + 0.1, 0.7 * e / (e + 2) + 0.1, 0.7 / (e + 2) + 0.1], rtol=1e-12
    )
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-12)


def test_arms_are_drawn_with_the_exp3_probabilities():
    """With log-weights (0, 1, 2) and gamma = 0.2, arm i is drawn with probability
    0.8 e^i / (1 + e + e^2) + 0.2 / 3; over 60,000 seeds within 4 standard errors."""
    seeds = 60_000
    problem = BernoulliBandit({"means": [0.5, 0.5, 0.5]}, seeds, CPU, F64, 0)
    alg = Exp3({"gamma": 0.2}, problem, seeds, CPU, F64, 0)
    alg.start(10)
    alg.log_weights = torch.tensor([0.0, 1.0, 2.0], dtype=F64).expand(seeds, 3).clone()
    arms = alg.select(1)
    z = 1 + math.e + math.e**2
    for i in range(3):
        p = 0.8 * math.exp(i) / z + 0.2 / 3
        assert abs((arms == i).double().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / seeds)


def test_tuned_gamma_gives_the_corollary_3_2_bound():
    """Corollary 3.2: with gamma = sqrt(K ln K / ((e - 1) T)), (e - 1) gamma T + K ln K / gamma
    = 2 sqrt(e - 1) sqrt(T K ln K) (about 2.63 sqrt(T K ln K))."""
    T, K = 4000, 3
    g = tuned_gamma(T, K)
    assert g == pytest.approx(math.sqrt(3 * math.log(3) / ((math.e - 1) * 4000)))
    corollary = 2 * math.sqrt(math.e - 1) * math.sqrt(T * K * math.log(K))
    assert exp3_bound(g, K, np.array([T]))[0] == pytest.approx(corollary)
    assert tuned_gamma(5, 10) == 1.0


def test_exp3_stays_under_its_expected_bound_on_an_adversarial_sequence():
    """Theorem 3.1: E[G_max - G_Exp3] <= (e - 1) gamma t + K ln K / gamma at every t. On the
    moving-leader sequence (3 arms, phases doubling), the mean regret over 100 seeds with
    the tuned gamma stays under it at every checkpoint. The bound is not vacuous there:
    playing uniformly at random (Exp3 without its update) has expected regret
    max_i G_i - mean_i G_i, which exceeds it at T."""
    checkpoints = [10, 100, 1000, 4000]
    _, problem, rec = run(Exp3, {"gamma": 0.0}, AdversarialBandit, ADVERSARY, 100, checkpoints)
    bound = rec.bounds["regret_upper_bound"]
    np.testing.assert_allclose(bound, exp3_bound(tuned_gamma(4000, 3), 3, np.array(checkpoints)))
    mean = rec.series("cumulative_regret").mean(1)
    assert np.all(mean <= bound)
    gains = problem.cumulative_means()
    uniform_play = (gains.max(1).values - gains.mean(1)).mean().item()
    assert uniform_play > bound[-1]


def test_exp3_learns_a_stochastic_bandit_under_its_bound():
    """On Bernoulli arms (0.3, 0.7) the pseudo-regret is at most the expected regret
    against the best arm in hindsight, so Theorem 3.1's bound holds for it too; and Exp3
    must learn: over the last 1000 of 3000 rounds it plays the best arm at least 85% of the time."""
    _, _, rec = run(Exp3, {"gamma": 0.0}, BernoulliBandit, {"means": [0.3, 0.7]}, 100, [2000, 3000])
    assert np.all(rec.series("cumulative_regret").mean(1) <= rec.bounds["regret_upper_bound"])
    late = (
        3000 * rec.values[3000]["best_arm_fraction"] - 2000 * rec.values[2000]["best_arm_fraction"]
    ) / 1000
    assert late.mean().item() > 0.85


def test_deterministic_ucb1_loses_every_round_on_the_cyclic_sequence_and_exp3_does_not():
    """On the cyclic sequence (arm (t - 1) mod K pays 0, the rest 1) UCB1 breaks its ties in
    the losing order, so it earns nothing and its regret is exactly t - floor(t / K), the
    best fixed arm's total; Exp3, randomised, stays under its bound at every checkpoint."""
    cyclic = {**ADVERSARY, "sequence": "cyclic", "arms": 4}
    checkpoints = [1, 7, 100, 2000]
    _, _, ucb = run(UCB1, {"c": 2.0}, AdversarialBandit, cyclic, 3, checkpoints)
    expected = np.array([t - t // 4 for t in checkpoints], dtype=float)
    np.testing.assert_array_equal(
        ucb.series("cumulative_regret"), np.repeat(expected[:, None], 3, 1)
    )
    _, _, exp3 = run(Exp3, {"gamma": 0.0}, AdversarialBandit, cyclic, 50, checkpoints)
    assert np.all(exp3.series("cumulative_regret").mean(1) <= exp3.bounds["regret_upper_bound"])


def test_no_exp3_bound_where_regret_is_against_the_best_arm_of_each_round():
    """Theorem 3.1 compares with a fixed arm; the switching bandit's regret is dynamic."""
    _, _, rec = run(
        Exp3, {"gamma": 0.0}, SwitchingBandit, {"means": [0.2, 0.8], "segment": 5}, 2, [10]
    )
    assert "regret_upper_bound" not in rec.bounds
