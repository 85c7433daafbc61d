"""Thinning a long curve for the screen without hiding anything: clip, then min/max per bucket.

A plot a thousand pixels wide cannot show a million points, and drawing them all costs
hundreds of milliseconds a frame. The points inside the view (plus one each side, so
the line reaches the edges: `visible_range`) are cut into buckets of `factor`
consecutive points, and each bucket is drawn as its maximum and minimum (PEAK: every
spike survives at every zoom), or, for the edges of a band, as its minimum (LOWER) or
maximum (UPPER), so a thinned band is never narrower than the full one.

Buckets are aligned in index space (bucket b holds points b*factor .. (b+1)*factor - 1)
and the factor is a power of two, so panning never shifts them and `PeakPyramid` can
keep every level's minima and maxima: appending points, or changing the last few,
updates only the buckets they fall in, and drawing any range then costs in proportion
to the plot's width, not to the length of the series. `aligned_decimate` computes the
same from scratch; it is the reference the pyramid is tested against.
"""

from __future__ import annotations

import numpy as np

PEAK, LOWER, UPPER = "peak", "lower", "upper"


def is_sorted(x: np.ndarray) -> bool:
    """Non-decreasing and NaN-free: what a binary search for the view's edges needs."""
    return len(x) < 2 or bool(np.all(x[1:] >= x[:-1]))


def visible_range(x: np.ndarray, low: float, high: float) -> tuple[int, int]:
    """Index range [start, stop) of sorted `x` inside [low, high], widened by one point each side."""
    start = max(0, int(np.searchsorted(x, low, side="left")) - 1)
    stop = min(len(x), int(np.searchsorted(x, high, side="right")) + 1)
    return start, max(start, stop)


def choose_factor(count: int, buckets: int) -> int:
    """The smallest power of two that leaves at most `buckets` buckets; 1 (no thinning) below 4,
    where min/max pairs would draw as many vertices as the points themselves."""
    factor = 1
    while -(-count // factor) > max(1, buckets):
        factor *= 2
    return factor if factor >= 4 else 1


def _bounds(start: int, stop: int, factor: int) -> list[tuple[int, int]]:
    """The [first, last) index ranges of the aligned buckets that [start, stop) touches."""
    first_full, last_full = -(-start // factor) * factor, stop // factor * factor
    if first_full >= last_full:
        return [(start, stop)] if start < stop else []
    edges = [(start, first_full)] if start < first_full else []
    edges += [(b, b + factor) for b in range(first_full, last_full, factor)]
    edges += [(last_full, stop)] if last_full < stop else []
    return edges


def _shape(x: np.ndarray, centres: np.ndarray, lows: np.ndarray, highs: np.ndarray, mode: str):
    if mode == PEAK:
        return np.repeat(x[centres], 2), np.column_stack([highs, lows]).reshape(-1)
    return x[centres], (lows if mode == LOWER else highs)


def aligned_decimate(
    x: np.ndarray, y: np.ndarray, start: int, stop: int, factor: int, mode: str = PEAK
):
    """(x, y) of points [start, stop) thinned in aligned buckets of `factor`, from scratch."""
    if factor == 1:
        return x[start:stop], y[start:stop]
    edges = _bounds(start, stop, factor)
    centres = np.array([(a + b - 1) // 2 for a, b in edges], dtype=np.int64)
    lows = np.array([np.fmin.reduce(y[a:b]) for a, b in edges])
    highs = np.array([np.fmax.reduce(y[a:b]) for a, b in edges])
    return _shape(x, centres, lows, highs, mode)


class PeakPyramid:
    """Minima and maxima of every aligned run of 2^k points (k >= 1) of a series, kept current."""

    def __init__(self):
        self.values = np.empty(0)
        self._lows: list[np.ndarray] = []  # level k (from 1): min of points [i 2^k, (i + 1) 2^k)
        self._highs: list[np.ndarray] = []
        self._sizes: list[int] = []

    def update(self, values: np.ndarray, changed_from: int = 0) -> None:
        """The series is now `values`; only points from `changed_from` on differ from before."""
        self.values = values
        n = len(values)
        lows_below, highs_below, level = values, values, 0
        while n >> (level + 1):
            level += 1
            size = n >> level
            first = min(
                changed_from >> level, self._sizes[level - 1] if level <= len(self._sizes) else 0
            )
            if level > len(self._lows):
                self._lows.append(np.empty(max(size, 16)))
                self._highs.append(np.empty(max(size, 16)))
                self._sizes.append(0)
            if size > len(self._lows[level - 1]):
                for store in (self._lows, self._highs):
                    grown = np.empty(2 * size)
                    grown[: self._sizes[level - 1]] = store[level - 1][: self._sizes[level - 1]]
                    store[level - 1] = grown
            lows, highs = self._lows[level - 1], self._highs[level - 1]
            evens, odds = slice(2 * first, 2 * size, 2), slice(2 * first + 1, 2 * size, 2)
            np.fmin(lows_below[evens], lows_below[odds], out=lows[first:size])
            np.fmax(highs_below[evens], highs_below[odds], out=highs[first:size])
            self._sizes[level - 1] = size
            lows_below, highs_below = lows[:size], highs[:size]
        del self._lows[level:], self._highs[level:], self._sizes[level:]

    def decimate(self, x: np.ndarray, start: int, stop: int, buckets: int, mode: str = PEAK):
        """(x, y, factor): points [start, stop) thinned to at most `buckets` aligned buckets."""
        factor = choose_factor(stop - start, buckets)
        if factor == 1:
            return x[start:stop], self.values[start:stop], 1
        level = factor.bit_length() - 1
        first_full, last_full = -(-start // factor), stop // factor
        if first_full >= last_full:
            out_x, out_y = aligned_decimate(x, self.values, start, stop, factor, mode)
            return out_x, out_y, factor
        full = np.arange(first_full, last_full, dtype=np.int64)
        centres = full * factor + (factor - 1) // 2
        lows = self._lows[level - 1][first_full:last_full]
        highs = self._highs[level - 1][first_full:last_full]
        parts = [(centres, lows, highs)]
        y = self.values
        if start < first_full * factor:  # the partial bucket at the left edge
            a, b = start, first_full * factor
            parts.insert(
                0,
                (
                    np.array([(a + b - 1) // 2]),
                    np.array([np.fmin.reduce(y[a:b])]),
                    np.array([np.fmax.reduce(y[a:b])]),
                ),
            )
        if last_full * factor < stop:
            a, b = last_full * factor, stop
            parts.append(
                (
                    np.array([(a + b - 1) // 2]),
                    np.array([np.fmin.reduce(y[a:b])]),
                    np.array([np.fmax.reduce(y[a:b])]),
                )
            )
        centres, lows, highs = (np.concatenate(column) for column in zip(*parts))
        out_x, out_y = _shape(x, centres, lows, highs, mode)
        return out_x, out_y, factor


def column_decimate(
    x: np.ndarray, y: np.ndarray, start: int, stop: int, buckets: int, mode: str = PEAK
):
    """(x, y, factor): points [start, stop) of sorted `x` thinned by equal-width columns of x.

    For a logarithmic axis, where `x` is already log10 of the data: the recorded steps
    crowd the last decade, and buckets of consecutive points would merge the sparse first
    decades into one column (a vertical spike at the start). Here each of `buckets`
    columns of equal width in x keeps its own points: a column holding one point keeps
    it as it is, one holding several its max and min (PEAK), min (LOWER) or max (UPPER),
    drawn at its middle point. `factor` is the most points any column holds (1: nothing
    thinned). Linear in the number of points in range.
    """
    count = stop - start
    if count <= max(buckets, 3):
        return x[start:stop], y[start:stop], 1
    xs, ys = x[start:stop], y[start:stop]
    low, high = xs[0], xs[-1]
    if not high > low:
        edges = np.array([0], dtype=np.int64)
    else:
        cuts = low + (high - low) * np.arange(1, buckets) / buckets
        edges = np.unique(np.r_[0, np.searchsorted(xs, cuts, side="left")])
        edges = edges[edges < count]
    sizes = np.diff(np.r_[edges, count])
    factor = int(sizes.max())
    if factor == 1:
        return xs, ys, 1
    lows, highs = np.fmin.reduceat(ys, edges), np.fmax.reduceat(ys, edges)
    centres = edges + (sizes - 1) // 2
    single = sizes == 1
    if mode == PEAK:
        # A lone point is drawn once, not as a pair: the column keeps exactly what was recorded.
        repeat = np.where(single, 1, 2)
        out_x = np.repeat(xs[centres], repeat)
        pairs = np.column_stack([highs, lows]).reshape(-1)
        keep = np.column_stack([np.ones(len(edges), dtype=bool), ~single]).reshape(-1)
        return out_x, pairs[keep], factor
    return xs[centres], (lows if mode == LOWER else highs), factor
