"""Policy optimisation by swap regret minimisation in general-sum Markov games, and the
per-state swap deviations behind its swap regret and CE gap, against reference values.

Each test names the result it checks.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from engine.labs.online.blum_mansour import BlumMansourSelfPlay
from engine.labs.online.markov_games import (
    MarkovGame,
    correlated_gap,
    swap_deviation_values,
    swap_map_count,
)
from engine.labs.online.matrix_games import CHICKEN_ROW, MatrixGame, ce_gap
from engine.labs.online.swap_regret_policy_optimisation import (
    SwapRegretPolicyOptimisation,
    swap_policy,
)
from engine.params import ParamError
from tests.labs.online.recorder import CPU, FakeRecorder, run

T64 = torch.float64


def routing_game():
    """H = 2, S = 2, N = 2. Step 0 (state 0): no reward, the next state is the row player's
    action. Step 1: in state 0 the row player earns 1 when it matches the column player's
    action; in state 1 it earns 0.6 whatever is played. The column player earns nothing."""
    reward_row = torch.zeros((2, 2, 2, 2), dtype=T64)
    reward_row[1, 0] = torch.eye(2, dtype=T64)
    reward_row[1, 1] = 0.6
    transition = torch.zeros((2, 2, 2, 2, 2), dtype=T64)
    transition[0, :, 0, :, 0] = 1.0
    transition[0, :, 1, :, 1] = 1.0
    transition[1, ..., 0] = 1.0  # after the last step: unused
    return reward_row, torch.zeros_like(reward_row), transition


def pure(actions):
    """A pure policy [H, S, N] from the action at every (step, state)."""
    return torch.nn.functional.one_hot(torch.tensor(actions), 2).to(T64)


def test_swap_regret_of_a_hand_play_sequence():
    """Routing game, two episodes. Row: step 0 plays 0 then 1; at step 1 it plays 1 in state 0
    and 0 in state 1 both times. Column plays b = 0 then b = 1. Played: episode 1 goes to
    state 0 and mismatches (0), episode 2 goes to state 1 (0.6): 0.6. Best per-state swap:
    keep step 0 (episode 1 -> state 0, episode 2 -> state 1) and in state 0 map 'told 1' to 0:
    1 + 0.6 = 1.6 (routing both to state 0 earns 1 -- one map cannot match b = 0 and b = 1 --
    and both to state 1 earns 1.2). Swap regret 1.0, CE gap of the two-profile mixture 0.5;
    the best response per episode (2 in all, regret 1.4) is not a per-state swap."""
    reward_row, _, transition = routing_game()
    rows = torch.stack([pure([[0, 0], [1, 0]]), pure([[1, 0], [1, 0]])])
    columns = torch.stack([pure([[0, 0], [0, 0]]), pure([[1, 1], [1, 1]])])
    values = swap_deviation_values(
        reward_row.expand(2, -1, -1, -1, -1),
        transition.expand(2, -1, -1, -1, -1, -1),
        rows,
        columns,
    )
    assert values.shape == (2, swap_map_count(2, 2, 2)) == (2, 4**3)
    assert (values.sum(0).amax() - 0.6).item() == pytest.approx(1.0, abs=1e-14)
    assert values.amax(1).sum().item() == pytest.approx(2.0, abs=1e-14)
    gap = correlated_gap(routing_game(), rows, columns, torch.tensor([0.5, 0.5], dtype=T64))
    assert gap.item() == pytest.approx(0.5, abs=1e-14)


def brute_force_deviation_values(reward, transition, p_self, p_other):
    """Every per-state swap map as a dict {(h, x): phi}, valued by plain recursion in numpy."""
    horizon, states, n = reward.shape[0], reward.shape[1], reward.shape[2]
    points = [(0, 0)] + [(h, x) for h in range(1, horizon) for x in range(states)]
    maps = list(itertools.product(range(n), repeat=n))
    out = []
    for choice in itertools.product(maps, repeat=len(points)):
        phi = dict(zip(points, choice, strict=True))
        memo = {}

        def value(h, x, phi=phi, memo=memo):
            if h == horizon:
                return 0.0
            if (h, x) in memo:
                return memo[(h, x)]
            total = 0.0
            for a in range(n):
                played = phi[(h, x)][a]
                for b in range(n):
                    cont = sum(
                        transition[h, x, played, b, y] * value(h + 1, y) for y in range(states)
                    )
                    total += p_self[h, x, a] * p_other[h, x, b] * (reward[h, x, played, b] + cont)
            memo[(h, x)] = total
            return total

        out.append(value(0, 0))
    return np.array(out)


def test_swap_deviations_match_brute_force_on_a_random_game():
    """All 4^5 per-state swap deviations of a seeded 2-action, 2-state, 3-step game under random
    mixed policies: the batched suffix computation equals plain recursion (as sorted sets of
    values, to 1e-12), for the row player and (action axes swapped) the column player."""
    game = MarkovGame({"actions": 2, "states": 2, "horizon": 3}, 1, CPU, T64, 5)
    g = torch.Generator().manual_seed(1)
    p_row = torch.softmax(torch.randn((1, 3, 2, 2), generator=g, dtype=T64), -1)
    p_column = torch.softmax(torch.randn((1, 3, 2, 2), generator=g, dtype=T64), -1)
    ours = swap_deviation_values(game.reward_row, game.transition, p_row, p_column)[0]
    ref = brute_force_deviation_values(
        game.reward_row[0].numpy(),
        game.transition[0].numpy(),
        p_row[0].numpy(),
        p_column[0].numpy(),
    )
    assert np.sort(ours.numpy()) == pytest.approx(np.sort(ref), abs=1e-12)
    column_reward = game.reward_column[0].transpose(-1, -2).numpy()
    column_transition = game.transition[0].transpose(-2, -3).numpy()
    ours = swap_deviation_values(
        game.reward_column.transpose(-1, -2), game.transition.transpose(-2, -3), p_column, p_row
    )[0]
    ref = brute_force_deviation_values(
        column_reward, column_transition, p_column[0].numpy(), p_row[0].numpy()
    )
    assert np.sort(ours.numpy()) == pytest.approx(np.sort(ref), abs=1e-12)


def one_state_game(row, column):
    a = torch.as_tensor(row, dtype=T64)
    b = torch.as_tensor(column, dtype=T64)
    n = a.shape[0]
    transition = torch.ones((1, 1, n, n, 1), dtype=T64)
    return a[None, None], b[None, None], transition


def pure_profiles(n):
    """Every pure action pair (r, c) as one-step, one-state policies [N^2, 1, 1, N] each."""
    eye = torch.eye(n, dtype=T64)
    rows = torch.stack([eye[r] for r in range(n) for _ in range(n)])[:, None, None]
    columns = torch.stack([eye[c] for _ in range(n) for c in range(n)])[:, None, None]
    return rows, columns


def test_ce_gap_of_known_distributions_in_a_one_state_game():
    """Chicken as a one-step game, the correlated policy drawing pure pairs from D: uniform on
    (dare, yield), (yield, dare), (yield, yield) is a correlated equilibrium, gap 0; all mass on
    (yield, yield) is not: 'told yield, dare' gains 1 - 6/7 = 1/7. On a random 3 x 3 game and
    random D the gap is max_i sum_j max(0, max_k gain_i(j -> k)), which is at least the largest
    single CE-constraint violation (the matrix lab's ce_gap) and at most 3 times it."""
    a = torch.tensor(CHICKEN_ROW, dtype=T64)
    game = one_state_game(a, a.T)
    rows, columns = pure_profiles(2)
    mixed = torch.tensor([0.0, 1 / 3, 1 / 3, 1 / 3], dtype=T64)
    both_yield = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=T64)
    assert correlated_gap(game, rows, columns, mixed).item() == pytest.approx(0.0, abs=1e-15)
    assert correlated_gap(game, rows, columns, both_yield).item() == pytest.approx(1 / 7, abs=1e-15)
    g = torch.Generator().manual_seed(3)
    a, b = torch.rand((2, 3, 3), generator=g, dtype=T64)
    d = torch.rand((3, 3), generator=g, dtype=T64)
    d = d / d.sum()
    rows, columns = pure_profiles(3)
    ours = correlated_gap(one_state_game(a, b), rows, columns, d.flatten()).item()
    row_gain = d @ a.T - torch.diagonal(d @ a.T)[:, None]  # [j, k]: told j, play k
    column_gain = d.T @ b - torch.diagonal(d.T @ b)[:, None]
    by_hand = max(row_gain.amax(1).clamp_min(0).sum(), column_gain.amax(1).clamp_min(0).sum())
    assert ours == pytest.approx(by_hand.item(), abs=1e-14)
    single = ce_gap(d[None], a[None], b[None]).item()
    assert single - 1e-14 <= ours <= 3 * single + 1e-14


def test_swap_policy_with_exploration_by_hand():
    """eta = 1, M = [[0, ln 3], [0, 0]], gamma = 0.2: q_0 = 0.8 (3/4, 1/4) + 0.1 = (0.7, 0.3),
    q_1 = (1/2, 1/2); p = p Q gives 0.3 p_0 = 0.5 p_1, p = (5/8, 3/8). gamma = 1 is uniform."""
    moves = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], dtype=T64)
    assert swap_policy(moves, 1.0, 0.2).tolist() == pytest.approx([5 / 8, 3 / 8], abs=1e-14)
    assert swap_policy(moves, 1.0, 1.0).tolist() == pytest.approx([0.5, 0.5], abs=1e-14)


def test_first_episode_value_backup_by_hand():
    """Routing game, both players uniform in episode 1: at step 1 the row Q is 1/2 in state 0
    (matching a uniform opponent) and 0.6 in state 1, so at step 0 Q = (0.5, 0.6) and the loss
    (H - h) - Q = (1.5, 1.4); each instance j gets p(j) = 1/2 of it: M_0 = [[0.75, 0.7]] x 2.
    At step 1, state 0: loss 1 - 1/2 = 1/2 for both actions, M = 1/4 everywhere."""
    alg, _, _ = run(
        SwapRegretPolicyOptimisation,
        MarkovGame,
        {"learning_rate": 1.0, "exploration": 0.0},
        {"actions": 2, "states": 2, "horizon": 2},
        1,
        [1],
    )
    reward_row, reward_column, transition = routing_game()
    alg.problem.reward_row, alg.problem.reward_column = reward_row[None], reward_column[None]
    alg.problem.transition = transition[None]
    alg.run(1, FakeRecorder([1]))
    assert alg.row_moves[0, 0, 0].flatten().tolist() == pytest.approx([0.75, 0.7] * 2, abs=1e-14)
    assert alg.row_moves[0, 1, 0].flatten().tolist() == pytest.approx([0.25] * 4, abs=1e-14)


def test_one_state_game_reduces_to_the_matrix_learner():
    """With one state and one step (gamma = 0) the algorithm is Blum-Mansour self-play with
    expected feedback: on seeded random 3 x 3 games its swap regret equals the matrix
    learner's at each of 30 rounds (1e-12), and the CE gap is max swap regret / t."""
    checkpoints = list(range(1, 31))
    _, matrix, ref = run(
        BlumMansourSelfPlay,
        MatrixGame,
        {"learning_rate": 0.7, "feedback": "expected"},
        {"game": "random", "actions": 3},
        2,
        checkpoints,
        seed=4,
    )
    game = MarkovGame({"actions": 3, "states": 1, "horizon": 1}, 2, CPU, T64, 4)
    game.reward_row = matrix.row_payoff[:, None, None].clone()
    game.reward_column = matrix.column_payoff[:, None, None].clone()
    game.transition = torch.ones((2, 1, 1, 3, 3, 1), dtype=T64)
    alg = SwapRegretPolicyOptimisation(
        {"learning_rate": 0.7, "exploration": 0.0}, game, 2, CPU, T64, 4
    )
    rec = FakeRecorder(checkpoints)
    alg.run(30, rec)
    swap = rec.series("cumulative_regret")
    assert swap.numpy() == pytest.approx(ref.series("cumulative_regret").numpy(), abs=1e-12)
    t = torch.tensor(checkpoints, dtype=T64)[:, None]
    assert rec.series("ce_gap").numpy() == pytest.approx((swap / t).numpy(), abs=1e-15)


def test_ce_gap_falls_over_episodes():
    """Self-play on seeded 2-action, 2-state, 2-step games (eta = sqrt(8 N ln N / T) / H):
    the CE gap of the empirical play at 400 episodes is below half its value at 40 on every
    seed, and below 0.1; each player's swap regret is nonnegative and the recorded
    cumulative regret is the larger one."""
    _, _, rec = run(
        SwapRegretPolicyOptimisation,
        MarkovGame,
        {"learning_rate": 0.0, "exploration": 0.0},
        {"actions": 2, "states": 2, "horizon": 2},
        3,
        [40, 400],
        seed=3,
    )
    gap = rec.series("ce_gap")
    assert (gap[1] < 0.5 * gap[0]).all()
    assert gap[1].max() < 0.1
    row, column = rec.series("row_swap_regret"), rec.series("column_swap_regret")
    assert (row >= 0).all() and (column >= 0).all()
    assert torch.equal(rec.series("cumulative_regret"), torch.maximum(row, column))


def test_too_many_swap_maps_is_a_parameter_error():
    """(2^2)^(1 + 3 * 3) = 4^10 maps exceed the enumeration cap: a ParamError naming horizon."""
    with pytest.raises(ParamError, match="swap maps"):
        MarkovGame({"actions": 2, "states": 3, "horizon": 4}, 1, CPU, T64, 0)
