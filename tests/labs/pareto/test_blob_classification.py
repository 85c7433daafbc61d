"""The Gaussian-cluster classification problem and the tiny MLP of the cost-front
algorithms, against the generative model's moments and hand-computed forward passes."""

import math

import numpy as np
import pytest
import torch

from engine.labs.pareto.classification import (
    BlobClassification,
    CostObjectives,
    MLPShape,
    accuracy,
    cross_entropy,
    mlp_logits,
)


def problem_params(**changes):
    return {**{p.name: p.default for p in BlobClassification.params}, **changes}


def build(seeds=2, dtype=torch.float64, seed=5, **changes):
    return BlobClassification(problem_params(**changes), seeds, torch.device("cpu"), dtype, seed)


def test_one_cluster_per_class_has_unit_noise_and_uniform_classes():
    # With M = 1 an example is its class centre plus N(0, I): the within-class sample
    # covariance is I (standard error ~ sqrt(2 / n_c) ~ 0.02 on the diagonal at n_c ~ 6700)
    # and each class has probability 1 / C (binomial s.e. sqrt(p (1 - p) / n) ~ 0.0033).
    problem = build(seeds=1, clusters_per_class=1, n_train=20_000, n_features=3, classes=3)
    x, y = problem.x_train[0].numpy(), problem.y_train[0].numpy()
    for c in range(3):
        members = x[y == c]
        assert abs(len(members) / 20_000 - 1 / 3) < 0.015
        np.testing.assert_allclose(np.cov(members.T), np.eye(3), atol=0.08)


def test_data_follow_the_seed_whatever_the_dtype():
    # Drawn in float64 from the problem's stream, then cast: float32 data are the rounded
    # float64 data, and a different seed gives different data.
    a, b = build(), build(dtype=torch.float32)
    np.testing.assert_array_equal(b.x_test.numpy(), a.x_test.float().numpy())
    np.testing.assert_array_equal(b.y_train.numpy(), a.y_train.numpy())
    assert not torch.equal(build(seed=6).x_train, a.x_train)
    assert a.x_train.shape == (2, 512, 2) and a.y_test.shape == (2, 2048)


def test_mlp_forward_macs_and_losses_by_hand():
    # d = 2, h = 2, C = 2. x = (1, 2): pre-activations x W1 + b1 = (1 - 2 + 0.5, 1 + 4 - 1) = (-0.5, 4),
    # ReLU -> (0, 4); logits = (0, 4) W2 + b2 = (4 * 0.25 + 0, 4 * -1 + 1) = (1, -3).
    params = {
        "w1": torch.tensor([[1.0, 1.0], [-1.0, 2.0]]),
        "b1": torch.tensor([0.5, -1.0]),
        "w2": torch.tensor([[3.0, 3.0], [0.25, -1.0]]),
        "b2": torch.tensor([0.0, 1.0]),
    }
    logits = mlp_logits(params, torch.tensor([[1.0, 2.0]]))
    np.testing.assert_allclose(logits.numpy(), [[1.0, -3.0]])
    # Cross-entropy of label 1: log(e^1 + e^-3) - (-3) = 4 + log(1 + e^-4).
    assert cross_entropy(logits, torch.tensor([1])).item() == pytest.approx(
        4 + math.log1p(math.exp(-4)), rel=1e-6
    )
    assert accuracy(logits, torch.tensor([0])).item() == 1.0
    # MACs per example: d h + h C = 2 x 32 + 32 x 3 = 160 for the default problem and width.
    assert MLPShape(2, 32, 3).macs == 160
    assert MLPShape(5, 7, 4).macs == 5 * 7 + 7 * 4


def test_cost_objectives_reference_point():
    # Accuracy is maximised (reference 0, below every point); the cost is minimised with the
    # reference 10 % beyond the largest cost, so the costliest point still encloses volume.
    objectives = CostObjectives("bit_operations", 1000)
    assert objectives.objective_names == ["accuracy", "bit_operations"]
    assert objectives.objective_directions == ["max", "min"]
    assert objectives.reference_point() == pytest.approx([0.0, 1100.0])
