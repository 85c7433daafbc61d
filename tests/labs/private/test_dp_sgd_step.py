"""DP-SGD's step: clipping on a hand example, and plain SGD when the noise is 0 and C is infinite."""

import math

import pytest
import torch

from engine.labs.private.dp_sgd import (
    clip_factors,
    example_gradients_by_vmap,
    per_example_gradients,
    private_gradient,
)
from engine.labs.unlearning import model
from tests.labs.robust.robust_runs import build


def test_clipping_on_a_hand_example():
    """Two examples with gradients (3, 4) (norm 5) and (0.3, 0.4) (norm 0.5), C = 1: the first
    is scaled by 1/5 to (0.6, 0.8), the second is left as it is. Both sampled, no noise,
    expected batch 2: the private gradient is ((0.6, 0.8) + (0.3, 0.4)) / 2 = (0.45, 0.6).
    With only the first sampled it is (0.6, 0.8) / 2 = (0.3, 0.4). The norm runs over every
    parameter: adding a second parameter with gradients (12,) and (0,) makes the first
    example's norm 13."""
    grads = [torch.tensor([[[3.0, 4.0], [0.3, 0.4]]], dtype=torch.float64)]  # [seeds, n, 2]
    factors = clip_factors(grads, 1.0)
    assert factors.flatten().tolist() == pytest.approx([0.2, 1.0], abs=1e-15)
    both = torch.ones((1, 2), dtype=torch.float64)
    out = private_gradient(grads, factors, both, 1.0, 0.0, 2.0, None)
    assert out[0].flatten().tolist() == pytest.approx([0.45, 0.6], abs=1e-15)
    first = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    out = private_gradient(grads, factors, first, 1.0, 0.0, 2.0, None)
    assert out[0].flatten().tolist() == pytest.approx([0.3, 0.4], abs=1e-15)
    two = grads + [torch.tensor([[[12.0], [0.0]]], dtype=torch.float64)]
    assert clip_factors(two, 1.0).flatten().tolist() == pytest.approx([1 / 13, 1.0], abs=1e-15)


def test_noise_has_standard_deviation_sigma_times_c_over_the_batch():
    """With zero gradients, the private gradient is N(0, σ² C²) / (q N): σ = 2, C = 0.5 and
    q N = 4 give a standard deviation of 0.25 (checked on 200 000 draws to within 1%)."""
    g = torch.Generator().manual_seed(1)
    grads = [torch.zeros((1, 3, 200_000), dtype=torch.float64)]
    ones = torch.ones((1, 3), dtype=torch.float64)
    out = private_gradient(grads, clip_factors(grads, 0.5), ones, 0.5, 2.0, 4.0, g)[0]
    assert float(out.std()) == pytest.approx(0.25, rel=0.01)
    assert abs(float(out.mean())) < 0.005


def test_no_noise_infinite_clip_full_batch_is_sgd():
    """σ = 0, C = ∞ and every example sampled (q = 1, so q N = N): the private gradient is
    the mean of the per-example gradients, the full-batch gradient of the mean cross-entropy,
    on each of 3 seeds of the real problem and network."""
    alg = build("private.dp_sgd", "private.shifted_moons", problem={"n_train": 64})
    prob = alg.problem
    params = prob.initial
    grads = per_example_gradients(params, prob.x_train, prob.y_train)
    factors = clip_factors(grads, math.inf)
    assert bool((factors == 1).all())
    everyone = torch.ones_like(prob.y_train, dtype=torch.float64)
    private = private_gradient(grads, factors, everyone, math.inf, 0.0, 64.0, None)
    full = model.gradients(params, prob.x_train, prob.y_train, everyone)
    for a, b in zip(private, full):
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)


def test_per_example_gradients_match_torch_func():
    """The outer-product per-example gradients (one backward pass) equal torch.func's vmap of
    grad, example by example, on 3 seeds of the real network; summed over the examples they
    are the gradient of the summed loss."""
    alg = build("private.dp_sgd", "private.shifted_moons", problem={"n_train": 40})
    prob = alg.problem
    fast = per_example_gradients(prob.initial, prob.x_train, prob.y_train)
    reference = example_gradients_by_vmap(prob.initial, prob.x_train, prob.y_train)
    for a, b in zip(fast, reference):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-12, rtol=1e-10)


def test_a_seed_reproduces_its_run():
    """The same seed gives the same DP-SGD run (batches and noise from the algorithm's stream):
    the test accuracy and loss of two 5-step runs agree exactly, for both starts."""
    from tests.labs.robust.robust_runs import run

    small = {"n_train": 40, "n_test": 40, "n_public": 40, "hidden": 8, "pretrain_steps": 5}
    for start in ("random", "public"):
        runs = [
            run("private.dp_sgd", "private.shifted_moons", 5, seeds=2, problem=small, start=start)[
                1
            ]
            for _ in range(2)
        ]
        for name in ("test_accuracy", "train_loss", "epsilon"):
            assert (runs[0].records[5][name] == runs[1].records[5][name]).all(), name
