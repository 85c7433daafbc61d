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
CONVEX = [1, 19, 27, 31.7, 33.2, 34.1, 36.9, 37.3, 38.0, 38.2]


def run_dst(tmp_path, treasure_map, steps, seeds=3, **algorithm):
    return run_spec(tmp_path, {"id": "pareto.pd_morl", "action_score": "linear", **algorithm},
                    {"id": "pareto.deep_sea_treasure", "treasure_map": treasure_map}, steps=steps, seeds=seeds)


def test_linear_scalarisation_misses_the_concave_points(tmp_path):
    # Concave map (Vamplew et al. 2011): w v - (1 - w) t is maximised by (1, 1) for
    # w < 18 / 141 = 0.128 and by (124, 19) above, so of the midpoints w = 0.05, 0.15, ..., 0.95
    # the first reaches (1, 1) and the other nine (124, 19). The eight concave points are never
    # reached; the hypervolume is that of the two hull points, 1 * 18 + 124 * 6 = 762, which is
    # 762 / 1155 = 0.6597 of the exact front's.
    store, row, _ = run_dst(tmp_path, "concave", steps=1500)
    doc = recorded_objectives(row)
    assert doc["names"] == ["treasure", "time"] and doc["directions"] == ["max", "min"]
    assert doc["reference_point"] == [0.0, 25.0]
    points, labels = final_front(store, row["id"])
    assert [lab["weight_treasure"] for lab in labels] == pytest.approx((np.arange(10) + 0.5) / 10)
    expected = np.array([[1, 1]] + [[124, 19]] * 9, dtype=float)
    for seed_points in points:
        np.testing.assert_array_equal(seed_points, expected)
    concave_points = {(v, t) for v, t in zip([2, 3, 5, 8, 16, 24, 50, 74], TIMES[1:9])}
    assert not concave_points & {tuple(p) for p in points.reshape(-1, 2).tolist()}
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume"), 762.0)
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume_ratio"), 762 / 1155, rtol=1e-12)
    np.testing.assert_array_equal(last_values(store, row["id"], "front_points_found"), 2)


def test_linear_scalarisation_finds_every_point_of_the_convex_front(tmp_path):
    # Convex map: point i wins the weighted sum exactly for w in (1 / (1 + slope_{i-1}),
    # 1 / (1 + slope_i)), and the midpoint w = (i + 0.5) / 10 lies in that interval, so
    # preference i reaches treasure i in its shortest time: the whole front, hypervolume
    # 749.3 and ratio 1.
    store, row, _ = run_dst(tmp_path, "convex", steps=2000)
    points, _ = final_front(store, row["id"])
    for seed_points in points:
        np.testing.assert_allclose(seed_points, np.column_stack([CONVEX, TIMES]), rtol=1e-12)
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume"), 749.3, rtol=1e-12)
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume_ratio"), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(last_values(store, row["id"], "front_points_found"), 10)
    # Early on, before exploration reaches the deep treasures, the front is incomplete.
    found = store.series(row["id"], "front_points_found")
    assert all(values[0] < 10 for _, values in found.values())


def test_preference_driven_score_by_hand():
    # Projected preferences on the concave map: the key solutions are (1, 1) for w = (0, 1) and
    # (124, 19) for (1/2, 1/2) and (1, 0); shifted by 19 in time their directions are
    # (1, 18) / sqrt(325) and (1, 0). At w_treasure = 0.25 the interpolant is halfway between.
    problem = DeepSeaTreasure({"treasure_map": "concave", "horizon": 50}, 1, torch.device("cpu"), torch.float64, 0)
    algorithm = PreferenceDrivenQLearning(
        {"preferences": 4, "action_score": "preference_driven", "lr": 1.0, "discount": 1.0,
         "epsilon_end": 0.1, "exploration": 0.5}, problem, 1, torch.device("cpu"), torch.float64, 0)
    treasure_weight = torch.tensor([0.0, 0.25, 0.75, 0.95], dtype=torch.float64)
    projected = algorithm.projected_preferences(treasure_weight).numpy()
    low = np.array([1.0, 18.0]) / np.sqrt(325.0)
    np.testing.assert_allclose(projected, [low, (low + [1, 0]) / 2, [1, 0], [1, 0]], atol=1e-12)

    weights = torch.stack([treasure_weight, 1 - treasure_weight], dim=1)
    shift = torch.tensor([0.0, 19.0], dtype=torch.float64)
    q = torch.tensor([[50.0, -14.0], [50.0, -14.0], [124.0, -19.0], [124.0, -19.0]], dtype=torch.float64)
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
    away = algorithm.score(torch.tensor([[0.0, -40.0]], dtype=torch.float64), weights[1:2],
                           torch.tensor(projected[1:2]), shift)
    assert away.item() == 0.0
