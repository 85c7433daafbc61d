"""IBCL on the regression problems: the exact conjugate update, the knowledge base's vertices,
zero-shot generation, the highest-density box, and the front against the true one.

References are recomputed in numpy from the problem's data (closed-form Bayesian linear
regression) or by hand.
"""

import numpy as np
import pytest
import torch

from engine.labs.pareto.ibcl import (
    ImpreciseBayesianContinualLearning,
    conjugate_update,
    diagonal_std,
    highest_density_box,
)
from engine.labs.pareto.problems import ThreeTaskRegression, TwoTaskRegression
from engine.labs.pareto.recording import preference_grid
from engine.metrics import hypervolume
from engine.params import ParamError
from tests.labs.pareto.pareto_runs import final_front, last_values, recorded_objectives, run_spec

CPU = torch.device("cpu")


def build(problem_cls, seeds=2, seed=3, **algorithm):
    problem = problem_cls(
        {p.name: p.default for p in problem_cls.params}, seeds, CPU, torch.float64, seed
    )
    params = {**{p.name: p.default for p in ImpreciseBayesianContinualLearning.params}, **algorithm}
    return problem, ImpreciseBayesianContinualLearning(
        params, problem, seeds, CPU, torch.float64, seed
    )


def learned(algorithm):
    base = algorithm.knowledge_base()
    for task in range(algorithm.problem.tasks):
        algorithm.learn(base, task)
    return base


def posterior_mean(X, y, prior_std, noise_std):
    """Textbook posterior mean of Bayesian linear regression, prior N(0, s^2 I):
    (I / s^2 + X^T X / sigma^2)^-1 X^T y / sigma^2."""
    d = X.shape[1]
    return np.linalg.solve(
        np.eye(d) / prior_std**2 + X.T @ X / noise_std**2, X.T @ y / noise_std**2
    )


def test_conjugate_update_by_hand_in_one_dimension():
    # Prior N(0, 1), one observation x = 2, y = 3, sigma = 1: precision 1 + 2^2 = 5, mean
    # (0 + 2 * 3) / 5 = 1.2, posterior variance 1 / 5.
    mean, precision = conjugate_update(
        torch.zeros(1, dtype=torch.float64),
        torch.eye(1, dtype=torch.float64),
        torch.tensor([[4.0]], dtype=torch.float64),
        torch.tensor([6.0], dtype=torch.float64),
        1.0,
    )
    assert mean.item() == pytest.approx(1.2, rel=1e-15) and precision.item() == 5.0
    assert diagonal_std(precision).item() == pytest.approx(np.sqrt(0.2), rel=1e-15)


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_conjugate_update_matches_the_closed_form_and_is_sequentially_consistent():
    # Closed form with a non-zero, correlated prior: Lambda = Lambda_0 + X^T X / sigma^2,
    # mu = Lambda^-1 (Lambda_0 mu_0 + X^T y / sigma^2). Conjugacy: updating on D_1 then on D_2
    # gives the same posterior as one update on D_1 and D_2 pooled.
    rng = np.random.default_rng(0)
    X1, X2 = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    y1, y2 = rng.normal(size=7), rng.normal(size=5)
    mu0 = np.array([0.3, -0.2, 1.0])
    A = rng.normal(size=(3, 3))
    lam0 = A @ A.T + np.eye(3)
    sigma = 0.7
    mean, precision = conjugate_update(t(mu0), t(lam0), t(X1.T @ X1), t(X1.T @ y1), sigma)
    lam = lam0 + X1.T @ X1 / sigma**2
    np.testing.assert_allclose(precision.numpy(), lam, rtol=1e-14)
    np.testing.assert_allclose(
        mean.numpy(), np.linalg.solve(lam, lam0 @ mu0 + X1.T @ y1 / sigma**2), rtol=1e-12
    )
    twice = conjugate_update(mean, precision, t(X2.T @ X2), t(X2.T @ y2), sigma)
    X, y = np.vstack([X1, X2]), np.concatenate([y1, y2])
    pooled = conjugate_update(t(mu0), t(lam0), t(X.T @ X), t(X.T @ y), sigma)
    np.testing.assert_allclose(twice[0].numpy(), pooled[0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(twice[1].numpy(), pooled[1].numpy(), rtol=1e-12)


def test_highest_density_box_by_hand():
    # Phi^-1(0.975) = 1.959963985 (alpha = 0.05) and Phi^-1(0.95) = 1.644853627 (alpha = 0.1).
    mean, std = (
        torch.tensor([1.0, -2.0], dtype=torch.float64),
        torch.tensor([0.5, 2.0], dtype=torch.float64),
    )
    lower, upper = highest_density_box(mean, std, 0.05)
    np.testing.assert_allclose(
        lower.numpy(), [1 - 0.5 * 1.959963985, -2 - 2 * 1.959963985], rtol=1e-7
    )
    np.testing.assert_allclose(
        upper.numpy(), [1 + 0.5 * 1.959963985, -2 + 2 * 1.959963985], rtol=1e-7
    )
    lower, _ = highest_density_box(mean, std, 0.1)
    assert lower[0].item() == pytest.approx(1 - 0.5 * 1.644853627, rel=1e-7)


@pytest.mark.parametrize("problem_cls", [TwoTaskRegression, ThreeTaskRegression])
def test_a_vertex_preference_reproduces_that_tasks_posterior(problem_cls):
    # Without the chain every task starts from the priors N(0, s_j^2 I); the model at vertex
    # e_k is the mean over the m extremes of task k's posterior means (beta_kj = 1 / m), and
    # with one prior it is task k's posterior mean itself, to rounding.
    for stds in ([1.5], [0.5, 1.0, 2.0]):
        problem, algorithm = build(
            problem_cls, prior_chain="initial_prior", prior_stds=stds, noise_std=0.3
        )
        base = learned(algorithm)
        K = problem.tasks
        models, _, _ = algorithm.preference_models(base, torch.eye(K, dtype=torch.float64))
        X, y = problem.design.numpy(), problem.targets.numpy()
        for s in range(2):
            for k in range(K):
                expected = np.mean([posterior_mean(X[s], y[s, k], v, 0.3) for v in stds], axis=0)
                np.testing.assert_allclose(models[s, k].numpy(), expected, rtol=1e-10, atol=1e-13)


def test_with_the_chain_a_vertex_is_the_posterior_given_all_tasks_so_far():
    # The paper's continual update: the prior of task k + 1 is the posterior of task k, so
    # vertex e_2 is the posterior given tasks 1 and 2 pooled (conjugacy), vertex e_1 given task 1.
    problem, algorithm = build(TwoTaskRegression, prior_stds=[1.0], noise_std=0.2)
    models, _, _ = algorithm.preference_models(
        learned(algorithm), torch.eye(2, dtype=torch.float64)
    )
    X, y = problem.design.numpy(), problem.targets.numpy()
    for s in range(2):
        np.testing.assert_allclose(
            models[s, 0].numpy(), posterior_mean(X[s], y[s, 0], 1.0, 0.2), rtol=1e-10
        )
        pooled = posterior_mean(
            np.vstack([X[s], X[s]]), np.concatenate([y[s, 0], y[s, 1]]), 1.0, 0.2
        )
        np.testing.assert_allclose(models[s, 1].numpy(), pooled, rtol=1e-10)


def test_models_for_new_preferences_are_zero_shot():
    # The paper's zero-shot claim: after the knowledge base is built (m updates per task),
    # generating models for any number of new preferences makes no further update; each is
    # the beta-weighted combination mu_w = sum_k w_k mu(e_k) of the vertex models.
    _, algorithm = build(ThreeTaskRegression)
    base = learned(algorithm)
    assert base.posterior_updates == 3 * 3
    vertices, _, _ = algorithm.preference_models(base, torch.eye(3, dtype=torch.float64))
    fresh = torch.distributions.Dirichlet(torch.ones(3, dtype=torch.float64)).sample((50,))
    models, lower, upper = algorithm.preference_models(base, fresh)
    assert base.posterior_updates == 9
    np.testing.assert_allclose(
        models.numpy(), torch.einsum("pk,skd->spd", fresh, vertices).numpy(), rtol=1e-12
    )
    assert bool((lower < models).all() and (models < upper).all())


def test_discarded_posteriors_are_stood_in_for_by_the_nearest_stored_one():
    # d = 1e6 exceeds every distance, so the first posterior stored (task 1, prior s_1 = 0.5)
    # stands in for all the others, those of task 1's other priors included (they are
    # compared with the buffer as it grows): both vertices give task 1's posterior mean under
    # N(0, 0.5^2 I). d = 0 stores all K m = 6.
    problem, algorithm = build(
        TwoTaskRegression, prior_chain="initial_prior", discard_threshold=1e6
    )
    base = learned(algorithm)
    np.testing.assert_array_equal(base.size.numpy(), [1, 1])
    models, _, _ = algorithm.preference_models(base, torch.eye(2, dtype=torch.float64))
    X, y = problem.design.numpy(), problem.targets.numpy()
    for s in range(2):
        expected = posterior_mean(X[s], y[s, 0], 0.5, 0.1)
        np.testing.assert_allclose(models[s, 0].numpy(), expected, rtol=1e-10)
        np.testing.assert_allclose(models[s, 1].numpy(), expected, rtol=1e-10)
    _, algorithm = build(TwoTaskRegression, prior_chain="initial_prior")
    np.testing.assert_array_equal(learned(algorithm).size.numpy(), [6, 6])


def test_zero_shot_front_against_the_true_front(tmp_path):
    # Without the chain, vertex k is task k's own posterior; with a vague prior (s >= 0.5
    # against a likelihood precision n / sigma^2 = 2e4) the model for w is theta_w up to
    # shrinkage (relative 1 / s^2 against n lambda_min(G) / sigma^2, about 1e-4 here), so every
    # point lies on the true front: the closed-form front losses within 2e-3, scalarised suboptimality below 1e-6, every box contains theta_w (the paper's
    # guarantee), and 11 points cover > 0.95 of the front's hypervolume (measured 0.965-0.979
    # on these 5 seeds). After task 1 alone the ratio is lower: task 2 is still at its prior.
    store, row, spec = run_spec(
        tmp_path,
        {"id": "pareto.ibcl", "prior_chain": "initial_prior"},
        {"id": "pareto.two_task_regression"},
        steps=2,
        seeds=5,
    )
    problem = TwoTaskRegression(spec.problem_params, 5, CPU, torch.float64, spec.seed)
    points, labels = final_front(store, row["id"])
    grid, expected_labels = preference_grid(2, 11)
    assert labels == expected_labels
    np.testing.assert_allclose(points, problem.front_losses(grid), rtol=2e-3)
    objectives = recorded_objectives(row)
    ratio = last_values(store, row["id"], "hypervolume_ratio")
    true_volume = problem.true_front_hypervolume(objectives["reference_point"])
    np.testing.assert_allclose(
        ratio,
        [hypervolume(p, objectives["reference_point"]) for p in points] / true_volume,
        rtol=1e-12,
    )
    assert ratio.min() > 0.95, ratio
    assert last_values(store, row["id"], "scalarised_suboptimality").max() < 1e-6
    np.testing.assert_array_equal(last_values(store, row["id"], "hdr_coverage"), 1.0)
    np.testing.assert_array_equal(last_values(store, row["id"], "posterior_updates"), 6.0)
    first = np.array(
        [
            values[0]
            for _, (_, values) in sorted(store.series(row["id"], "hypervolume_ratio").items())
        ]
    )
    assert (first < ratio).all(), (first, ratio)


def test_the_papers_chain_covers_part_of_the_three_task_front(tmp_path):
    # The paper's chain on three tasks with one design: vertex k is about the joint optimum of
    # tasks 1..k, so the models cover the sub-triangle e_1, (e_1 + e_2) / 2, (e_1 + e_2 + e_3) / 3
    # of the front. Measured on these seeds: ratio 0.69-0.71 (independent posteriors: 0.94-0.96),
    # and only the preference e_1 has theta_w in its box (coverage 1 / 66 at P = 11).
    store, row, _ = run_spec(
        tmp_path, {"id": "pareto.ibcl"}, {"id": "pareto.three_task_regression"}, steps=3, seeds=5
    )
    ratio = last_values(store, row["id"], "hypervolume_ratio")
    assert (ratio > 0.65).all() and (ratio < 0.8).all(), ratio
    np.testing.assert_allclose(last_values(store, row["id"], "hdr_coverage"), 1 / 66)
    independent, row2, _ = run_spec(
        tmp_path,
        {"id": "pareto.ibcl", "prior_chain": "initial_prior"},
        {"id": "pareto.three_task_regression"},
        steps=3,
        seeds=5,
    )
    assert (last_values(independent, row2["id"], "hypervolume_ratio") > 0.93).all()


def test_repeated_prior_stds_are_refused():
    with pytest.raises(ParamError, match=r"algorithm.prior_stds: lists a standard deviation twice"):
        build(TwoTaskRegression, prior_stds=[1.0, 1.0])
