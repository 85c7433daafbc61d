"""Preference-driven multi-objective Q-learning on Deep Sea Treasure.

With the linear score it is Q-learning on w^T r, whose optimum maximises
w_treasure v - w_time t over the front: it provably reaches only the supported (convex
hull) points. The runs go through the real runner; the expected points are derived by hand
in `test_deep_sea_treasure.py`.
"""

import numpy as np
import pytest
import torch

from engine.labs.pareto.deep_sea_treasure import DeepSeaTreasure
from engine.labs.pareto.pd_morl import PreferenceDrivenQLearning
from tests.labs.pareto.pareto_runs import final_front, last_values, recorded_objectives, run_spec

TIMES = [1, 3, 5, 7, 8, 9, 13, 14, 17, 19]
# The convex map of Yang et al. (2019), as in MO-Gymnasium's deep-sea-treasure-v0.
CONVEX = [0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7]
# Treasures are paid in the run's dtype: float32 rounds 0.7 to 0.69999999, so values read back
# from a float32 run match the published ones to about 1e-7, float64 ones to the last bit.
RTOL = {"float32": 1e-6, "float64": 1e-12}
DTYPES = sorted(RTOL)


def run_dst(tmp_path, treasure_map, steps, seeds=3, dtype="float64", **algorithm):
    return run_spec(
        tmp_path,
        {"id": "pareto.pd_morl", "action_score": "linear", **algorithm},
        {"id": "pareto.deep_sea_treasure", "treasure_map": treasure_map},
        steps=steps,
        seeds=seeds,
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_scalarisation_misses_the_concave_points(tmp_path, dtype):
    # Concave map (Vamplew et al. 2011): w v - (1 - w) t is maximised by (1, 1) for
    # w < 18 / 141 = 0.128 and by (124, 19) above, so of the midpoints w = 0.05, 0.15, ..., 0.95
    # the first reaches (1, 1) and the other nine (124, 19). The eight concave points are never
    # reached; the hypervolume is that of the two hull points, 1 * 18 + 124 * 6 = 762, which is
    # 762 / 1155 = 0.6597 of the exact front's.
    store, row, _ = run_dst(tmp_path, "concave", steps=1500, dtype=dtype)
    doc = recorded_objectives(row)
    assert doc["names"] == ["treasure", "time"] and doc["directions"] == ["max", "min"]
    assert doc["reference_point"] == [0.0, 25.0]
    points, labels = final_front(store, row["id"])
    assert [lab["weight_treasure"] for lab in labels] == pytest.approx((np.arange(10) + 0.5) / 10)
    expected = np.array([[1, 1]] + [[124, 19]] * 9, dtype=float)
    for seed_points in points:
        np.testing.assert_array_equal(seed_points, expected)  # integers: exact in either dtype
    concave_points = {(v, t) for v, t in zip([2, 3, 5, 8, 16, 24, 50, 74], TIMES[1:9])}
    assert not concave_points & {tuple(p) for p in points.reshape(-1, 2).tolist()}
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume"), 762.0, rtol=RTOL[dtype]
    )
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume_ratio"), 762 / 1155, rtol=RTOL[dtype]
    )
    np.testing.assert_array_equal(last_values(store, row["id"], "front_points_found"), 2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_scalarisation_reaches_the_supported_points_its_grid_hits_on_the_convex_map(
    tmp_path, dtype
):
    # Convex map: point i wins the weighted sum for w in (1 / (1 + slope_{i-1}), 1 / (1 + slope_i)),
    # breaks 0.211, 0.377, 0.444, 0.476, 0.5, 0.533, 0.588 (twice), 0.606 (see
    # test_deep_sea_treasure.py). The midpoints 0.05, ..., 0.95 fall in the intervals of points
    # 0, 0, 1, 1, 3, 6, 9, 9, 9, 9: five of the ten treasures, each in its shortest time, with
    # hypervolume 0.7 * 2 + 8.2 * 4 + 14 * 6 + 19.6 * 6 + 23.7 * 6 = 378 of the front's 401.8.
    # The count of points found must not depend on the dtype (in float32 only 14.0 of these
    # five treasures is exactly representable).
    store, row, _ = run_dst(tmp_path, "convex", steps=2000, dtype=dtype)
    points, _ = final_front(store, row["id"])
    reached = [0, 0, 1, 1, 3, 6, 9, 9, 9, 9]
    for seed_points in points:
        np.testing.assert_allclose(
            seed_points, np.column_stack([CONVEX, TIMES])[reached], rtol=RTOL[dtype]
        )
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume"), 378.0, rtol=RTOL[dtype]
    )
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume_ratio"), 378 / 401.8, rtol=RTOL[dtype]
    )
    np.testing.assert_array_equal(last_values(store, row["id"], "front_points_found"), 5)
    # Early on, before exploration reaches the deep treasures, fewer points are found.
    found = store.series(row["id"], "front_points_found")
    assert all(values[0] < 5 for _, values in found.values())


def test_a_fine_preference_grid_reaches_every_vertex_but_not_the_point_on_an_edge(tmp_path):
    # With 60 midpoints every interval between breaks holds a preference, so the nine vertices
    # of the convex hull are reached; (20.3, 14), on the edge from (19.6, 13) to (22.4, 17),
    # wins no weighted sum outright and is missed: hypervolume 401.8 - 0.7 * 3 = 399.7. In
    # float32, the default dtype, where an exact comparison with the front counted only 14.0.
    store, row, _ = run_dst(tmp_path, "convex", steps=600, seeds=2, dtype="float32", preferences=60)
    points, _ = final_front(store, row["id"])
    vertices = np.column_stack([CONVEX, TIMES])[[0, 1, 2, 3, 4, 5, 6, 8, 9]]
    for seed_points in points:
        distinct = np.unique(seed_points, axis=0)
        np.testing.assert_allclose(
            distinct[np.argsort(distinct[:, 1])], vertices, rtol=RTOL["float32"]
        )
    np.testing.assert_array_equal(last_values(store, row["id"], "front_points_found"), 9)
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume"), 399.7, rtol=RTOL["float32"]
    )
    np.testing.assert_allclose(
        last_values(store, row["id"], "hypervolume_ratio"), 399.7 / 401.8, rtol=RTOL["float32"]
    )


def test_preference_driven_score_by_hand():
    # Projected preferences on the concave map: the key solutions are (1, 1) for w = (0, 1) and
    # (124, 19) for (1/2, 1/2) and (1, 0); shifted by 19 in time their directions are
    # (1, 18) / sqrt(325) and (1, 0). At w_treasure = 0.25 the interpolant is halfway between.
    problem = DeepSeaTreasure(
        {"treasure_map": "concave", "horizon": 50}, 1, torch.device("cpu"), torch.float64, 0
    )
    algorithm = PreferenceDrivenQLearning(
        {
            "preferences": 4,
            "action_score": "preference_driven",
            "lr": 1.0,
            "discount": 1.0,
            "epsilon_end": 0.1,
            "exploration": 0.5,
        },
        problem,
        1,
        torch.device("cpu"),
        torch.float64,
        0,
    )
    treasure_weight = torch.tensor([0.0, 0.25, 0.75, 0.95], dtype=torch.float64)
    projected = algorithm.projected_preferences(treasure_weight).numpy()
    low = np.array([1.0, 18.0]) / np.sqrt(325.0)
    np.testing.assert_allclose(projected, [low, (low + [1, 0]) / 2, [1, 0], [1, 0]], atol=1e-12)

    weights = torch.stack([treasure_weight, 1 - treasure_weight], dim=1)
    shift = torch.tensor([0.0, 19.0], dtype=torch.float64)
    q = torch.tensor(
        [[50.0, -14.0], [50.0, -14.0], [124.0, -19.0], [124.0, -19.0]], dtype=torch.float64
    )
    scores = algorithm.score(q, weights, torch.tensor(projected), shift).numpy()
    # Row 1, w = (0.25, 0.75), q = (50, -14): w^T q = 12.5 - 10.5 = 2, shifted q = (50, 5).
    cosine = projected[1] @ [50, 5] / np.linalg.norm(projected[1]) / np.hypot(50, 5)
    assert scores[1] == pytest.approx(2.0 * cosine, rel=1e-12)
    # Rows 2-3: (124, 0) is parallel to w_p, so the cosine 1 is clipped to 0.9999:
    # 0.9999 * (0.75 * 124 - 0.25 * 19) and 0.9999 * (0.95 * 124 - 0.05 * 19).
    assert scores[2] == pytest.approx(0.9999 * 88.25, rel=1e-12)
    assert scores[3] == pytest.approx(0.9999 * 116.85, rel=1e-12)
    # Row 0, w = (0, 1), q = (50, -14): cosine of (50, 5) with (1, 18) is positive, product negative.
    assert scores[0] == pytest.approx(-14 * (low @ [50, 5]) / np.hypot(50, 5), rel=1e-12)
    # A Q-vector pointing away from w_p (negative cosine) scores 0, not a positive product.
    away = algorithm.score(
        torch.tensor([[0.0, -40.0]], dtype=torch.float64),
        weights[1:2],
        torch.tensor(projected[1:2]),
        shift,
    )
    assert away.item() == 0.0
