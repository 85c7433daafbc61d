"""Hedge against reference values. Each test names the result it checks."""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.experts import AdaptiveExperts, ObliviousExperts
from engine.labs.bandits.hedge import Hedge, hedge_bound, tuned_eta
from tests.labs.bandits.recorder import CPU, run

F64 = torch.float64
CHECKPOINTS = [1, 2, 5, 10, 50, 100, 500, 1000, 2000]


@pytest.mark.parametrize(
    "problem_cls, params",
    [
        (AdaptiveExperts, {"experts": 4, "adversary": "punish_leader"}),
        (AdaptiveExperts, {"experts": 7, "adversary": "punish_favourite"}),
        (ObliviousExperts, {"loss_means": [0.5, 0.45, 0.55, 0.5, 0.3]}),
    ],
)
def test_hedge_bound_holds_on_every_seed(problem_cls, params):
    """Hedge with eta = sqrt(8 ln N / T): L_Hedge(t) - min_i L_i(t) <= ln N / eta + eta t / 8
    for EVERY loss sequence in [0, 1] (Cesa-Bianchi & Lugosi, Theorem 2.2), adaptive
    adversaries included; it equals sqrt(T ln N / 2) at t = T. Checked seed by seed at every
    checkpoint, not on average."""
    _, problem, rec = run(Hedge, {"eta": 0.0}, problem_cls, params, 20, CHECKPOINTS)
    n, T = problem.n, CHECKPOINTS[-1]
    bound = rec.bounds["regret_upper_bound"]
    np.testing.assert_allclose(bound, hedge_bound(tuned_eta(T, n), n, np.array(CHECKPOINTS)))
    assert bound[-1] == pytest.approx(math.sqrt(T * math.log(n) / 2))
    regret = rec.series("cumulative_regret")
    assert np.all(regret <= bound[:, None] + 1e-9)


def test_punish_the_leader_defeats_follow_the_leader_but_not_hedge():
    """A huge eta makes Hedge follow the leader: its weight is spread evenly over the tied
    leaders, and punish-the-leader hits one of them. In each cycle of N rounds the tied set
    shrinks from N to 1, so the learner loses 1/N + 1/(N-1) + ... + 1 = H_N while the best
    expert loses 1: regret sum_{s <= t} 1 / (N - (s - 1) mod N) - floor(t / N), linear in t
    and far above the tuned bound, which tuned Hedge on the same adversary respects."""
    params = {"experts": 4, "adversary": "punish_leader"}
    _, _, ftl = run(Hedge, {"eta": 1000.0}, AdaptiveExperts, params, 5, CHECKPOINTS)
    per_round = [1 / (4 - (s - 1) % 4) for s in range(1, CHECKPOINTS[-1] + 1)]
    expected = np.array([sum(per_round[:t]) - t // 4 for t in CHECKPOINTS])
    np.testing.assert_allclose(
        ftl.series("cumulative_regret"), np.repeat(expected[:, None], 5, 1), atol=1e-6
    )
    bound = math.sqrt(2000 * math.log(4) / 2)
    assert expected[-1] > 10 * bound
    _, _, tuned = run(Hedge, {"eta": 0.0}, AdaptiveExperts, params, 5, CHECKPOINTS)
    assert tuned.series("cumulative_regret")[-1].max() <= bound


def test_weights_by_hand():
    """eta = 0.5, cumulative losses (2, 0, 1): p = (e^-1, 1, e^-0.5) / (e^-1 + 1 + e^-0.5);
    one more round with losses (0, 1, 1) gives exponents (-1, -0.5, -1)."""
    problem = ObliviousExperts({"loss_means": [0.5, 0.5, 0.5]}, 1, CPU, F64, 0)
    alg = Hedge({"eta": 0.5}, problem, 1, CPU, F64, 0)
    alg.start(10)
    alg.cumulative_losses = torch.tensor([[2.0, 0.0, 1.0]], dtype=F64)
    w = np.exp([-1.0, 0.0, -0.5])
    np.testing.assert_allclose(alg.weights(1).numpy()[0], w / w.sum(), rtol=1e-12)
    alg.update(2, torch.tensor([[0.0, 1.0, 1.0]], dtype=F64))
    w = np.exp([-1.0, -0.5, -1.0])
    np.testing.assert_allclose(alg.weights(2).numpy()[0], w / w.sum(), rtol=1e-12)


def test_a_two_round_trajectory_by_hand():
    """Punish the leader, N = 2, eta = ln 2 (weights halve per loss). Round 1: p = (1/2, 1/2),
    the adversary hits a tied leader (say i), learner loss 1/2. Round 2: p_i = 1/3, the
    other expert now leads and is hit: learner loss 2/3. Regret after 2 rounds:
    1/2 + 2/3 - 1 = 1/6 on every seed."""
    _, _, rec = run(
        Hedge,
        {"eta": math.log(2)},
        AdaptiveExperts,
        {"experts": 2, "adversary": "punish_leader"},
        6,
        [1, 2],
    )
    np.testing.assert_allclose(rec.values[1]["cumulative_regret"].numpy(), 0.5, atol=1e-12)
    np.testing.assert_allclose(rec.values[2]["cumulative_regret"].numpy(), 1 / 6, atol=1e-12)


def test_realised_regret_has_the_mixture_regret_as_its_mean():
    """The realised option draws an expert from p_t each round; given the losses its loss
    has mean <p_t, loss_t>, so over 300 seeds realised and pseudo regret (same seeds, same
    oblivious losses) agree within 4 standard errors (each round's loss in [0, 1], so the
    difference has variance at most t / 4)."""
    params, t = {"loss_means": [0.5, 0.4, 0.6]}, 1000
    _, _, pseudo = run(Hedge, {"eta": 0.0, "regret": "pseudo"}, ObliviousExperts, params, 300, [t])
    _, _, realised = run(
        Hedge, {"eta": 0.0, "regret": "realised"}, ObliviousExperts, params, 300, [t]
    )
    diff = (realised.values[t]["cumulative_regret"] - pseudo.values[t]["cumulative_regret"]).numpy()
    assert abs(diff.mean()) < 4 * math.sqrt(t / 4 / 300)
    assert np.any(diff != 0)
