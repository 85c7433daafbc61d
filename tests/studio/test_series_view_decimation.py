"""Thinning curves for the screen: clip to the view, min/max per aligned bucket, hand-checked;
and the incremental pyramid gives exactly what thinning from scratch gives."""

import math

import numpy as np
import pytest

from studio.decimate import LOWER, PEAK, UPPER, PeakPyramid, aligned_decimate, choose_factor, is_sorted, visible_range

X = np.arange(10.0)
Y = np.array([0.0, 5.0, 1.0, 2.0, 9.0, 3.0, 4.0, 4.0, -1.0, 2.0])


def test_the_factor_is_the_smallest_power_of_two_that_fits():
    assert choose_factor(10, 3) == 4            # 10 / 2 = 5 buckets is too many, 10 / 4 -> 3 fits
    assert choose_factor(1_000_000, 1000) == 1024
    assert choose_factor(10, 5) == 1            # a factor of 2 would save nothing


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
    y = np.array([1.0, math.nan, 3.0, 2.0, math.nan, math.nan, math.nan, math.nan, 5.0, 6.0, 7.0, 8.0])
    _, thinned = aligned_decimate(np.arange(12.0), y, 0, 12, 4, PEAK)
    assert thinned[:2].tolist() == [3.0, 1.0] and np.isnan(thinned[2:4]).all() and thinned[4:].tolist() == [8.0, 5.0]


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
    assert visible_range(X, 2.5, 5.5) == (2, 7)   # points 3..5 inside, 2 and 6 beyond the edges
    assert visible_range(X, -5.0, 100.0) == (0, 10)
    assert visible_range(X, 20.0, 30.0) == (9, 10)


def test_sortedness_allows_equal_neighbours_but_not_nan():
    assert is_sorted(np.array([1.0, 1.0, 2.0]))
    assert not is_sorted(np.array([1.0, math.nan, 2.0]))
    assert not is_sorted(np.array([2.0, 1.0]))
