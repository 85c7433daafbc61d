"""Thinning curves for the screen: clip to the view, min/max per aligned bucket, hand-checked;
and the incremental pyramid gives exactly what thinning from scratch gives."""

import math

import numpy as np
import pytest

from studio.views.decimate import (
    LOWER,
    PEAK,
    UPPER,
    PeakPyramid,
    aligned_decimate,
    choose_factor,
    column_decimate,
    is_sorted,
    visible_range,
)

X = np.arange(10.0)
Y = np.array([0.0, 5.0, 1.0, 2.0, 9.0, 3.0, 4.0, 4.0, -1.0, 2.0])


def test_the_factor_is_the_smallest_power_of_two_that_fits():
    assert choose_factor(10, 3) == 4  # 10 / 2 = 5 buckets is too many, 10 / 4 -> 3 fits
    assert choose_factor(1_000_000, 1000) == 1024
    assert choose_factor(10, 5) == 1  # a factor of 2 would save nothing


def test_peak_thinning_keeps_each_buckets_max_and_min():
    # Buckets of 4 aligned at 0: points 0-3, 4-7 and the last two, each drawn at its middle point.
    x, y = aligned_decimate(X, Y, 0, 10, 4, PEAK)
    assert x.tolist() == [1, 1, 5, 5, 8, 8]
    assert y.tolist() == [5, 0, 9, 3, 2, -1]


def test_band_edges_keep_the_widest_envelope():
    x, lower = aligned_decimate(X, Y, 0, 10, 4, LOWER)
    assert x.tolist() == [1, 5, 8] and lower.tolist() == [0, 3, -1]
    assert aligned_decimate(X, Y, 0, 10, 4, UPPER)[1].tolist() == [5, 9, 2]


def test_a_clipped_range_keeps_the_buckets_where_they_were():
    """Points 2..8: partial bucket 2-3, full bucket 4-7, partial 8: buckets do not shift when panning."""
    x, y = aligned_decimate(X, Y, 2, 9, 4, PEAK)
    assert x.tolist() == [2, 2, 5, 5, 8, 8]
    assert y.tolist() == [2, 1, 9, 3, -1, -1]


def test_a_spike_survives_any_thinning():
    """One point of 10^5 at 1000: the thinned curve still reaches 1000."""
    y = np.zeros(100_000)
    y[73_421] = 1000.0
    pyramid = PeakPyramid()
    pyramid.update(y)
    for buckets in (50, 700, 5000):
        assert pyramid.decimate(np.arange(100_000.0), 0, 100_000, buckets)[1].max() == 1000.0


def test_nan_inside_a_bucket_is_ignored_and_a_bucket_of_nan_stays_a_gap():
    y = np.array(
        [1.0, math.nan, 3.0, 2.0, math.nan, math.nan, math.nan, math.nan, 5.0, 6.0, 7.0, 8.0]
    )
    _, thinned = aligned_decimate(np.arange(12.0), y, 0, 12, 4, PEAK)
    assert (
        thinned[:2].tolist() == [3.0, 1.0]
        and np.isnan(thinned[2:4]).all()
        and thinned[4:].tolist() == [8.0, 5.0]
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_pyramid_after_appends_and_changes_equals_thinning_from_scratch(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6000))
    values = rng.normal(size=n)
    values[rng.random(n) < 0.03] = math.nan
    pyramid = PeakPyramid()
    pyramid.update(values)
    for _ in range(4):
        grown = np.concatenate([values, rng.normal(size=int(rng.integers(0, 3000)))])
        changed_from = int(rng.integers(0, len(grown) + 1))
        grown[changed_from:] += 1.0
        pyramid.update(grown, changed_from)
        values = grown
        x = np.arange(len(values), dtype=float)
        for mode in (PEAK, LOWER, UPPER):
            start = int(rng.integers(0, len(values) + 1))
            stop = int(rng.integers(start, len(values) + 1))
            buckets = int(rng.integers(1, 400))
            got_x, got_y, factor = pyramid.decimate(x, start, stop, buckets, mode)
            want_x, want_y = aligned_decimate(x, values, start, stop, factor, mode)
            assert factor == choose_factor(stop - start, buckets)
            assert np.array_equal(got_x, want_x) and np.array_equal(got_y, want_y, equal_nan=True)


def test_visible_range_reaches_one_point_past_each_edge():
    assert visible_range(X, 2.5, 5.5) == (2, 7)  # points 3..5 inside, 2 and 6 beyond the edges
    assert visible_range(X, -5.0, 100.0) == (0, 10)
    assert visible_range(X, 20.0, 30.0) == (9, 10)


def test_sortedness_allows_equal_neighbours_but_not_nan():
    assert is_sorted(np.array([1.0, 1.0, 2.0]))
    assert not is_sorted(np.array([1.0, math.nan, 2.0]))
    assert not is_sorted(np.array([2.0, 1.0]))


# -- what a series plot draws, in every combination of its options --------------------------------


def _columns_reference(vx, vy, buckets, kind):
    """Equal-width columns of x, written out point by point: each column's lone point, or its
    (max, min) pair (PEAK) / min (LOWER) / max (UPPER) at its middle point."""
    low, high = vx[0], vx[-1]
    column = np.minimum(((vx - low) / (high - low) * buckets).astype(int), buckets - 1)
    # A point exactly on a cut belongs to the column to its right (as searchsorted "left" puts it).
    out_x, out_y = [], []
    for c in np.unique(column):
        members = np.flatnonzero(column == c)
        mid = members[(len(members) - 1) // 2]
        top, bottom = np.nanmax(vy[members]), np.nanmin(vy[members])
        if len(members) == 1:
            out_x.append(vx[mid]), out_y.append(vy[mid])
        elif kind == PEAK:
            out_x += [vx[mid], vx[mid]]
            out_y += [top, bottom]
        else:
            out_x.append(vx[mid]), out_y.append(bottom if kind == LOWER else top)
    return np.array(out_x), np.array(out_y)


def _expected(x, y, plot, kind):
    """What a curve of data (x, y) must draw: log10 taken once where an axis is logarithmic,
    then thinned to the plot's width in those coordinates."""
    vx = np.log10(x) if plot.log_x else x
    vy = np.log10(y) if plot.log_y else y
    buckets = int(plot.view_box.width())
    if len(vx) <= buckets:
        return vx, vy
    if plot.log_x:
        return _columns_reference(vx, vy, buckets, kind)
    return aligned_decimate(vx, vy, 0, len(vx), choose_factor(len(vx), buckets), kind)


@pytest.mark.parametrize("smoothing", [0.0, 0.6])
@pytest.mark.parametrize("log_x", [False, True])
@pytest.mark.parametrize("log_y", [False, True])
@pytest.mark.parametrize("steps", [40, 5000])
def test_every_drawn_curve_is_its_data_in_the_axes_coordinates(
    qtbot, smoothing, log_x, log_y, steps
):
    """Smoothing x log x x log y x thinning: the smoothed mean, the raw mean and both band edges are
    drawn exactly where their data (aggregated and smoothed in data space) puts them. The mean sits
    near 0.6 and is far from 4, so a curve drawn without its log (10^0.6 = 4) cannot pass."""
    from studio.views.run_data import SeedTable
    from studio.views.series_plot import SeriesPlot, SeriesSource
    from studio.views.smoothing import debiased_ema

    plot = SeriesPlot("loss")
    qtbot.addWidget(plot)
    plot.resize(700, 400)
    plot.show()
    plot.set_metric("loss")
    plot.set_smoothing(smoothing)
    plot.set_log_mode(log_x, log_y)
    rng = np.random.default_rng(steps)
    step_numbers = np.arange(1, steps + 1)
    table = SeedTable()
    for seed in range(3):
        table.add_many(
            step_numbers, np.full(steps, seed), 0.6 + 0.05 * rng.random(steps) + 0.1 * seed
        )
    plot.draw([SeriesSource("", table)], overlay=False)
    qtbot.wait(1)
    plot.refresh()
    summary = table.summary()
    x = step_numbers.astype(float)
    shown = debiased_ema(summary["mean"], smoothing) if smoothing else summary["mean"]
    layer = plot.layers[0]
    drawn = {
        "mean": (layer.mean, shown, PEAK),
        "band lower edge": (layer.band_lo, summary["lo"], LOWER),
        "band upper edge": (layer.band_hi, summary["hi"], UPPER),
    }
    if smoothing:
        drawn["raw mean"] = (layer.raw, summary["mean"], PEAK)
    assert layer.raw.item.isVisible() == bool(smoothing)
    for name, (curve, values, kind) in drawn.items():
        want_x, want_y = _expected(x, values, plot, kind)
        got_x, got_y = curve.item.getData()
        assert curve.item.opts["logMode"] == [False, False], name
        assert np.allclose(got_x, want_x, rtol=1e-12, atol=0), name
        assert np.allclose(got_y, want_y, rtol=1e-12, atol=0), name
    assert (plot.downsampling_factor > 1) == (steps > int(plot.view_box.width()))
    assert ("downsampled" in plot.badge.text()) == (plot.downsampling_factor > 1)
    assert ("smoothed" in plot.badge.text()) == bool(smoothing)


def test_a_log_x_axis_keeps_every_decade_of_a_long_curve(qtbot):
    """A million steps recorded one by one, on a log x axis 500 pixels wide: the first steps are
    drawn as recorded (1, 2, 3, ...) and every decade holds drawn points, where thinning by
    consecutive points would have merged steps 1 to 2048 into one column at step ~1024."""
    from studio.views.run_data import SeedTable
    from studio.views.series_plot import SeriesPlot, SeriesSource

    plot = SeriesPlot("regret")
    qtbot.addWidget(plot)
    plot.resize(560, 400)
    plot.show()
    plot.set_metric("cumulative_regret")
    plot.set_log_mode(True, True)
    steps = np.arange(1, 1_000_001)
    table = SeedTable()
    table.add_many(steps, np.zeros(len(steps), dtype=int), np.sqrt(steps))
    plot.draw([SeriesSource("", table)], overlay=False)
    plot.refresh()
    x, y = plot.mean_curve.getData()
    steps_drawn = 10.0**x
    assert np.allclose(steps_drawn[:9], np.arange(1, 10)) and np.allclose(
        y[:9], 0.5 * np.log10(np.arange(1, 10))
    )
    for decade in range(1, 6):
        inside = (steps_drawn >= 10**decade) & (steps_drawn < 10 ** (decade + 1))
        assert inside.sum() >= 20, decade
    assert len(x) <= 2 * int(plot.view_box.width()) and plot.downsampling_factor > 1


def test_column_thinning_by_hand():
    """x = 0, 0.1, 0.2, 0.3, 2, 4 in 4 columns of width 1 over [0, 4]: column 0 holds four points
    (drawn at its middle, x = 0.1), columns 2 and 3 one each (kept as they are), column 1 none."""
    x = np.array([0.0, 0.1, 0.2, 0.3, 2.0, 4.0])
    y = np.array([5.0, -1.0, 3.0, 2.0, 7.0, 8.0])
    got_x, got_y, factor = column_decimate(x, y, 0, 6, 4, PEAK)
    assert (
        factor == 4
        and got_x.tolist() == [0.1, 0.1, 2.0, 4.0]
        and got_y.tolist() == [5.0, -1.0, 7.0, 8.0]
    )
    assert column_decimate(x, y, 0, 6, 4, LOWER)[1].tolist() == [-1.0, 7.0, 8.0]
    assert column_decimate(x, y, 0, 6, 4, UPPER)[1].tolist() == [5.0, 7.0, 8.0]
    assert (
        column_decimate(x, y, 0, 6, 6, PEAK)[2] == 1
    )  # as many columns as points: nothing thinned
