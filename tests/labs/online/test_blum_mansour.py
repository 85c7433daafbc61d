"""Blum-Mansour swap-regret self-play and the correlated-equilibrium gap against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.blum_mansour import (
    BlumMansourSelfPlay,
    blum_mansour_bound,
    external_regret,
    stationary_distribution,
    swap_regret,
)
from engine.labs.online.matrix_games import CHICKEN_ROW, MatrixGame, ce_gap
from tests.labs.online.recorder import run

T64 = torch.float64


def test_stationary_distribution_by_hand():
    """Q = [[0.7, 0.3], [0.6, 0.4]]: p = pQ gives 0.3 p_0 = 0.6 p_1, so p = (2/3, 1/3); and on a
    random positive 4 x 4 row-stochastic Q the solution satisfies p = pQ, sum p = 1."""
    q = torch.tensor([[[0.7, 0.3], [0.6, 0.4]]], dtype=T64)
    assert stationary_distribution(q)[0].tolist() == pytest.approx([2 / 3, 1 / 3], abs=1e-14)
    g = torch.Generator().manual_seed(0)
    q = torch.rand((5, 4, 4), generator=g, dtype=T64) + 0.01
    q = q / q.sum(-1, keepdim=True)
    p = stationary_distribution(q)
    assert torch.allclose((p.unsqueeze(-2) @ q).squeeze(-2), p, atol=1e-13)
    assert torch.allclose(p.sum(-1), torch.ones(5, dtype=T64), atol=1e-13)


def test_swap_and_external_regret_by_hand():
    """M = [[3, 1], [0.5, 2]] (M[j,k] = sum_t p_t(j) l_t(k)): swap regret = (3 - 1) + (2 - 0.5)
    = 3.5; external = trace 5 - min column sum min(3.5, 3) = 2; swap >= external since the
    constant maps are swaps."""
    m = torch.tensor([[3.0, 1.0], [0.5, 2.0]], dtype=T64)
    assert swap_regret(m).item() == pytest.approx(3.5)
    assert external_regret(m).item() == pytest.approx(2.0)


def test_first_round_of_chicken_by_hand():
    """Chicken, expected feedback, t = 1: both play (1/2, 1/2), the row loss vector is
    1 - A p_col = (1/2, 3/7), so M = 1/2 [[1/2, 3/7], [1/2, 3/7]]: swap regret = 1/4 - 3/14 = 1/28,
    external regret 1/28; the product joint is 1/4 everywhere, and 'told dare, yield' gains
    1/4 (2/7 - 0) + 1/4 (6/7 - 1) = 1/28 for either player: ce_gap = 1/28."""
    _, _, rec = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 1.0, "feedback": "expected"},
        {"game": "chicken", "actions": 2},
        2,
        [1],
    )
    for name in ("cumulative_regret", "external_regret", "ce_gap"):
        assert rec.series(name)[0].tolist() == pytest.approx([1 / 28, 1 / 28], abs=1e-14)


def reference_self_play(a, b, rate, steps):
    """Blum-Mansour self-play in plain numpy, the stationary distribution taken as the
    eigenvector of Q^T for eigenvalue 1 (independent of the linear solve)."""

    def play(moves):
        w = np.exp(-rate * (moves - moves.min(axis=1, keepdims=True)))
        q = w / w.sum(axis=1, keepdims=True)
        vals, vecs = np.linalg.eig(q.T)
        v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
        return v / v.sum()

    mr, mc = np.zeros_like(a), np.zeros_like(b)
    swaps = []
    for _ in range(steps):
        pr, pc = play(mr), play(mc)
        mr += np.outer(pr, 1.0 - a @ pc)
        mc += np.outer(pc, 1.0 - pr @ b)
        swaps.append(
            max(
                sum(mr[j, j] - mr[j].min() for j in range(len(pr))),
                sum(mc[j, j] - mc[j].min() for j in range(len(pc))),
            )
        )
    return np.array(swaps)


def test_trajectory_matches_numpy_reference():
    """Swap regret of 30 rounds on a seeded random 4 x 4 game (expected feedback, eta = 0.7)
    against the plain numpy reference, at every round."""
    checkpoints = list(range(1, 31))
    alg, prob, rec = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 0.7, "feedback": "expected"},
        {"game": "random", "actions": 4},
        2,
        checkpoints,
        seed=4,
    )
    for s in range(2):
        ref = reference_self_play(
            prob.row_payoff[s].numpy(), prob.column_payoff[s].numpy(), 0.7, 30
        )
        assert rec.series("cumulative_regret")[:, s].numpy() == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize(
    "game,feedback",
    [("random", "sampled"), ("random", "expected"), ("shapley", "sampled"), ("chicken", "sampled")],
)
def test_blum_mansour_bound_and_swap_above_external(game, feedback):
    """Blum-Mansour with Hedge at eta = sqrt(8 N ln N / T): swap regret <= N ln N / eta + eta t / 8
    (sqrt(T N ln N / 2) at T) on every sequence, so per seed at every checkpoint; and swap
    regret >= external regret there too."""
    checkpoints = [10, 100, 400, 1200]
    _, prob, rec = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 0.0, "feedback": feedback},
        {"game": game, "actions": 3},
        16,
        checkpoints,
        seed=7,
    )
    n = prob.actions
    rate = math.sqrt(8 * n * math.log(n) / 1200)
    bound = blum_mansour_bound(checkpoints, n, rate)
    assert bound[-1] == pytest.approx(math.sqrt(1200 * n * math.log(n) / 2))
    swap = rec.series("cumulative_regret").numpy()
    assert (swap <= bound[:, None] + 1e-9).all()
    assert (swap >= rec.series("external_regret").numpy() - 1e-12).all()
    assert rec.bounds["regret_upper_bound"] == pytest.approx(bound)


def test_swap_regret_vanishes_and_play_approaches_a_correlated_equilibrium():
    """Swap regret o(T) implies convergence to correlated equilibria: on seeded random 3 x 3 games
    with expected feedback, ce_gap <= max swap regret / t exactly (the CE constraints are the
    swap deviations), swap / t falls by more than half from t = 200 to 2000, and at 2000 the
    CE gap is below 0.02 on every seed; with sampled play in Shapley's game, below 0.04."""
    checkpoints = [200, 2000]
    _, _, rec = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 0.0, "feedback": "expected"},
        {"game": "random", "actions": 3},
        16,
        checkpoints,
        seed=11,
    )
    swap, gap = rec.series("cumulative_regret"), rec.series("ce_gap")
    per_round = swap / torch.tensor(checkpoints, dtype=T64)[:, None]
    assert (gap <= per_round + 1e-12).all()
    assert per_round[1].mean() < 0.5 * per_round[0].mean()
    assert gap[1].max() < 0.02
    _, _, rec = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 0.0, "feedback": "sampled"},
        {"game": "shapley", "actions": 3},
        16,
        [2000],
        seed=11,
    )
    assert rec.series("ce_gap")[0].max() < 0.04


def test_ce_gap_of_known_distributions():
    """Chicken: the uniform distribution over (dare, yield), (yield, dare), (yield, yield) is a
    correlated equilibrium (told yield, each player faces dare or yield equally: yield gives
    (2 + 6) / 2 / 7, dare (0 + 7) / 2 / 7 -- not better), gap 0; all mass on (yield, yield) is
    not: deviating to dare gains 1 - 6/7 = 1/7."""
    a = torch.tensor(CHICKEN_ROW, dtype=T64)[None]
    b = a.transpose(1, 2).clone()
    mixed = torch.tensor([[[0.0, 1 / 3], [1 / 3, 1 / 3]]], dtype=T64)
    pure = torch.tensor([[[0.0, 0.0], [0.0, 1.0]]], dtype=T64)
    assert ce_gap(mixed, a, b).item() == pytest.approx(0.0, abs=1e-15)
    assert ce_gap(pure, a, b).item() == pytest.approx(1 / 7, abs=1e-15)
