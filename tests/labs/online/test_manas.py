"""MANAS, MANAS-LS, random search and the architecture-search problem against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.architecture_search import ArchitectureSearch
from engine.labs.online.manas import MANAS, exp3_loss_bound, tuned_temperature
from engine.labs.online.manas_ls import MANASLS, least_squares_credit, zipf_probabilities
from engine.labs.online.random_search import RandomSearch
from engine.params import ParamError
from tests.labs.online.recorder import CPU, FakeRecorder, run

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


def test_each_agent_updates_as_exp3_on_losses():
    """eta = 1/2, K = 3. Agent 0 has credit B = (0, 2 ln 2, 0): pi = (1, 1/2, 1) / 2.5 =
    (0.4, 0.2, 0.4); agent 1 has B = 0, pi = 1/3 each. They play (1, 2) and the shared loss is
    0.4: agent 0 adds 0.4 / 0.2 = 2 to B(1), agent 1 adds 0.4 / (1/3) = 1.2 to B(2) (eq. 6). The
    next softmax: agent 0 (1, e^{-ln 2 - 1}, 1) normalised, agent 1 (1, 1, e^{-0.6}) normalised.
    (A reward-based or gamma-mixed Exp3 gives other numbers.)"""
    prob = ArchitectureSearch(
        {"decisions": 2, "choices": 3, "interaction": 0.0, "noise": 0.0}, 1, CPU, F64, 0
    )
    alg = MANAS({"eta": 0.5, "regret": "pseudo"}, prob, 1, CPU, F64, 0)
    alg.start(10)
    alg.credit = torch.tensor([[[0.0, 2 * math.log(2), 0.0], [0.0, 0.0, 0.0]]], dtype=F64)
    alg.probs = alg.probabilities()
    assert alg.probs[0].numpy() == pytest.approx(
        np.array([[0.4, 0.2, 0.4], [1 / 3, 1 / 3, 1 / 3]]), abs=1e-15
    )
    alg.update(torch.tensor([[1, 2]]), torch.tensor([0.4], dtype=F64))
    expected = [[0.0, 2 * math.log(2) + 2.0, 0.0], [0.0, 0.0, 1.2]]
    assert alg.credit[0].numpy() == pytest.approx(np.array(expected), abs=1e-14)
    a0 = np.array([1.0, math.exp(-math.log(2) - 1.0), 1.0])
    a1 = np.array([1.0, 1.0, math.exp(-0.6)])
    assert alg.probabilities()[0].numpy() == pytest.approx(
        np.stack([a0 / a0.sum(), a1 / a1.sum()]), abs=1e-15
    )
    assert alg.extra_metrics(None)["recommended_loss"].item() == pytest.approx(
        prob.expected_loss(torch.tensor([[0, 0]])).item(), abs=1e-15
    )


def test_least_squares_credit_on_tiny_designs():
    """N = K = 2, the four architectures once each with losses L(0,0) = 0.3, L(0,1) = 0.5,
    L(1,0) = 0.6, L(1,1) = 0.9: the fitted within-agent differences are the factorial effects,
    B_0(1) - B_0(0) = ((0.6 - 0.3) + (0.9 - 0.5)) / 2 = 0.35, B_1(1) - B_1(0) = 0.25, and the residuals
    are +-0.025, the interaction contrast. With a fifth
    row (0,0): 0.35 the fit is np.linalg.lstsq's minimum-norm solution, and feeding the rows
    through MANAS-LS's update gives that credit and its Zipf probabilities."""
    rows = [((0, 0), 0.3), ((0, 1), 0.5), ((1, 0), 0.6), ((1, 1), 0.9)]

    def design(rows):
        z = np.zeros((len(rows), 4))
        for r, ((a0, a1), _) in enumerate(rows):
            z[r, a0], z[r, 2 + a1] = 1.0, 1.0
        return z, np.array([loss for _, loss in rows])

    z, losses = design(rows)
    gram, moment = torch.tensor(z.T @ z)[None], torch.tensor(z.T @ losses)[None]
    beta = least_squares_credit(gram, moment)[0].numpy()
    assert beta[1] - beta[0] == pytest.approx(0.35, abs=1e-12)
    assert beta[3] - beta[2] == pytest.approx(0.25, abs=1e-12)
    # What no additive fit explains is the interaction contrast (0.3 - 0.5 - 0.6 + 0.9) / 4 = 0.025.
    assert losses - z @ beta == pytest.approx(0.025 * np.array([1, -1, -1, 1]), abs=1e-12)

    rows.append(((0, 0), 0.35))
    z, losses = design(rows)
    reference = np.linalg.lstsq(z, losses, rcond=None)[0]
    prob = ArchitectureSearch(
        {"decisions": 2, "choices": 2, "interaction": 0.0, "noise": 0.0}, 1, CPU, F64, 0
    )
    alg = MANASLS({"regret": "pseudo"}, prob, 1, CPU, F64, 0)
    alg.start(5)
    assert alg.probs[0].numpy() == pytest.approx(np.full((2, 2), 0.5), abs=0)
    for arms, loss in rows:
        alg.update(torch.tensor([arms]), torch.tensor([loss], dtype=F64))
    assert alg.credit[0].reshape(-1).numpy() == pytest.approx(reference, abs=1e-12)
    # Both agents' operation 0 has the lower credit: rank 1, pi = 1 / H_2 = 2/3.
    assert alg.probs[0].numpy() == pytest.approx(np.array([[2, 1], [2, 1]]) / 3, abs=1e-15)


def test_zipf_probabilities_by_rank():
    """K = 4, credit (0.3, 0.1, 0.4, 0.2): ranks (3, 1, 4, 2), H_4 = 25/12, so pi = (12/25) (1/3, 1,
    1/4, 1/2) = (0.16, 0.48, 0.12, 0.24). A tie goes to the lower index: (0.2, 0.2, 0.1) has ranks
    (2, 3, 1), pi = (6/11) (1/2, 1/3, 1) = (3/11, 2/11, 6/11)."""
    four = zipf_probabilities(torch.tensor([[0.3, 0.1, 0.4, 0.2]], dtype=F64))
    assert four[0].tolist() == pytest.approx([0.16, 0.48, 0.12, 0.24], abs=1e-15)
    tied = zipf_probabilities(torch.tensor([[0.2, 0.2, 0.1]], dtype=F64))
    assert tied[0].tolist() == pytest.approx([3 / 11, 2 / 11, 6 / 11], abs=1e-15)


def separable(seeds):
    """N = K = 3, additive, noise 1/2, the same costs on every seed: agent 0 (0.1, 0.5, 0.9), agent
    1 (0.9, 0.1, 0.5), agent 2 (0.5, 0.9, 0.1), so a* = (0, 1, 2), each agent's gap 0.4 / 3."""
    prob = ArchitectureSearch(
        {"decisions": 3, "choices": 3, "interaction": 0.0, "noise": 0.5}, seeds, CPU, F64, 2
    )
    costs = torch.tensor([[0.1, 0.5, 0.9], [0.9, 0.1, 0.5], [0.5, 0.9, 0.1]], dtype=F64)
    prob.unary = costs.expand(seeds, 3, 3).clone()
    return prob


def test_manas_agents_converge_to_the_best_operation_of_their_cell():
    """Separable loss, 4 seeds, T = 3000, eta tuned: every agent's most probable operation is its
    own best one, with probability above 0.95 (the credit gap grows like 0.4 t / 3, the softmax
    exponent like eta 0.4 T / 3 = 6.2), and the recommendation is a*."""
    prob = separable(4)
    alg = MANAS({"eta": 0.0, "regret": "pseudo"}, prob, 4, CPU, F64, 3)
    rec = FakeRecorder([3000])
    alg.run(3000, rec)
    assert alg.temperature == pytest.approx(math.sqrt(2 * math.log(3) / 9000), rel=1e-15)
    best = alg.probabilities()[:, [0, 1, 2], [0, 1, 2]]
    assert (best > 0.95).all()
    assert torch.equal(rec.series("recommended_loss")[-1], prob.optimum()[0])


def test_manas_ls_simple_regret_vanishes_fast():
    """Separable loss, 64 seeds: the share of seeds whose least-squares recommendation is not a*
    falls at every doubling of T from 20 to 160 and is 0 at T = 160 -- the paper's exp(-T / H)
    simple regret (a 1/T rate would leave about an eighth of T = 20's share)."""
    prob = separable(64)
    alg = MANASLS({"regret": "pseudo"}, prob, 64, CPU, F64, 3)
    rec = FakeRecorder([20, 40, 80, 160])
    alg.run(160, rec)
    wrong = (rec.series("recommended_loss") > prob.optimum()[0] + 1e-12).double().mean(1)
    assert wrong[0] > 0.1
    assert (wrong[1:] < wrong[:-1]).all() and wrong[-1] == 0.0


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
    pseudo = {"regret": "pseudo"}
    manas, _, m = run(
        MANAS, ArchitectureSearch, dict(pseudo, eta=0.0), params, 32, checkpoints, seed=1
    )
    _, _, r = run(RandomSearch, ArchitectureSearch, pseudo, params, 32, checkpoints, seed=1)
    return manas, m, r


def test_regret_within_n_independent_exp3_bounds(additive_runs):
    """Additive loss: the regret is the sum of the N agents' regrets, each bounded in expectation by
    Exp3's ln K / eta + eta t K / 2 on losses in [0, 1] (eta = sqrt(2 ln K / (T K)) for T = 2000).
    The mean over 32 seeds stays below N times that at every checkpoint, the drawn bound is exactly
    it, and the regret grows sublinearly (the last 1500 rounds cost less per round than the first 500)."""
    manas, m, _ = additive_runs
    steps = np.array([100, 500, 2000])
    assert manas.temperature == pytest.approx(tuned_temperature(2000, 4), rel=1e-15)
    bound = 8 * (math.log(4) / manas.temperature + manas.temperature * steps * 4 / 2)
    assert m.bounds["regret_upper_bound"] == pytest.approx(bound, rel=1e-12)
    assert exp3_loss_bound(manas.temperature, 4, np.array([2000]))[0] == pytest.approx(
        math.sqrt(2 * 2000 * 4 * math.log(4)), rel=1e-12
    )
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


def test_manas_ls_recommends_better_than_random_search_finds():
    """6 decisions x 4 choices, additive, noise 1/2, 16 seeds, T = 1000 (common random numbers):
    MANAS-LS's least-squares recommendation is on average closer to the optimum than the best
    architecture random search observed, by more than half of random search's gap."""
    params = {"decisions": 6, "choices": 4, "interaction": 0.0, "noise": 0.5}
    pseudo = {"regret": "pseudo"}
    _, prob, ls = run(MANASLS, ArchitectureSearch, pseudo, params, 16, [1000], seed=1)
    _, _, r = run(RandomSearch, ArchitectureSearch, pseudo, params, 16, [1000], seed=1)
    recommended = ls.series("recommended_loss")[-1] - prob.optimum()[0]
    random_gap = r.series("simple_regret")[-1]
    assert recommended.mean() < 0.5 * random_gap.mean()
