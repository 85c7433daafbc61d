"""MANAS, random search and the architecture-search problem against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.exp3 import Exp3, exp3_bound
from engine.labs.bandits.problems import BernoulliBandit
from engine.labs.online.architecture_search import ArchitectureSearch
from engine.labs.online.manas import MANAS
from engine.labs.online.random_search import RandomSearch
from engine.params import ParamError
from tests.labs.online.recorder import CPU, run

F64 = torch.float64


def hand_instance():
    """N = 2, K = 2, lam = 1/2: mu(a) = (c_0(a_0) + c_1(a_1)) / 4 + w_0(a_0, a_1) / 2 with
    c_0 = (0.2, 0.6), c_1 = (0.5, 0.1), w_0 = [[0, 0.9], [0.3, 0.8]]."""
    prob = ArchitectureSearch(
        {"decisions": 2, "choices": 2, "interaction": 0.5, "noise": 0.0}, 1, CPU, F64, 0
    )
    prob.unary = torch.tensor([[[0.2, 0.6], [0.5, 0.1]]], dtype=F64)
    prob.pairwise = torch.tensor([[[[0.0, 0.9], [0.3, 0.8]]]], dtype=F64)
    return prob


def test_exact_optimum_by_enumeration_on_a_hand_made_instance():
    """mu(0,0) = 0.7/4 + 0 = 0.175, mu(0,1) = 0.3/4 + 0.45 = 0.525, mu(1,0) = 1.1/4 + 0.15 = 0.425,
    mu(1,1) = 0.7/4 + 0.4 = 0.575: the optimum is (0, 0) at 0.175, although each decision's own best
    choice would give (0, 1) -- the interaction flips it."""
    prob = hand_instance()
    assert prob.all_expected_losses()[0].tolist() == pytest.approx(
        [0.175, 0.525, 0.425, 0.575], abs=1e-15
    )
    best, arms = prob.optimum()
    assert best.item() == pytest.approx(0.175, abs=1e-15) and arms[0].tolist() == [0, 0]
    every = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    mus = [prob.expected_loss(a.unsqueeze(0)).item() for a in every]
    assert mus == pytest.approx([0.175, 0.525, 0.425, 0.575], abs=1e-15)
    observed, mu = prob.evaluate(torch.tensor([[1, 0]]))
    assert (
        observed.item() == mu.item() == pytest.approx(0.425, abs=1e-15)
    )  # noise 0: the loss itself


def test_each_agent_updates_as_single_agent_exp3():
    """gamma = 0.3, K = 3. Agent 0 has log-weights (0, ln 2, 0): p = 0.7 (1/4, 1/2, 1/4) + 0.1 =
    (0.275, 0.45, 0.275); agent 1 has equal weights, p = 1/3 each. They play (1, 2) and the shared
    loss is 0.4, reward 0.6: agent 0 adds 0.3 (0.6 / 0.45) / 3 = 2/15 to choice 1, agent 1 adds
    0.3 (0.6 / (1/3)) / 3 = 0.18 to choice 2. The same numbers through `Exp3.update` on a 3-armed
    bandit give the same log-weights."""
    prob = ArchitectureSearch(
        {"decisions": 2, "choices": 3, "interaction": 0.0, "noise": 0.0}, 1, CPU, F64, 0
    )
    alg = MANAS({"gamma": 0.3, "regret": "pseudo"}, prob, 1, CPU, F64, 0)
    start = torch.tensor([[[0.0, math.log(2), 0.0], [0.0, 0.0, 0.0]]], dtype=F64)
    alg.log_weights = start.clone()
    alg.probs = alg.probabilities()
    assert alg.probs[0].tolist() == [
        pytest.approx([0.275, 0.45, 0.275], abs=1e-15),
        pytest.approx([1 / 3] * 3),
    ]
    alg.update(torch.tensor([[1, 2]]), torch.tensor([0.4], dtype=F64))
    expected = [[0.0, math.log(2) + 2 / 15, 0.0], [0.0, 0.0, 0.18]]
    assert alg.log_weights[0].numpy() == pytest.approx(np.array(expected), abs=1e-15)

    bandit = BernoulliBandit({"means": [0.5, 0.5, 0.5]}, 2, CPU, F64, 0)
    single = Exp3({"gamma": 0.3, "regret": "pseudo"}, bandit, 2, CPU, F64, 0)
    single.log_weights = start[0].clone()
    single.probs = single.probabilities()
    single.update(torch.tensor([1, 2]), torch.tensor([0.6, 0.6], dtype=F64))
    assert single.log_weights.numpy() == pytest.approx(alg.log_weights[0].numpy(), abs=1e-15)


def test_too_many_architectures_is_refused_by_key():
    """Enumeration caps the space at 2^20 architectures: 4^11 is refused, naming problem.decisions."""
    with pytest.raises(ParamError) as err:
        ArchitectureSearch(
            {"decisions": 11, "choices": 4, "interaction": 0.0, "noise": 0.0}, 1, CPU, F64, 0
        )
    assert err.value.name == "problem.decisions" and "4^11" in err.value.reason


def test_random_search_regret_matches_its_expectation():
    """Uniform proposals: E[regret_T] = (mean over all K^N of mu - mu*) T. Noiseless 5 x 3 problem, 200
    seeds, T = 300: the mean regret per step is within 4 standard errors of the enumerated gap."""
    params = {"decisions": 5, "choices": 3, "interaction": 0.3, "noise": 0.0}
    _, prob, rec = run(
        RandomSearch, ArchitectureSearch, {"regret": "pseudo"}, params, 200, [300], seed=5
    )
    gap = (prob.all_expected_losses().mean(1) - prob.optimum()[0]).numpy()
    per_step = rec.series("cumulative_regret")[-1].numpy() / 300
    diff = per_step - gap
    assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(200)


@pytest.fixture(scope="module")
def additive_runs():
    params = {"decisions": 8, "choices": 4, "interaction": 0.0, "noise": 0.5}
    checkpoints = [100, 500, 2000]
    manas, _, m = run(
        MANAS,
        ArchitectureSearch,
        {"gamma": 0.0, "regret": "pseudo"},
        params,
        32,
        checkpoints,
        seed=1,
    )
    _, _, r = run(
        RandomSearch, ArchitectureSearch, {"regret": "pseudo"}, params, 32, checkpoints, seed=1
    )
    return manas, m, r


def test_regret_within_n_independent_exp3_bounds(additive_runs):
    """Additive loss: the regret is the sum of the N agents' regrets, each bounded in expectation by
    Exp3's Theorem 3.1, (e - 1) gamma t + K ln K / gamma (gamma tuned for T = 2000: Corollary 3.2).
    The mean over 32 seeds stays below N times that at every checkpoint, the drawn bound is exactly
    it, and the regret grows sublinearly (the last 1500 rounds cost less per round than the first 500)."""
    manas, m, _ = additive_runs
    steps = np.array([100, 500, 2000])
    bound = 8 * exp3_bound(manas.rate, 4, steps)
    assert m.bounds["regret_upper_bound"] == pytest.approx(bound, rel=1e-12)
    mean = m.series("cumulative_regret").mean(1).numpy()
    assert (mean <= bound).all()
    assert (mean[2] - mean[1]) / 1500 < mean[1] / 500


def test_manas_finds_better_architectures_than_random_search(additive_runs):
    """Same 32 seeded problems and noise (common random numbers), T = 2000 over 4^8 = 65,536
    architectures: the architecture MANAS found (lowest observed loss) has a mean true loss at least
    0.01 closer to the optimum than random search's, and lower on most seeds."""
    _, m, r = additive_runs
    manas_best, random_best = m.series("simple_regret")[-1], r.series("simple_regret")[-1]
    assert manas_best.mean() <= random_best.mean() - 0.01
    assert (manas_best < random_best).float().mean() >= 0.75
