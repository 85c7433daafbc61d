"""Xu & Klabjan's Pareto regret and its learners (UCB1 and EXP3 on one objective) against
reference values. Each test names the result it checks."""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.multiobjective import (
    AdversarialMultiObjective,
    MultiObjectiveBernoulli,
    pareto_regret,
)
from engine.labs.online.pareto_regret_learners import (
    ParetoRegretEXP3,
    ParetoRegretUCB,
    exp3_bound,
    exp3_gamma,
    exp3_probabilities,
    exp3_update,
    ucb1_objective_bound,
)
from engine.params import ParamError
from engine.seeding import ALGORITHM_STREAM, generator
from tests.labs.online.recorder import CPU, run

F64 = torch.float64


def dominated(v, totals):
    return any(bool((row >= v).all() and (row > v).any()) for row in totals)


def test_pareto_regret_by_hand():
    """Totals A (1.8, 0.2), B (1, 1), C (0.2, 1.8), D (1.2, 1.2); player (1, 1). Lifts
    needed to escape each arm: A min(0.8, -0.8), B 0, C -0.8, D min(0.2, 0.2) = 0.2, so the
    regret is 0.2; without D it is 0 (the player ties B). Player (0.9, 1.5): the largest
    margin is B's min(0.1, -0.5) < 0, clamped to 0."""
    totals = torch.tensor([[1.8, 0.2], [1.0, 1.0], [0.2, 1.8], [1.2, 1.2]], dtype=F64)
    player = torch.tensor([1.0, 1.0], dtype=F64)
    assert pareto_regret(totals, player).item() == pytest.approx(0.2, abs=1e-12)
    assert pareto_regret(totals[:3], player).item() == 0.0
    assert pareto_regret(totals, torch.tensor([0.9, 1.5], dtype=F64)).item() == 0.0


def test_pareto_regret_is_the_smallest_escaping_lift_and_below_every_objective_regret():
    """The definition by brute force on random totals: player + (PR + 1e-9) is dominated by
    no arm, player + (PR - 1e-3) by some arm when PR > 1e-3; and PR <= max_i C_id - G_d for
    every objective d (the paper's Theorem 4.1)."""
    gen = torch.Generator().manual_seed(1)
    seen_positive = 0
    for _ in range(200):
        totals = torch.rand((5, 3), generator=gen, dtype=F64) * 10
        player = torch.rand(3, generator=gen, dtype=F64) * 10
        pr = pareto_regret(totals, player).item()
        assert not dominated(player + pr + 1e-9, totals)
        if pr > 1e-3:
            seen_positive += 1
            assert dominated(player + pr - 1e-3, totals)
        for d in range(3):
            assert pr <= (totals[:, d].max() - player[d]).clamp_min(0).item() + 1e-12
    assert seen_positive > 20


def bernoulli(means, seeds=1, seed=0):
    d = len(means[0])
    flat = [x for row in means for x in row]
    return MultiObjectiveBernoulli(
        {"objectives": d, "means": flat, "random_arms": 0}, seeds, CPU, F64, seed
    )


def test_stochastic_ledgers_on_a_known_sequence_of_pulls():
    """Means A (0.9, 0.1), B (0.5, 0.5), C (0.1, 0.9), D (0.6, 0.6); pulls A then C. Every
    arm played is Pareto optimal (sum of Pareto gaps 0), but the player's (1.0, 1.0) is
    dominated by D's 2 (0.6, 0.6) = (1.2, 1.2): Pareto regret 0.2. Regret in objective 0:
    2 * 0.9 - 1.0 = 0.8; in objective 1: 2 * 0.9 - 1.0 = 0.8."""
    prob = bernoulli([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.6, 0.6]])
    for arm in (0, 2):
        prob.pull(torch.tensor([arm]))
    assert prob.gaps[[0, 2]].sum().item() == 0.0
    assert prob.pareto_regret().item() == pytest.approx(0.2, abs=1e-12)
    assert prob.objective_regret(0).item() == pytest.approx(0.8, abs=1e-12)
    assert prob.objective_regret(1).item() == pytest.approx(0.8, abs=1e-12)


def ucb1_reference(means, objective, steps):
    """UCB1 by hand on objective `objective` of deterministic 0/1 arms (lowest index on
    ties); returns per round (Pareto regret, objective regret, sum of Pareto gaps), each
    computed from the counts by the definitions."""
    k = len(means)
    counts, sums, out = [0] * k, [0.0] * k, {}
    gaps = [
        max(0.0, max(min(means[j][x] - means[i][x] for x in range(2)) for j in range(k)))
        for i in range(k)
    ]
    best = max(m[objective] for m in means)
    for t in range(1, steps + 1):
        if t <= k:
            arm = t - 1
        else:
            index = [
                sums[i] / counts[i] + math.sqrt(2 * math.log(t - 1) / counts[i]) for i in range(k)
            ]
            arm = index.index(max(index))
        counts[arm] += 1
        sums[arm] += means[arm][objective]
        player = [sum(counts[i] * means[i][x] for i in range(k)) for x in range(2)]
        pr = max(0.0, max(min(t * means[i][x] - player[x] for x in range(2)) for i in range(k)))
        obj = t * best - player[objective]
        out[t] = (pr, obj, sum(c * g for c, g in zip(counts, gaps)))
    return out


def test_ucb_on_one_objective_matches_a_hand_trajectory():
    """Deterministic arms A (1, 1), B (0, 0), C (1, 0), UCB1 on objective 1: A is best, B
    and C lose 1 per play there. With n_B, n_C plays of B and C the Pareto regret is n_B
    (A's total minus the player's is (n_B, n_B + n_C)), the objective regret n_B + n_C and
    the sum of Pareto gaps n_B (C is only weakly dominated: gap 0). The whole trajectory is
    fixed by the radius sqrt(2 ln n / n_i) with n the plays so far: checked at every round,
    so ln t in place of ln n (one round later) already moves a replay of B or C."""
    means = [[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]]
    checkpoints = list(range(1, 301))
    _, _, rec = run(
        ParetoRegretUCB,
        MultiObjectiveBernoulli,
        {"objective": 1},
        {"objectives": 2, "means": [x for row in means for x in row], "random_arms": 0},
        seeds=2,
        checkpoints=checkpoints,
    )
    expected = ucb1_reference(means, 1, 300)
    assert expected[300][1] > expected[300][0] > 2  # B and C are both replayed
    for t in checkpoints:
        pr, obj, gap = expected[t]
        assert torch.allclose(rec.values[t]["cumulative_regret"], torch.tensor(pr, dtype=F64))
        assert torch.allclose(rec.values[t]["objective_regret"], torch.tensor(obj, dtype=F64))
        assert torch.allclose(rec.values[t]["pareto_gap_regret"], torch.tensor(gap, dtype=F64))


def test_ucb_mean_pareto_regret_stays_under_the_ucb1_bound():
    """Default instance, objective 0: gaps in it (0, 0.3, 0.6, 0.4, 0.5), so the overlay is
    8 ln n (1/0.3 + 1/0.6 + 1/0.4 + 1/0.5) + (1 + pi^2/3) 1.8; the mean over 100 seeds of
    objective regret and of the sum of Pareto gaps must lie under it, and the Pareto regret
    under the objective regret on every seed. (Here the Pareto regret itself stays 0: the
    player's average sits by arm (0.8, 0.2), which nothing dominates.)"""
    means = [0.8, 0.2, 0.5, 0.5, 0.2, 0.8, 0.4, 0.4, 0.3, 0.3]
    checkpoints = [10, 100, 1000, 2000]
    _, problem, rec = run(
        ParetoRegretUCB,
        MultiObjectiveBernoulli,
        {"objective": 0},
        {"objectives": 2, "means": means, "random_arms": 0},
        seeds=100,
        checkpoints=checkpoints,
    )
    n = np.array(checkpoints, dtype=float)
    expected = 8 * np.log(n) * (1 / 0.3 + 1 / 0.6 + 1 / 0.4 + 1 / 0.5) + (1 + math.pi**2 / 3) * 1.8
    np.testing.assert_allclose(rec.bounds["regret_upper_bound"], expected)
    np.testing.assert_allclose(ucb1_objective_bound(problem.objective_gaps(0), n), expected)
    for i, t in enumerate(checkpoints):
        v = rec.values[t]
        assert v["objective_regret"].mean().item() <= expected[i]
        assert v["pareto_gap_regret"].mean().item() <= expected[i]
        assert torch.all(v["cumulative_regret"] <= v["objective_regret"] + 1e-9)
    assert rec.values[2000]["objective_regret"].mean().item() > 10  # not vacuous


def test_exp3_first_updates_by_hand():
    """K = 2, gamma = 0.5, weights 1: p = (0.5, 0.5). Arm 0 pays 1: x_hat = 2, its
    log-weight grows by gamma x_hat / K = 0.5, so p_0 = 0.5 e^0.5 / (e^0.5 + 1) + 0.25 =
    0.561229...; then arm 1 pays 1 with p_1 = 0.438770...: its log-weight grows by
    0.25 / p_1 = 0.569775..."""
    log_w = torch.zeros((1, 2), dtype=F64)
    p = exp3_probabilities(log_w, 0.5)
    assert torch.allclose(p, torch.tensor([[0.5, 0.5]], dtype=F64))
    exp3_update(log_w, torch.tensor([0]), torch.tensor([1.0], dtype=F64), p, 0.5)
    assert log_w.tolist() == [[0.5, 0.0]]
    p = exp3_probabilities(log_w, 0.5)
    p0 = 0.5 * math.exp(0.5) / (math.exp(0.5) + 1) + 0.25
    assert p[0, 0].item() == pytest.approx(p0, abs=1e-12)
    exp3_update(log_w, torch.tensor([1]), torch.tensor([1.0], dtype=F64), p, 0.5)
    assert log_w[0, 1].item() == pytest.approx(0.25 / (1 - p0), abs=1e-12)
    assert 0.25 / (1 - p0) == pytest.approx(0.569775, abs=1e-6)


def test_exp3_rate_and_bound_formulas():
    """gamma = sqrt(K ln K / ((e - 1) T)) and, at t = T, the bound is 2 sqrt(e - 1)
    sqrt(T K ln K) = 2.6218 sqrt(T K ln K) (Auer et al. 2002, Corollary 3.2); early on the
    cap t applies."""
    g = exp3_gamma(5, 10_000)
    assert g == pytest.approx(math.sqrt(5 * math.log(5) / (1.718281828459045 * 10_000)))
    assert exp3_bound(5, g, [10_000])[0] == pytest.approx(
        2 * math.sqrt(math.e - 1) * math.sqrt(10_000 * 5 * math.log(5))
    )
    assert exp3_bound(5, g, [3])[0] == 3.0
    assert exp3_gamma(50, 10) == 1.0


def exp3_reference(problem, seed, seeds, k, objective, steps):
    """EXP3 in pure Python with the algorithm's uniforms; returns log-weights [seeds][k]."""
    gen = generator(CPU, seed, ALGORITHM_STREAM)
    gamma = min(1.0, math.sqrt(k * math.log(k) / ((math.e - 1) * steps)))
    log_w = [[0.0] * k for _ in range(seeds)]
    for _ in range(steps):
        u = torch.rand((seeds, 1), generator=gen, dtype=F64)[:, 0].tolist()
        arms = []
        probs = []
        for s in range(seeds):
            top = max(log_w[s])
            w = [math.exp(x - top) for x in log_w[s]]
            p = [(1 - gamma) * x / sum(w) + gamma / k for x in w]
            cum, arm = 0.0, 0
            for i in range(k):
                cum += p[i]
                if cum <= u[s]:
                    arm = i + 1
            arms.append(min(arm, k - 1))
            probs.append(p)
        rewards = problem.pull(torch.tensor(arms))[:, objective].tolist()
        for s in range(seeds):
            log_w[s][arms[s]] += gamma * rewards[s] / probs[s][arms[s]] / k
    return log_w


def test_exp3_matches_a_pure_python_reference_on_the_adversarial_table():
    """The whole rule end to end (rate, probabilities, the draw, the importance-weighted
    update on the chosen objective): log-weights after 60 rounds equal a pure-Python EXP3
    fed the same uniforms and the same table."""
    params = {"arms": 3, "objectives": 2, "phase": 20}
    alg, _, _ = run(
        ParetoRegretEXP3,
        AdversarialMultiObjective,
        {"objective": 1},
        params,
        seeds=3,
        checkpoints=[60],
        seed=4,
    )
    reference = AdversarialMultiObjective(params, 3, CPU, F64, 4)
    expected = exp3_reference(reference, 4, 3, 3, 1, 60)
    assert torch.allclose(alg.log_weights, torch.tensor(expected, dtype=F64), atol=1e-10)
    assert alg.counts.sum(dim=1).tolist() == [60.0] * 3
    assert (alg.log_weights > 0).any()


def test_adversarial_table_is_fixed_by_the_seed_and_shared_by_all_seeds():
    """Oblivious: the same base seed gives the same table whatever the learner does, every
    seed sees the same rewards, and the arms' totals are the sums of the rows; a fresh
    mean matrix every `phase` rounds."""
    params = {"arms": 4, "objectives": 3, "phase": 5}
    a = AdversarialMultiObjective(params, 2, CPU, F64, 7)
    b = AdversarialMultiObjective(params, 5, CPU, F64, 7)
    rows, means = [], []
    for _ in range(12):
        r = a.pull(torch.tensor([0, 3]))
        rows.append(b.table())
        means.append(a.means.clone())
        assert torch.equal(r, rows[-1][[0, 3]])
    assert torch.equal(a.arm_totals, torch.stack(rows).sum(dim=0))
    assert torch.equal(means[0], means[4]) and not torch.equal(means[4], means[5])
    assert torch.equal(a.player_totals[1], a.arm_totals[3])
    assert a.pareto_regret()[1].item() == pareto_regret(a.arm_totals, a.arm_totals[3]).item()


def test_exp3_stays_under_its_bound_on_the_adversarial_table():
    """K = 5, D = 2, fresh means every 500 rounds, T = 4000, 40 seeds: the mean objective
    regret lies under (e - 1) gamma t + K ln K / gamma at every checkpoint, and the Pareto
    regret under the objective regret on every seed (Theorem 4.1, pointwise)."""
    checkpoints = [100, 1000, 2000, 4000]
    _, _, rec = run(
        ParetoRegretEXP3,
        AdversarialMultiObjective,
        {"objective": 0},
        {"arms": 5, "objectives": 2, "phase": 500},
        seeds=40,
        checkpoints=checkpoints,
        seed=2,
    )
    bound = rec.bounds["regret_upper_bound"]
    np.testing.assert_allclose(bound, exp3_bound(5, exp3_gamma(5, 4000), checkpoints))
    for i, t in enumerate(checkpoints):
        v = rec.values[t]
        assert v["objective_regret"].mean().item() <= bound[i]
        assert torch.all(v["cumulative_regret"] <= v["objective_regret"] + 1e-9)


def test_an_objective_beyond_the_problem_is_refused_with_the_key():
    with pytest.raises(ParamError, match="algorithm.objective"):
        run(
            ParetoRegretUCB,
            MultiObjectiveBernoulli,
            {"objective": 2},
            {"objectives": 2, "means": [0.1, 0.2, 0.3, 0.4], "random_arms": 0},
            seeds=1,
            checkpoints=[5],
        )
