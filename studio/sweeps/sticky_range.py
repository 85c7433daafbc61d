"""Plot ranges that hold still while a sweep streams (the sweep view's): every move of a
range redraws the axes' cached pictures, the largest part of a refresh's paint."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg


class StickyRange:
    """The ranges of a plot while a sweep streams into it. The y range moves only when the
    data leave it or shrink well inside it, with headroom, instead of at every refresh as
    pyqtgraph's auto range does.

    While a sweep streams, each finished point nudges the extremes; an auto-ranged y axis
    then moves at nearly every refresh, and every move redraws both axes' cached pictures
    (about 18 ms each on a loaded 2-core machine, bench/sweep_stall.py). A range that holds
    until a value falls outside it, or until the data fill less than `FILL` of it, redraws
    them only a few times per sweep. While the sweep streams (`fit(..., growing=True)`),
    data that leave the range on one side get GROWTH of their span on that side: a
    summary that grows as its runs go on (a regret, a step count) would otherwise leave a
    range with HEADROOM at nearly every refresh. Once the sweep no longer streams, a range
    made with that room is fitted again, tight. The x range (`fit_x`) is set from every value of the
    swept key, finished or not, so it does not move at all while the sweep streams. A user
    who zooms or pans takes the ranges over; the plot's "A" button (auto range) hands them
    back."""

    HEADROOM = 0.1  # of the data's span, added above and below
    GROWTH = 0.5  # of the data's span, on a side the data left while the sweep streams
    FILL = 0.5  # the data must fill at least this share of the range, or it is fitted again

    def __init__(self, plot_item: pg.PlotItem):
        self.view_box = plot_item.getViewBox()
        self.view_box.enableAutoRange(y=False)
        self.range: tuple[float, float] | None = None
        self.grown = False  # the range has GROWTH room on a side
        self.x_span: tuple[float, float] | None = None
        self.user_owned = False
        self.view_box.sigRangeChangedManually.connect(self._taken_by_user)
        self.view_box.sigStateChanged.connect(self._state_changed)

    def _taken_by_user(self, *_):
        self.user_owned = True

    def _state_changed(self, *_):
        # the "A" button, or a menu's auto range, turns y auto ranging back on: take it back
        if self.view_box.state["autoRange"][1]:
            self.view_box.enableAutoRange(y=False)
            self.user_owned = False
            self.range = self.x_span = None
            self.grown = False

    def fit_x(self, lo: float, hi: float) -> bool:
        """Set the x range to [lo, hi] with a margin (all of the sweep's values of the x key,
        finished or not, known from its spec: the range need not move while it streams);
        nothing when it is set already or the user owns the view. True if set."""
        if self.user_owned or self.x_span == (lo, hi):
            return False
        self.x_span = (lo, hi)
        margin = 0.05 * (hi - lo) if hi > lo else 0.5
        self.view_box.enableAutoRange(x=False)
        self.view_box.setXRange(lo - margin, hi + margin, padding=0.0)
        return True

    def fit(self, values: np.ndarray, growing: bool = False) -> bool:
        """Set the range if `values` (any shape; non-finite ignored) need it; True if set.
        `growing`: the sweep still streams (GROWTH room on a side the data leave)."""
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if self.user_owned or not values.size:
            return False
        lo, hi = float(values.min()), float(values.max())
        below = above = False
        if self.range is not None:
            r0, r1 = self.range
            inside = r0 <= lo and hi <= r1 and (hi - lo) >= self.FILL * (r1 - r0)
            if inside and (growing or not self.grown):
                return False
            below, above = growing and lo < r0, growing and hi > r1
        span = hi - lo
        if span <= 0.0:  # one value: a range around it
            span = max(abs(hi), 1.0)
        self.range = (
            lo - (self.GROWTH if below else self.HEADROOM) * span,
            hi + (self.GROWTH if above else self.HEADROOM) * span,
        )
        self.grown = below or above
        self.view_box.setYRange(*self.range, padding=0.0)
        return True
