"""Debiased EMA smoothing (TensorBoard's `classicSmoothing`), checked against hand-computed values."""

import math

import numpy as np
import pytest

from studio.views.smoothing import EmaSmoother, debiased_ema, linear_recurrence


def tensorboard_loop(values, weight):
    """The reference: TensorBoard's loop, one value at a time (data_transformer.ts)."""
    if len(values) and all(v == values[0] for v in values):
        return list(values)
    last, count, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        count += 1
        out.append(last / (1 - weight**count))
    return out


def test_three_values_by_hand():
    # w = 0.5 on 1, 3, 2: s = 0.5, 1.75, 1.875; debiased by 1 - 0.5^k = 0.5, 0.75, 0.875.
    smoothed = debiased_ema([1.0, 3.0, 2.0], 0.5)
    assert np.allclose(smoothed, [1.0, 1.75 / 0.75, 1.875 / 0.875], rtol=0, atol=1e-15)


def test_first_value_is_never_pulled_towards_zero():
    """Debiasing: the first smoothed value is the first value itself, whatever the weight."""
    for weight in (0.1, 0.6, 0.99, 0.999):
        assert debiased_ema([7.25, 1.0], weight)[0] == pytest.approx(7.25, rel=1e-14)


def test_non_finite_values_pass_through_and_do_not_advance_the_average():
    # [1, nan, 3, inf] at w = 0.5: 1 -> 1; nan stays; 3 is the *second* finite value:
    # s = 0.5 * 0.5 + 0.5 * 3 = 1.75, debiased by 0.75 -> 7/3; inf stays.
    smoothed = debiased_ema([1.0, math.nan, 3.0, math.inf], 0.5)
    assert smoothed[0] == 1.0 and math.isnan(smoothed[1])
    assert smoothed[2] == pytest.approx(7 / 3, rel=1e-15) and smoothed[3] == math.inf


def test_a_constant_series_is_returned_exactly():
    values = np.full(50, 0.1)
    assert np.array_equal(debiased_ema(values, 0.9), values)


def test_weight_zero_is_no_smoothing_and_weight_out_of_range_is_refused():
    values = np.array([3.0, -1.0, 4.0])
    assert np.array_equal(debiased_ema(values, 0.0), values)
    with pytest.raises(ValueError, match="smoothing weight"):
        debiased_ema(values, 1.0)
    with pytest.raises(ValueError, match="smoothing weight"):
        debiased_ema(values, -0.1)


@pytest.mark.parametrize("weight", [0.05, 0.6, 0.95, 0.999])
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 4099])
def test_blocked_solution_equals_the_one_at_a_time_loop(weight, n):
    values = np.random.default_rng(n).normal(size=n).cumsum()
    if n > 10:
        values[[3, 8]] = [math.nan, -math.inf]
    assert np.allclose(
        debiased_ema(values, weight),
        tensorboard_loop(values.tolist(), weight),
        rtol=1e-11,
        atol=1e-11,
        equal_nan=True,
    )


def test_linear_recurrence_from_a_start_state():
    # s_k = 0.5 s_{k-1} + b_k from s_0 = 8 with b = 1, 1, 1: 5, 3.5, 2.75.
    assert np.allclose(
        linear_recurrence(np.ones(3), 0.5, 8.0), [5.0, 3.5, 2.75], rtol=0, atol=1e-15
    )


def test_incremental_smoothing_equals_smoothing_from_scratch():
    """A growing series whose last values change (a late seed arriving) smooths as if new."""
    rng = np.random.default_rng(3)
    base = rng.normal(size=3000)
    smoother = EmaSmoother(0.8)
    for length, changed_from in ((100, 100), (2000, 1990), (2000, 0), (2500, 2400), (1500, 1500)):
        series = base[:length].copy()
        series[changed_from:] += 1.0
        base[:length] = series
        assert np.allclose(
            smoother.smooth(series), tensorboard_loop(series.tolist(), 0.8), rtol=1e-11, atol=1e-11
        )
