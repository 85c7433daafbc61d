"""Pareto Low-Rank Adapters on the regression problems: the preference schedule by hand,
the LoRA start, convergence to the closed-form front, and the metric of the division of
labour (the shared model's excess loss) by hand."""

import numpy as np
import pytest
import torch

from engine.labs.pareto.palora import ParetoLowRankAdapters, annealed_rays
from engine.labs.pareto.problems import ThreeTaskRegression, TwoTaskRegression
from tests.labs.pareto.pareto_runs import final_front, last_values, run_spec


def test_annealed_rays_by_hand():
    # Base rays for two tasks: x = (0.01, 0.5, 0.99). At progress 0 every ray is x^0 = 1,
    # normalised to (1/2, 1/2); at progress 0.2 with power 5 the exponent is 1, the base rays
    # themselves; at the end (exponent 5) the first ray is (0.01^5, 0.99^5) / (0.01^5 + 0.99^5).
    start = annealed_rays(2, 3, 0.01, 5.0, 0.0).numpy()
    np.testing.assert_allclose(start, 0.5, atol=1e-15)
    np.testing.assert_allclose(
        annealed_rays(2, 3, 0.01, 5.0, 0.2).numpy(),
        [[0.01, 0.99], [0.5, 0.5], [0.99, 0.01]],
        atol=1e-15,
    )
    end = annealed_rays(2, 3, 0.01, 5.0, 1.0).numpy()
    first = 0.01**5 / (0.01**5 + 0.99**5)
    np.testing.assert_allclose(
        end, [[first, 1 - first], [0.5, 0.5], [1 - first, first]], rtol=1e-12
    )
    # Three tasks: the simplex grid with R - 1 = 2 divisions; vertices stay vertices once the
    # exponent is positive (0^p = 0), the edge midpoints stay (1/2, 1/2, 0).
    three = annealed_rays(3, 3, 0.01, 5.0, 0.5).numpy()
    assert three.shape == (6, 3)
    np.testing.assert_allclose(annealed_rays(3, 3, 0.01, 5.0, 0.0).numpy(), 1 / 3, atol=1e-15)
    assert sorted(map(tuple, three.round(12).tolist())) == sorted(
        [(0, 0, 1), (0, 0.5, 0.5), (0, 1, 0), (0.5, 0, 0.5), (0.5, 0.5, 0), (1, 0, 0)]
    )


def test_training_starts_from_the_shared_model_alone():
    # LoRA initialisation: B_k = 0, so W(lambda) = W for every preference before training, and A_k
    # and W are uniform in [-1/sqrt(d), 1/sqrt(d)].
    params = {
        "n_samples": 50,
        "n_features": 4,
        "task_similarity": 0.0,
        "noise": 0.1,
        "design": "gaussian",
    }
    problem = ThreeTaskRegression(params, 2, torch.device("cpu"), torch.float64, 0)
    algorithm = ParetoLowRankAdapters(
        {
            "preferences": 3,
            "sampler": "annealing",
            "rays": 3,
            "annealing_power": 5.0,
            "epsilon": 0.01,
            "lr": 0.1,
        },
        problem,
        2,
        torch.device("cpu"),
        torch.float64,
        0,
    )
    start = algorithm.initial_parameters(torch.Generator().manual_seed(0))
    weights = algorithm.model_weights(
        start, torch.tensor([[1.0, 0, 0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    )
    np.testing.assert_array_equal(
        weights.numpy(), np.broadcast_to(start["shared"].numpy()[:, None], (2, 2, 4))
    )
    assert torch.all(start["shared"].abs() <= 0.5) and torch.all(start["down"].abs() <= 0.5)


@pytest.mark.parametrize(
    "problem_id, cls, preferences",
    [
        ("pareto.two_task_regression", TwoTaskRegression, 11),
        ("pareto.three_task_regression", ThreeTaskRegression, 4),
    ],
)
def test_adapters_converge_to_the_closed_form_front(tmp_path, problem_id, cls, preferences):
    # W(lambda) = sum_k lambda_k (W + B_k A_k), so the optimum has W + B_k A_k = theta_k* and
    # W(lambda) = theta*_lambda: every grid point is the weighted least-squares optimum's losses.
    store, row, spec = run_spec(
        tmp_path,
        {"id": "pareto.palora", "preferences": preferences},
        {"id": problem_id, "task_similarity": -0.2},
        steps=400,
        seeds=2,
        record_every=10,
    )
    problem = cls(spec.problem_params, 2, torch.device("cpu"), torch.float64, spec.seed)
    points, labels = final_front(store, row["id"])
    weights = np.array([[lab[f"weight_task{k + 1}"] for k in range(cls.tasks)] for lab in labels])
    X, y = problem.design.numpy(), problem.targets.numpy()
    for s in range(2):
        for p, w in enumerate(weights):
            theta = np.linalg.solve(X[s].T @ X[s], X[s].T @ (w @ y[s]))
            np.testing.assert_allclose(
                points[s, p], ((X[s] @ theta - y[s]) ** 2).mean(axis=1), rtol=1e-7
            )


def test_both_preference_samplers_reach_the_same_monotone_front(tmp_path):
    # The optimum does not depend on how preferences are drawn, only on their spanning the
    # simplex: the deterministic schedule and Dirichlet rays end at the same front, along which
    # L_1 falls and L_2 rises as the task-1 weight grows (the monotone trade-off of the
    # preference-to-objective mapping).
    fronts, ratios = {}, {}
    for sampler in ("annealing", "dirichlet"):
        store, row, _ = run_spec(
            tmp_path,
            {"id": "pareto.palora", "sampler": sampler},
            {"id": "pareto.two_task_regression"},
            steps=300,
            seeds=5,
            seed=3,
            record_every=10,
        )
        fronts[sampler], _ = final_front(store, row["id"])
        ratios[sampler] = last_values(store, row["id"], "hypervolume_ratio")
        assert np.all(np.diff(fronts[sampler][..., 0], axis=1) < 0)
        assert np.all(np.diff(fronts[sampler][..., 1], axis=1) > 0)
    np.testing.assert_allclose(fronts["annealing"], fronts["dirichlet"], rtol=1e-3)
    np.testing.assert_allclose(ratios["annealing"], ratios["dirichlet"], rtol=1e-5)


def test_base_excess_loss_is_the_shared_models_uniform_loss_above_its_minimum():
    # base_excess_loss(W) = (1/K) sum_k ||X W - y_k||^2 / n - min_theta of the same: zero when
    # W is the uniform-preference least-squares solution, and for W = 0 the mean of the
    # targets' squares minus the minimum, both solved here with numpy.
    params = {
        "n_samples": 40,
        "n_features": 3,
        "task_similarity": 0.3,
        "noise": 0.1,
        "design": "gaussian",
    }
    problem = TwoTaskRegression(params, 2, torch.device("cpu"), torch.float64, 4)
    algorithm = ParetoLowRankAdapters(
        {
            "preferences": 3,
            "sampler": "annealing",
            "rays": 3,
            "annealing_power": 5.0,
            "epsilon": 0.01,
            "lr": 0.1,
        },
        problem,
        2,
        torch.device("cpu"),
        torch.float64,
        4,
    )
    X, y = problem.design.numpy(), problem.targets.numpy()
    for s in range(2):
        mean_target = y[s].mean(axis=0)
        theta = np.linalg.lstsq(X[s], mean_target, rcond=None)[0]
        minimum = np.mean([((X[s] @ theta - y[s, k]) ** 2).mean() for k in range(2)])
        solved = torch.tensor(np.stack([theta, theta]))
        at_optimum = algorithm.diagnostics({"shared": solved})["base_excess_loss"].numpy()
        at_zero = algorithm.diagnostics({"shared": torch.zeros(2, 3, dtype=torch.float64)})[
            "base_excess_loss"
        ].numpy()
        assert abs(at_optimum[s]) < 1e-10
        np.testing.assert_allclose(at_zero[s], (y[s] ** 2).mean() - minimum, rtol=1e-10)
