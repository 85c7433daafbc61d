"""Linear scalarisation on two-task regression, checked against closed forms.

Every run goes through the real runner into a temporary store; the reference values are
recomputed here in numpy from the problem's data, not taken from the engine's own solver.
"""

import json
import math

import numpy as np
import pytest
import torch

from engine import registry
from engine.labs.pareto.linear_scalarisation import PARETO_SNAPSHOTS
from engine.labs.pareto.problems import ThreeTaskRegression, TwoTaskRegression
from engine.labs.pareto.true_front import DEFAULT_DIVISIONS, sampled_front_hypervolume
from engine.metrics import hypervolume, non_dominated_mask
from engine.runner import execute
from engine.spec import RunSpec
from engine.store import Store

SEED = 7


def run_scalarisation(tmp_path, steps=500, seeds=3, problem=None, algorithm=None):
    """Run linear scalarisation in float64; return (store, run row, problem rebuilt from the same seed)."""
    data = {
        "run": {"steps": steps, "seeds": seeds, "seed": SEED},
        "algorithm": {"id": "pareto.linear_scalarisation", **(algorithm or {})},
        "problem": {"id": "pareto.two_task_regression", **(problem or {})},
        "hardware": {"device": "cpu", "dtype": "float64"},
    }
    spec = RunSpec.from_dict(data, registry.Catalogue.live())
    store = Store(tmp_path / f"s{len(list(tmp_path.iterdir()))}.db")
    run_id, status = execute(spec, store, "cpu")
    row = store.get_run(run_id)
    assert status == "finished", row["error"]
    rebuilt = TwoTaskRegression(
        spec.problem_params, seeds, torch.device("cpu"), torch.float64, SEED
    )
    return store, row, rebuilt


def points_by_step(store, run_id):
    """step -> (points [seeds, P, 2], task-1 weights [P]) from the stored Pareto rows."""
    rows, _ = store.pareto_since(run_id, 0)
    out = {}
    for step in sorted({r["step"] for r in rows}):
        at = sorted((r for r in rows if r["step"] == step), key=lambda r: r["point"])
        seeds = max(r["seed"] for r in at) + 1
        points = np.array([r["objectives"] for r in at]).reshape(seeds, -1, 2)
        weights = np.array([r["label"]["weight_task1"] for r in at[: points.shape[1]]])
        out[step] = (points, weights)
    return out


def recorded_objectives(row):
    """The run's declared objectives: two minimised task losses and a finite reference point."""
    doc = json.loads(row["objectives_json"])
    assert doc["names"] == ["task1_loss", "task2_loss"] and doc["directions"] == ["min", "min"]
    assert all(math.isfinite(v) for v in doc["reference_point"])
    return doc


def closed_form_losses(problem, weights):
    """(L1, L2) of theta_w = (X^T X)^{-1} X^T (w y1 + (1 - w) y2), solved in numpy; [seeds, P, 2]."""
    X = problem.design.numpy()
    y = problem.targets.numpy()
    out = np.empty((X.shape[0], len(weights), 2))
    for s in range(X.shape[0]):
        for p, w in enumerate(weights):
            theta = np.linalg.solve(X[s].T @ X[s], X[s].T @ (w * y[s, 0] + (1 - w) * y[s, 1]))
            out[s, p] = ((X[s] @ theta - y[s]) ** 2).mean(axis=1)
    return out


def test_task_similarity_is_the_cosine_between_true_weight_vectors():
    # The problem's definition: unit-norm a1, a2 with cos(a1, a2) = task_similarity exactly.
    for similarity in (-1.0, -0.6, 0.0, 0.35, 0.9, 1.0):
        params = {"n_samples": 50, "n_features": 4, "task_similarity": similarity, "noise": 0.0}
        problem = TwoTaskRegression(params, 6, torch.device("cpu"), torch.float64, SEED)
        a = problem.true_weights.numpy()
        np.testing.assert_allclose(np.linalg.norm(a, axis=2), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.sum(a[:, 0] * a[:, 1], axis=1), similarity, atol=1e-12)
        # Noise 0: the targets are exactly X a_k.
        expected = np.einsum("snd,skd->skn", problem.design.numpy(), a)
        np.testing.assert_allclose(problem.targets.numpy(), expected, atol=1e-12)


def test_gradient_descent_reaches_the_closed_form_scalarised_optima(tmp_path):
    # Each L_w is a strongly convex quadratic (Hessian 2 X^T X / n); gradient descent with
    # lr = 0.05 contracts the error by about 1 - 0.05 * 2 * lambda_min ~ 0.93 a step, so
    # after 500 steps every preference's point is its least-squares optimum's losses.
    store, row, problem = run_scalarisation(tmp_path, steps=500)
    fronts = points_by_step(store, row["id"])
    points, weights = fronts[500]
    np.testing.assert_allclose(weights, np.linspace(0.0, 1.0, 11), atol=1e-15)
    np.testing.assert_allclose(points, closed_form_losses(problem, weights), rtol=0, atol=1e-6)
    # The first snapshot is far from the optimum, so the check above is a real convergence check.
    first_points, _ = fronts[min(fronts)]
    assert np.abs(first_points - closed_form_losses(problem, weights)).max() > 1e-2


def test_final_points_are_non_dominated_and_trade_task1_for_task2(tmp_path):
    # A minimiser of w L1 + (1 - w) L2 with 0 < w < 1 is Pareto optimal: a point that
    # dominated it would have a smaller weighted sum. At w = 0 or 1 the minimiser is unique
    # (X^T X is invertible), which also makes it Pareto optimal.
    # Monotonicity, by hand: for w < w' let dL_k = L_k(theta_w) - L_k(theta_w'). Optimality
    # of theta_w for w gives w dL1 + (1 - w) dL2 <= 0 and of theta_w' for w' gives
    # w' dL1 + (1 - w') dL2 >= 0; subtracting, (w' - w)(dL1 - dL2) >= 0, so dL1 >= dL2, and
    # with the first inequality dL2 <= 0 <= dL1: L1 falls and L2 rises as w grows, strictly
    # here because distinct preferences have distinct optima when the tasks differ.
    store, row, _ = run_scalarisation(tmp_path, steps=500, problem={"task_similarity": 0.2})
    points, weights = points_by_step(store, row["id"])[500]
    assert np.all(np.diff(weights) > 0)
    for seed_points in points:
        assert non_dominated_mask(seed_points).all()
        assert np.all(np.diff(seed_points[:, 0]) < 0)
        assert np.all(np.diff(seed_points[:, 1]) > 0)


def test_recorded_hypervolume_is_the_hypervolume_of_the_recorded_points(tmp_path):
    store, row, _ = run_scalarisation(tmp_path, steps=500)
    reference_point = recorded_objectives(row)["reference_point"]
    recorded = store.series(row["id"], "hypervolume")
    fronts = points_by_step(store, row["id"])
    assert 10 <= len(fronts) <= PARETO_SNAPSHOTS + 1 and max(fronts) == 500
    for step, (points, _) in fronts.items():
        for seed, seed_points in enumerate(points):
            steps, values = recorded[seed]
            at = np.searchsorted(steps, step)
            assert steps[at] == step
            assert values[at] == pytest.approx(hypervolume(seed_points, reference_point), rel=1e-12)
    # The hypervolume grows as the models converge towards the front.
    for seed in recorded:
        assert recorded[seed][1][-1] > recorded[seed][1][0]


def test_identical_noiseless_tasks_collapse_the_front_to_one_point(tmp_path):
    # task_similarity = 1 and noise = 0: y1 = y2 = X a, so every preference has the same
    # optimum theta = a with losses (0, 0); the front is one point p and its hypervolume is
    # the box (r1 - p1) * (r2 - p2).
    store, row, problem = run_scalarisation(
        tmp_path, steps=500, problem={"task_similarity": 1.0, "noise": 0.0}
    )
    reference_point = recorded_objectives(row)["reference_point"]
    points, _ = points_by_step(store, row["id"])[500]
    np.testing.assert_allclose(points, 0.0, atol=1e-12)
    _, values = store.series(row["id"], "hypervolume")[0]
    box = (reference_point[0] - points[0, 0, 0]) * (reference_point[1] - points[0, 0, 1])
    assert values[-1] == pytest.approx(box, rel=1e-12)
    # The reference point is 1.1 x the worst task loss among the zero model and the two
    # single-task optima; here the optima have loss 0, so it is 1.1 x max_seeds mean(y^2).
    zero_model = (problem.targets.numpy() ** 2).mean(axis=2).max(axis=0)
    np.testing.assert_allclose(reference_point, 1.1 * zero_model, rtol=1e-12)


def test_every_scalarised_optimum_dominates_the_reference_point():
    # Opposed tasks (cosine -1) are the case where the zero model's loss is no bound: the
    # task-2 optimum is about -a1, whose task-1 loss is about 4 |a1|^2, four times the zero
    # model's. The reference point uses the single-task optima, so it still bounds the front.
    params = {"n_samples": 40, "n_features": 3, "task_similarity": -1.0, "noise": 0.1}
    problem = TwoTaskRegression(params, 5, torch.device("cpu"), torch.float64, SEED)
    weights = np.linspace(0.0, 1.0, 101)
    losses = closed_form_losses(problem, weights)
    reference_point = np.array(problem.reference_point())
    assert np.all(losses < reference_point)
    zero_model = (problem.targets.numpy() ** 2).mean(axis=2)
    assert np.all(losses[:, 0, 0] > 3 * zero_model[:, 0])
    # The engine's own batched solver agrees with numpy's.
    optima = problem.scalarised_optimum(torch.tensor(weights, dtype=torch.float64))
    np.testing.assert_allclose(problem.task_losses(optima).numpy(), losses, rtol=1e-10, atol=1e-12)


def test_three_tasks_reach_the_closed_form_front_on_the_triangular_grid(tmp_path):
    # P = 5: the 15 preferences (i, j, k) / 4; each model converges to theta_w, whose losses
    # are c_k + (w - e_k)^T M (w - e_k), recomputed here from a direct weighted least-squares solve.
    data = {
        "run": {"steps": 600, "seeds": 2, "seed": SEED},
        "algorithm": {"id": "pareto.linear_scalarisation", "preferences": 5},
        "problem": {"id": "pareto.three_task_regression", "task_similarity": -0.3},
        "hardware": {"device": "cpu", "dtype": "float64"},
    }
    spec = RunSpec.from_dict(data, registry.Catalogue.live())
    store = Store(tmp_path / "three.db")
    run_id, status = execute(spec, store, "cpu")
    assert status == "finished"
    doc = json.loads(store.get_run(run_id)["objectives_json"])
    assert (
        doc["names"] == ["task1_loss", "task2_loss", "task3_loss"]
        and doc["directions"] == ["min"] * 3
    )
    rows, _ = store.pareto_since(run_id, 0)
    last = sorted((r for r in rows if r["step"] == 600), key=lambda r: (r["seed"], r["point"]))
    points = np.array([r["objectives"] for r in last]).reshape(2, 15, 3)
    weights = np.array([[r["label"][f"weight_task{k}"] for k in (1, 2, 3)] for r in last[:15]])
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-15)
    assert sorted(map(tuple, np.rint(weights * 4).astype(int).tolist())) == sorted(
        (i, j, 4 - i - j) for i in range(5) for j in range(5 - i)
    )
    problem = ThreeTaskRegression(spec.problem_params, 2, torch.device("cpu"), torch.float64, SEED)
    X, y = problem.design.numpy(), problem.targets.numpy()
    for s in range(2):
        for p, w in enumerate(weights):
            theta = np.linalg.solve(X[s].T @ X[s], X[s].T @ (w @ y[s]))
            np.testing.assert_allclose(
                points[s, p], ((X[s] @ theta - y[s]) ** 2).mean(axis=1), atol=1e-6
            )


def test_hypervolume_ratio_is_the_grids_share_of_the_true_front(tmp_path):
    # At convergence the P = 21 points are exactly the true front sampled at w = p / 20, so the
    # recorded ratio is HV(samples at 20 divisions) / (upper bound of HV*), both from the closed
    # form; it stays below 1 throughout training, since no point can beat the front.
    store, row, problem = run_scalarisation(tmp_path, steps=500, algorithm={"preferences": 21})
    reference_point = recorded_objectives(row)["reference_point"]
    lower_21, _ = sampled_front_hypervolume(problem, reference_point, 20)
    _, upper = sampled_front_hypervolume(problem, reference_point, DEFAULT_DIVISIONS[2])
    ratios = store.series(row["id"], "hypervolume_ratio")
    for seed, (_, values) in ratios.items():
        assert values[-1] == pytest.approx(lower_21[seed] / upper[seed], rel=1e-6)
        assert np.all(values <= 1.0)
        assert values[-1] > values[0]
