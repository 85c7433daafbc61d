"""The multi-task regression problems: construction, closed-form front, and the bracket
on the true front's hypervolume. References are recomputed here in numpy."""

import itertools

import numpy as np
import pytest
import torch

from engine.labs.pareto.problems import (
    ThreeTaskRegression,
    TwoTaskRegression,
    equicorrelated_cholesky,
)
from engine.labs.pareto.true_front import (
    grid_cells,
    hypervolume_gap,
    sampled_front_hypervolume,
    simplex_grid,
)
from engine.metrics import hypervolume
from engine.params import ParamError

SEED = 7
CPU = torch.device("cpu")


def build(cls, seeds=4, **params):
    full = {
        "n_samples": 60,
        "n_features": 5,
        "task_similarity": 0.0,
        "noise": 0.1,
        "design": "gaussian",
        **params,
    }
    return cls(full, seeds, CPU, torch.float64, SEED)


def weighted_least_squares_losses(problem, weights):
    """Losses of argmin sum_k w_k ||X theta - y_k||^2 / n, solved directly in numpy; [seeds, m, K]."""
    X, y = problem.design.numpy(), problem.targets.numpy()
    out = np.empty((X.shape[0], len(weights), y.shape[1]))
    for s, (p, w) in itertools.product(range(X.shape[0]), enumerate(weights)):
        theta = np.linalg.solve(X[s].T @ X[s], X[s].T @ (w @ y[s]))
        out[s, p] = ((X[s] @ theta - y[s]) ** 2).mean(axis=1)
    return out


@pytest.mark.parametrize("similarity", [-0.5, -0.2, 0.0, 0.4, 0.9, 1.0])
def test_three_task_weight_vectors_are_unit_and_pairwise_at_the_chosen_cosine(similarity):
    # Definition of the problem: unit a_k with cos(a_i, a_j) = task_similarity for every pair,
    # possible exactly for s >= -1/2; with noise 0 the targets are exactly X a_k.
    problem = build(ThreeTaskRegression, seeds=5, task_similarity=similarity, noise=0.0)
    a = problem.true_weights.numpy()
    np.testing.assert_allclose(np.linalg.norm(a, axis=2), 1.0, atol=1e-12)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        np.testing.assert_allclose(np.sum(a[:, i] * a[:, j], axis=1), similarity, atol=1e-12)
    np.testing.assert_allclose(
        problem.targets.numpy(), np.einsum("snd,skd->skn", problem.design.numpy(), a), atol=1e-12
    )


def test_equicorrelated_cholesky_by_hand():
    # Two tasks: a1 = e1, a2 = s e1 + sqrt(1 - s^2) e2 (the original construction, so two-task
    # data are unchanged). Three tasks at s = -1/2: three unit vectors 120 degrees apart in a
    # plane, L = [[1, 0, 0], [-1/2, sqrt(3)/2, 0], [-1/2, -sqrt(3)/2, 0]].
    np.testing.assert_allclose(equicorrelated_cholesky(2, 0.6), [[1, 0], [0.6, 0.8]], atol=1e-15)
    np.testing.assert_allclose(
        equicorrelated_cholesky(3, -0.5),
        [[1, 0, 0], [-0.5, 3**0.5 / 2, 0], [-0.5, -(3**0.5) / 2, 0]],
        atol=1e-12,
    )


def test_whitened_design_makes_every_loss_an_isotropic_quadratic():
    # X^T X / n = I exactly, so L_k(theta) = c_k + ||theta - theta_k*||^2.
    problem = build(ThreeTaskRegression, design="whitened")
    np.testing.assert_allclose(
        problem.gram.numpy(), np.broadcast_to(np.eye(5), (4, 5, 5)), atol=1e-12
    )
    theta = torch.randn(4, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    distance = ((theta.unsqueeze(2) - problem.single_task_optima.unsqueeze(1)) ** 2).sum(dim=3)
    np.testing.assert_allclose(
        problem.task_losses(theta).numpy(),
        (problem.irreducible_losses.unsqueeze(1) + distance).numpy(),
        rtol=1e-10,
    )


@pytest.mark.parametrize("cls", [TwoTaskRegression, ThreeTaskRegression])
def test_closed_form_front_is_the_weighted_least_squares_solution(cls):
    # The front is w -> L(theta_w) with theta_w = sum_k w_k theta_k*, and
    # L_k(theta_w) = c_k + (w - e_k)^T M (w - e_k): both checked against a direct weighted
    # least-squares solve of sum_k w_k ||X theta - y_k||^2 / n.
    problem = build(cls, task_similarity=0.3)
    weights = simplex_grid(cls.tasks, 6)
    reference = weighted_least_squares_losses(problem, weights)
    np.testing.assert_allclose(problem.front_losses(weights), reference, rtol=1e-10)
    optima = problem.scalarised_optimum(torch.tensor(weights))
    np.testing.assert_allclose(problem.task_losses(optima).numpy(), reference, rtol=1e-10)
    # Every front point strictly dominates the reference point (the nadir is at the vertices).
    assert np.all(reference < np.array(problem.reference_point()))


def test_isotropic_two_task_front_hypervolume_matches_its_integral():
    # Whitened design: L1 = c1 + w2^2 D^2, L2 = c2 + w1^2 D^2 with D = |theta_1* - theta_2*|,
    # i.e. sqrt(L1 - c1) + sqrt(L2 - c2) = D. With R_k = r_k - c_k >= D^2 the region the front
    # leaves undominated in the box is the integral of (D - sqrt(u))^2 over u in [0, D^2],
    # D^4 (1 - 4/3 + 1/2) = D^4 / 6, so HV* = R1 R2 - D^4 / 6.
    problem = build(TwoTaskRegression, seeds=5, design="whitened", noise=0.3)
    reference = np.array(problem.reference_point())
    optima = problem.single_task_optima.numpy()
    distance2 = ((optima[:, 0] - optima[:, 1]) ** 2).sum(axis=1)
    c = problem.irreducible_losses.numpy()
    box = reference[None, :] - c
    assert np.all(box >= distance2[:, None])
    exact = box[:, 0] * box[:, 1] - distance2**2 / 6
    lower, upper = sampled_front_hypervolume(problem, reference, 4000)
    assert np.all(lower <= exact) and np.all(exact <= upper)
    assert np.all((upper - lower) / exact < 1e-3)
    # The recorded denominator is the upper end of the bracket.
    np.testing.assert_allclose(problem.true_front_hypervolume(reference), upper, rtol=1e-15)


def test_three_task_cells_tile_the_simplex():
    # 200 divisions: 200^2 triangles of area (1/200)^2 * sqrt(3)/2 in the plane of the simplex,
    # summing to the simplex's area sqrt(3)/2; every cell's vertices are grid neighbours.
    grid, cells = simplex_grid(3, 200), grid_cells(3, 200)
    assert len(grid) == 201 * 202 // 2 and len(cells) == 200**2
    a, b, c = grid[cells[:, 0]], grid[cells[:, 1]], grid[cells[:, 2]]
    areas = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    np.testing.assert_allclose(areas, (1 / 200) ** 2 * 3**0.5 / 2, rtol=1e-9)
    assert areas.sum() == pytest.approx(3**0.5 / 2, rel=1e-12)
    assert np.allclose(np.abs(b - a).sum(axis=1), 2 / 200) and np.allclose(
        np.abs(c - a).sum(axis=1), 2 / 200
    )


@pytest.mark.parametrize("cls, bound", [(TwoTaskRegression, 1e-3), (ThreeTaskRegression, 1e-2)])
@pytest.mark.parametrize("similarity", [-0.5, 0.0, 0.6])
def test_true_front_bracket_is_narrow_and_nested(cls, bound, similarity):
    # The documented error bound for the default densities, and a consistency check: a finer
    # grid gives a bracket that overlaps the coarser one (both contain the true value).
    problem = build(cls, n_samples=200, task_similarity=similarity)
    reference = problem.reference_point()
    assert np.all(hypervolume_gap(problem, reference) < bound)
    coarse = sampled_front_hypervolume(problem, reference, 60 if cls.tasks == 3 else 400)
    fine = sampled_front_hypervolume(problem, reference, 120 if cls.tasks == 3 else 800)
    assert np.all(coarse[0] <= fine[1]) and np.all(fine[0] <= coarse[1])
    assert np.all(fine[1] - fine[0] < coarse[1] - coarse[0])


def test_identical_tasks_give_a_one_point_front_and_an_exact_box():
    # s = 1, noise = 0: every optimum is theta = a with losses 0, so the front is the origin
    # and both ends of the bracket equal the box r1 * r2 * r3.
    problem = build(ThreeTaskRegression, task_similarity=1.0, noise=0.0)
    reference = problem.reference_point()
    lower, upper = sampled_front_hypervolume(problem, reference, 20)
    np.testing.assert_allclose(lower, np.prod(reference), rtol=1e-12)
    np.testing.assert_allclose(upper, np.prod(reference), rtol=1e-12)
    assert hypervolume(np.zeros((1, 3)), reference) == pytest.approx(np.prod(reference), rel=1e-15)


def test_keys_that_must_agree_are_refused_with_the_key_and_reason():
    with pytest.raises(
        ParamError, match=r"problem.n_features: must be at least the number of tasks \(3\), got 2"
    ):
        build(ThreeTaskRegression, n_features=2)
    with pytest.raises(ParamError, match=r"problem.n_samples: must be at least n_features \(5\)"):
        build(TwoTaskRegression, n_samples=4)
