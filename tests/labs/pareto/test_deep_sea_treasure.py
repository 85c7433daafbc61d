"""Deep Sea Treasure: the exact fronts, their hypervolumes and which points a weighted sum
can reach, all against hand-computed values."""

import numpy as np
import pytest
import torch

from engine.labs.pareto.deep_sea_treasure import DeepSeaTreasure
from engine.metrics import hypervolume

TIMES = [1, 3, 5, 7, 8, 9, 13, 14, 17, 19]
CONCAVE = [1, 2, 3, 5, 8, 16, 24, 50, 74, 124]
# The published fronts as (treasure, -time) pairs, as MO-Gymnasium's deep_sea_treasure.py lists
# them: CONCAVE_FRONT (Vamplew et al. 2011) and CONVEX_FRONT (Yang et al. 2019, its default map).
PUBLISHED = {
    "concave": [
        (1.0, -1),
        (2.0, -3),
        (3.0, -5),
        (5.0, -7),
        (8.0, -8),
        (16.0, -9),
        (24.0, -13),
        (50.0, -14),
        (74.0, -17),
        (124.0, -19),
    ],
    "convex": [
        (0.7, -1),
        (8.2, -3),
        (11.5, -5),
        (14.0, -7),
        (15.1, -8),
        (16.1, -9),
        (19.6, -13),
        (20.3, -14),
        (22.4, -17),
        (23.7, -19),
    ],
}
CONVEX = [0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7]


def build(treasure_map, horizon=50):
    return DeepSeaTreasure(
        {"treasure_map": treasure_map, "horizon": horizon}, 3, torch.device("cpu"), torch.float64, 0
    )


def weighted_sum_winners(front, treasure_weights):
    """Index of the front point maximising w v - (1 - w) t for each treasure weight w."""
    scores = np.outer(treasure_weights, front[:, 0]) - np.outer(1 - treasure_weights, front[:, 1])
    return scores.argmax(axis=1)


@pytest.mark.parametrize("treasure_map, values", [("concave", CONCAVE), ("convex", CONVEX)])
def test_exact_front_is_the_published_table(treasure_map, values):
    # The treasure in column c lies at row FLOOR[c], reached in row + column steps; larger
    # treasures lie farther away, so all ten are Pareto optimal, with the published values.
    front = build(treasure_map).exact_front()
    assert front.shape == (10, 2)
    np.testing.assert_array_equal(front, np.column_stack([values, TIMES]))
    published = np.array(PUBLISHED[treasure_map], dtype=float)
    np.testing.assert_array_equal(front, np.column_stack([published[:, 0], -published[:, 1]]))


def test_shortest_times_follow_the_surface_then_dive():
    # Every treasure cell (row r, column c) is reached in r + c steps: right along the surface,
    # then straight down the open column.
    problem = build("concave")
    floor = [1, 2, 3, 4, 4, 4, 7, 7, 9, 10]
    assert problem.shortest_times() == {r * 10 + c: r + c for c, r in enumerate(floor)}
    # Moves into rock or off the grid leave the submarine in place.
    assert (
        problem.successor_table[0, 0] == 0 and problem.successor_table[0, 2] == 0
    )  # up / left at the start
    assert problem.successor_table[1 * 10 + 1, 2] == 10  # left onto treasure (1, 0)
    assert problem.successor_table[2 * 10 + 1, 2] == 21  # left into rock below it


@pytest.mark.parametrize("treasure_map, volume", [("concave", 1155.0), ("convex", 401.8)])
def test_true_front_hypervolume_by_hand(treasure_map, volume):
    # Reference (treasure 0, time 25): the staircase sum_i v_i (t_{i+1} - t_i) with t_11 = 25.
    # Concave: 1*2 + 2*2 + 3*2 + 5*1 + 8*1 + 16*4 + 24*1 + 50*3 + 74*2 + 124*6 = 1155.
    # Convex: 0.7*2 + 8.2*2 + 11.5*2 + 14 + 15.1 + 16.1*4 + 19.6 + 20.3*3 + 22.4*2 + 23.7*6 = 401.8.
    problem = build(treasure_map)
    assert problem.reference_point() == [0.0, 25.0]
    np.testing.assert_allclose(problem.true_front_hypervolume([0.0, 25.0]), volume, rtol=1e-12)


def test_weighted_sums_reach_only_the_two_ends_of_the_concave_front():
    # Maximising w v - (1 - w) t over the concave front: from (1, 1) the steepest chord goes
    # straight to (124, 19), slope 123 / 18 = 6.83 (every other point lies below it), so the
    # weighted sum picks (1, 1) for w < 18 / 141 and (124, 19) above; the other eight points
    # are never chosen. The two supported points cover 1 * 18 + 124 * 6 = 762 of 1155.
    front = build("concave").exact_front()
    winners = weighted_sum_winners(front, np.linspace(1e-4, 1 - 1e-4, 20001))
    assert set(winners.tolist()) == {0, 9}
    assert weighted_sum_winners(front, np.array([18 / 141 - 1e-9, 18 / 141 + 1e-9])).tolist() == [
        0,
        9,
    ]
    assert hypervolume(front[[0, 9]], [0, 25], ["max", "min"]) == pytest.approx(762.0, rel=1e-12)


def test_weighted_sums_reach_nine_points_of_the_convex_front():
    # The convex map's marginal treasure per step falls along the front, 3.75, 1.65, 1.25, 1.1,
    # 1, 0.875, 0.7, 0.7, 0.65, so point i wins for w in (1 / (1 + slope_{i-1}), 1 / (1 + slope_i))
    # -- except (20.3, 14): both slopes around it are 0.7, its interval is empty, and at
    # w = 1 / 1.7 it only ties with (19.6, 13) and (22.4, 17). The midpoint grid of 10
    # preferences lands in the intervals of points 0, 0, 1, 1, 3, 6, 9, 9, 9, 9.
    front = build("convex").exact_front()
    slopes = np.diff(front[:, 0]) / np.diff(front[:, 1])
    np.testing.assert_allclose(
        slopes, [3.75, 1.65, 1.25, 1.1, 1.0, 0.875, 0.7, 0.7, 0.65], rtol=1e-9
    )
    breaks = 1 / (1 + slopes)
    assert np.all(np.diff(breaks) >= -1e-12) and breaks[7] - breaks[6] == pytest.approx(
        0.0, abs=1e-12
    )
    assert weighted_sum_winners(front, (np.arange(10) + 0.5) / 10).tolist() == [
        0,
        0,
        1,
        1,
        3,
        6,
        9,
        9,
        9,
        9,
    ]
    winners = set(weighted_sum_winners(front, np.linspace(1e-4, 1 - 1e-4, 20001)).tolist())
    assert winners == set(range(10)) - {7}
    tie = 1 / 1.7
    scores = tie * front[6:9, 0] - (1 - tie) * front[6:9, 1]
    np.testing.assert_allclose(scores, scores[0], rtol=1e-12)
