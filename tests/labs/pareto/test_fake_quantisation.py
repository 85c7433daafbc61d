"""Fake-quantised training across bit widths: the quantiser and its straight-through
gradient on hand-computed values, BOPs by hand, and the accuracy-versus-BOPs trade-off
the paper reports (near-full accuracy at 4 to 8 bits, a clear loss at 1 to 2)."""

import numpy as np
import pytest
import torch

from engine.labs.pareto.classification import BlobClassification, MLPShape
from engine.labs.pareto.fake_quantisation import (
    FakeQuantisedTraining,
    bit_operations,
    fake_quantise,
    min_max_quantise,
    quantisation_grid,
)
from engine.metrics import hypervolume
from engine.params import ParamError
from tests.labs.pareto.pareto_runs import final_front, last_values, recorded_objectives, run_spec


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_two_bit_grid_rounds_half_to_even_and_clamps():
    # b = 2 on [-1, 2]: s = 3 / (2^2 - 1) = 1, z = round(1 / 1) = 1; levels q in {0..3} are
    # the values -1, 0, 1, 2. round(x / s) + z for x = -1.4, -0.6, 0.4, 0.5, 1.5, 2.6 is
    # -1 + 1 = 0, -1 + 1 = 0, 0 + 1 = 1, 0 + 1 = 1 (0.5 rounds to even 0), 2 + 1 = 3 (1.5 to 2),
    # 3 + 1 = 4 -> clamped to 3; x_hat = (q - z) s = -1, -1, 0, 0, 2, 2.
    scale, zero = quantisation_grid(t(-1.0), t(2.0), 2)
    assert (scale.item(), zero.item()) == (1.0, 1.0)
    x = t([-1.4, -0.6, 0.4, 0.5, 1.5, 2.6])
    np.testing.assert_array_equal(
        fake_quantise(x, 2, t(-1.0), t(2.0)).numpy(), [-1, -1, 0, 0, 2, 2]
    )


def test_one_bit_grid_has_zero_and_one_step():
    # b = 1 on [-0.3, 0.9]: s = 1.2 / 1, z = round(0.25) = 0, so the two levels are 0 and 1.2;
    # x / s = -0.25, 0.4167, 0.5833, 0.75 rounds to 0, 0, 1, 1.
    scale, zero = quantisation_grid(t(-0.3), t(0.9), 1)
    assert scale.item() == pytest.approx(1.2, rel=1e-15) and zero.item() == 0.0
    x = t([-0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(
        fake_quantise(x, 1, t(-0.3), t(0.9)).numpy(), [0, 0, 1.2, 1.2], rtol=1e-15
    )


def test_eight_bit_grid():
    # b = 8 on [-1, 1.55]: s = 2.55 / 255 = 0.01, z = round(100) = 100. x = 0.123 -> 12 + 100
    # -> 0.12; x = -0.004 -> 0 -> 0; x = 1.56 -> 256 -> clamped to 255 -> 1.55; x = -1.2 ->
    # -20 -> clamped to 0 -> -1.0; x = 0.777 -> 78 -> 0.78.
    scale, zero = quantisation_grid(t(-1.0), t(1.55), 8)
    assert scale.item() == pytest.approx(0.01, rel=1e-14) and zero.item() == 100.0
    x = t([0.123, -0.004, 1.56, -1.2, 0.777])
    np.testing.assert_allclose(
        fake_quantise(x, 8, t(-1.0), t(1.55)).numpy(), [0.12, 0.0, 1.55, -1.0, 0.78], atol=1e-14
    )


def test_straight_through_gradient_is_one_inside_the_range_and_zero_where_clamped():
    # Clipped straight-through estimator: d x_hat / d x = 1 on [lo, hi] (rounding treated as
    # the identity), 0 where the forward pass clamped (-1.4 and 2.6 lie outside [-1, 2]).
    x = t([-1.4, -0.6, 0.4, 0.5, 1.5, 2.6]).requires_grad_(True)
    weights = t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    (grad,) = torch.autograd.grad((fake_quantise(x, 2, t(-1.0), t(2.0)) * weights).sum(), x)
    np.testing.assert_array_equal(grad.numpy(), [0, 2, 3, 4, 5, 0])


def test_min_max_ranges_include_zero_and_full_precision_is_untouched():
    # All-positive weights get the range [0, max] (zero is always on the grid): at 2 bits on
    # [0, 3] the levels are 0, 1, 2, 3. bits = 32 stands for the float model: exactly x.
    w = t([[0.4, 1.6], [2.2, 3.0]]).expand(1, 2, 2, 2)
    out = min_max_quantise(w, t([2.0, 32.0]))
    np.testing.assert_array_equal(out[0, 0].numpy(), [[0, 2], [2, 3]])
    np.testing.assert_array_equal(out[0, 1].numpy(), w[0, 1].numpy())


def test_bit_operations_by_hand():
    # Default problem and width: MACs = 2 x 32 + 32 x 3 = 160 per example. BOPs = MACs b_w b_a.
    shape = MLPShape(2, 32, 3)
    assert [bit_operations(shape, b, b) for b in (1, 2, 4, 8, 32)] == [
        160,
        640,
        2560,
        10240,
        163840,
    ]
    assert bit_operations(shape, 4, 32) == 160 * 128


def test_accuracy_versus_bit_operations_front(tmp_path):
    # The paper's trade-off on a seeded run (4 seeds, paired: every width starts from the same
    # weights and sees the same batches). Measured mean test accuracy at 1, 2, 4, 8, 32 bits:
    # 0.350, 0.639, 0.833, 0.854, 0.853. Checks: 8 bits matches the float model within 0.01;
    # 4 bits is within 0.04 at 1/64 of its BOPs; 2 bits loses > 0.1 and 1 bit > 0.3.
    store, row, _ = run_spec(
        tmp_path,
        {"id": "pareto.fake_quantisation", "bit_widths": [1, 2, 4, 8, 32]},
        {"id": "pareto.blob_classification", "n_test": 1024},
        steps=300,
        seeds=4,
        record_every=50,
        dtype="float32",
    )
    objectives = recorded_objectives(row)
    assert objectives["names"] == ["accuracy", "bit_operations"] and objectives["directions"] == [
        "max",
        "min",
    ]
    assert objectives["reference_point"] == pytest.approx([0.0, 1.1 * 163840])
    points, labels = final_front(store, row["id"])
    assert labels == [
        {"bits": b, "bit_operations": c}
        for b, c in zip((1, 2, 4, 8, 32), (160, 640, 2560, 10240, 163840))
    ]
    np.testing.assert_array_equal(
        points[..., 1], np.broadcast_to([160, 640, 2560, 10240, 163840], (4, 5))
    )
    mean = points[..., 0].mean(axis=0)
    full = mean[4]
    assert abs(mean[3] - full) < 0.01, mean
    assert mean[2] > full - 0.04, mean
    assert mean[1] < full - 0.1 and mean[0] < full - 0.3, mean
    expected = [
        hypervolume(points[s], objectives["reference_point"], ["max", "min"]) for s in range(4)
    ]
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume"), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "widths, reason",
    [
        ([4, 20], "20 bits: quantised widths go up to 16"),
        ([4, 8, 4], r"lists a width twice: \[4, 8, 4\]"),
    ],
)
def test_bad_bit_widths_are_refused(widths, reason):
    problem = BlobClassification(
        {p.name: p.default for p in BlobClassification.params},
        1,
        torch.device("cpu"),
        torch.float64,
        0,
    )
    params = {**{p.name: p.default for p in FakeQuantisedTraining.params}, "bit_widths": widths}
    with pytest.raises(ParamError, match=f"algorithm.bit_widths: {reason}"):
        FakeQuantisedTraining(params, problem, 1, torch.device("cpu"), torch.float64, 0)
