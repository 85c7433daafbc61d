"""The curves of one run in a series plot, kept at full resolution and thinned for the view.

`DecimatedCurve` pairs a pyqtgraph item with the full-resolution arrays it stands for;
`SeriesLayer` is one run's set of them: the mean over seeds (smoothed when asked, the
raw mean then drawn faintly), the 95% band of the mean, optional per-seed lines and the
dashed theory bounds. A layer recomputes its arrays only when its table has changed
(`SeedTable.version`) or an option has, and re-thins them whenever the view moves.
"""

from __future__ import annotations

import weakref

import numpy as np
import pyqtgraph as pg

from studio.views import plot_style
from studio.views.decimate import (
    LOWER,
    PEAK,
    UPPER,
    PeakPyramid,
    column_decimate,
    is_sorted,
    visible_range,
)
from studio.views.smoothing import EmaSmoother

MAX_SEED_LINES = 50  # per-seed lines drawn at most (the first seeds)


def to_log10(values: np.ndarray) -> np.ndarray:
    """log10 of `values`, NaN where a value is not positive (a log axis has no place for it)."""
    out = np.full(len(values), np.nan)
    np.log10(values, out=out, where=values > 0)
    return out


class DecimatedCurve:
    """A PlotDataItem showing full-resolution (x, y) clipped to the view and thinned to its width.

    `kind` says how a run of points becomes fewer: PEAK keeps each run's max and min (a
    curve), LOWER its min and UPPER its max (the edges of a band).

    The curve keeps its data as given (`x`, `y`: data space, what hover reads and
    smoothing worked on) and hands the item its display coordinates (`view_x`,
    `view_y`): log10 on a log axis, computed here once (pyqtgraph's own log mode is never
    used, so no item can be drawn half in one space and half in the other). Points at or
    below zero have no place on a log axis: with log x they are left out, with log y their
    value is NaN (a gap) and `hidden` counts them. Thinning works on the display
    coordinates, so that with log x it is uniform in log x (`column_decimate`) and the
    first decades keep their points.
    """

    def __init__(self, plot_item: pg.PlotItem, pen, kind: str = PEAK, antialias: bool = False):
        self.item = pg.PlotDataItem(pen=pen, antialias=antialias)
        plot_item.addItem(self.item)
        # Added after addItem: PlotItem hands its own downsampling settings to new items.
        self.item.setDownsampling(ds=1, auto=False)
        self.item.setClipToView(False)
        self.item.setLogMode(False, False)
        self.kind = kind
        self.x = np.empty(0)
        self.y = np.empty(0)
        self.view_x = np.empty(0)
        self.view_y = np.empty(0)
        self.log_x = self.log_y = False
        self.hidden = 0  # finite values with no place on the log y axis
        self._first = 0  # with log x: data points before this one (x <= 0) are not drawn
        self.pyramid = PeakPyramid()
        self.factor = 1
        self._sorted = True
        self._version = 0
        self._shown = None

    def set_full(
        self, x: np.ndarray, y: np.ndarray, changed_from: int = 0, x_sorted: bool | None = None
    ) -> None:
        """The curve is now (x, y), float arrays the caller changes only from `changed_from` on.

        No copy is taken: a table's buffers change in place only where it says they changed.
        """
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self._sorted = is_sorted(self.x) if x_sorted is None else x_sorted
        self._update_view(changed_from)
        self._version += 1

    def set_display(self, log_x: bool, log_y: bool) -> None:
        """Draw on log axes (or not): the display coordinates are recomputed from the data."""
        if (bool(log_x), bool(log_y)) == (self.log_x, self.log_y):
            return
        self.log_x, self.log_y = bool(log_x), bool(log_y)
        self._update_view(0)
        self._version += 1

    def _update_view(self, changed_from: int) -> None:
        x, y = self.x, self.y
        if not (self.log_x or self.log_y):
            self.view_x, self.view_y, self._first, self.hidden = x, y, 0, 0
            self.pyramid.update(y, changed_from)
            return
        if self.log_x and not self._sorted:
            keep = x > 0
            self.view_x, self.view_y = (
                to_log10(x[keep]),
                (to_log10(y[keep]) if self.log_y else y[keep]),
            )
            self._first = 0
            self._count_hidden(y[keep])
            self.pyramid.update(self.view_y, 0)
            return
        first = int(np.searchsorted(x, 0.0, side="right")) if self.log_x else 0
        start = max(0, changed_from - first)
        if first != self._first or start > len(self.view_y):
            start = 0
        x_tail, y_tail = x[first + start :], y[first + start :]
        view_x = to_log10(x_tail) if self.log_x else x_tail
        view_y = to_log10(y_tail) if self.log_y else y_tail
        if start:
            view_x = np.concatenate([self.view_x[:start], view_x]) if self.log_x else x[first:]
            view_y = np.concatenate([self.view_y[:start], view_y]) if self.log_y else y[first:]
        self.view_x, self.view_y, self._first = view_x, view_y, first
        self._count_hidden(y[first:])
        self.pyramid.update(view_y, start)

    def _count_hidden(self, y: np.ndarray) -> None:
        if not self.log_y:
            self.hidden = 0
            return
        self.hidden = int(np.count_nonzero(np.isfinite(y) & ~np.isfinite(self.view_y)))

    def refresh(self, x_range: tuple[float, float] | None, buckets: int) -> int:
        """Show what lies in `x_range` (display coordinates; all of it when None) thinned to
        `buckets`; return the factor."""
        start, stop = 0, len(self.view_x)
        if x_range is not None and self._sorted and len(self.view_x) > buckets:
            start, stop = visible_range(self.view_x, *x_range)
        key = (self._version, start, stop, buckets)
        if key == self._shown:
            return self.factor
        self._shown = key
        if self.log_x and self._sorted:
            x, y, self.factor = column_decimate(
                self.view_x, self.view_y, start, stop, buckets, self.kind
            )
        else:
            x, y, self.factor = self.pyramid.decimate(self.view_x, start, stop, buckets, self.kind)
        self.item.setData(x, y)
        return self.factor

    def nearest(self, x: float) -> int | None:
        """Index of the full-resolution point whose x is nearest `x`."""
        if len(self.x) == 0:
            return None
        if self._sorted:
            i = int(np.searchsorted(self.x, x))
            candidates = [j for j in (i - 1, i) if 0 <= j < len(self.x)]
            return min(candidates, key=lambda j: abs(self.x[j] - x))
        return int(np.nanargmin(np.abs(self.x - x)))


def _band_follows_sample(layer_ref):
    def follow():
        layer = layer_ref()
        if layer is not None:
            layer.band.setVisible(layer.band_sample.isVisible())

    return follow


class SeriesLayer:
    """One run's curves in a SeriesPlot."""

    def __init__(self, plot_item: pg.PlotItem, colour, label: str):
        self.plot_item = plot_item
        self.colour, self.label, self.overlay = colour, label, False
        self.band_lo = DecimatedCurve(plot_item, pg.mkPen(None), LOWER)
        self.band_hi = DecimatedCurve(plot_item, pg.mkPen(None), UPPER)
        pens = plot_style.series_pens(colour)
        self.band = plot_style.band_fill(self.band_lo.item, self.band_hi.item, colour)
        plot_item.addItem(self.band)
        self.raw = DecimatedCurve(plot_item, plot_style.faint_pen(colour))
        self.mean = DecimatedCurve(plot_item, pens.mean, antialias=True)
        self.seed_curves: list[DecimatedCurve] = []
        self.seeds_total = 0  # the seeds behind the mean and band (all of the run's)
        self.seeds_kept = 0  # the seeds whose own values the run kept (its first ones)
        self._seeds_seen = -1  # the per-seed table version drawn
        self.bounds: dict[str, DecimatedCurve] = {}
        # A FillBetweenItem cannot stand in the legend itself; this sample does, and
        # clicking it there hides the band as it would hide a curve.
        self.band_sample = pg.PlotDataItem(pen=None, fillLevel=0, fillBrush=pens.band)
        # The slot holds the layer weakly. The sample belongs to no scene, so only Python
        # frees it; a slot holding the layer would close a cycle through the sample's
        # connection, out of the collector's sight, and keep every closed plot alive with
        # its data and its view box's menu (about 55 widgets).
        self.band_sample.visibleChanged.connect(_band_follows_sample(weakref.ref(self)))
        self.smoother: EmaSmoother | None = None
        self.smoothing = 0.0
        self.log_x = self.log_y = False
        self._options = None
        self._seen = -1  # the table version drawn; -2: drawn empty
        self._bound_seen: dict[str, tuple] = {}
        self.summary: dict[str, np.ndarray] = {}

    @property
    def curves(self) -> list[DecimatedCurve]:
        return [
            self.band_lo,
            self.band_hi,
            self.raw,
            self.mean,
            *self.seed_curves,
            *self.bounds.values(),
        ]

    @property
    def factor(self) -> int:
        return max(curve.factor for curve in self.curves)

    def set_style(self, colour, label: str, overlay: bool) -> None:
        if (colour, label, overlay) == (self.colour, self.label, self.overlay):
            return
        self.colour, self.label, self.overlay = colour, label, overlay
        pens = plot_style.series_pens(colour, self._mean_scale())
        self.mean.item.setPen(pens.mean)
        self.raw.item.setPen(plot_style.faint_pen(colour))
        self.band.setBrush(pens.band)
        self.band_sample.setFillBrush(pens.band)
        for curve in self.seed_curves:
            curve.item.setPen(plot_style.faint_pen(colour))
        for index, curve in enumerate(self.bounds.values()):
            curve.item.setPen(self._bound_pen(index))

    def invalidate(self) -> None:
        self._options = None

    def set_display(self, log_x: bool, log_y: bool) -> None:
        """Log axes or linear ones: every curve, now and later, is drawn in those coordinates."""
        self.log_x, self.log_y = bool(log_x), bool(log_y)
        for curve in self.curves:
            curve.set_display(self.log_x, self.log_y)

    def _new_curve(self, pen, antialias: bool = False) -> DecimatedCurve:
        curve = DecimatedCurve(self.plot_item, pen, antialias=antialias)
        curve.set_display(self.log_x, self.log_y)
        return curve

    @property
    def hidden(self) -> int:
        """Values of the drawn mean that a log y axis cannot show (at or below zero)."""
        return self.mean.hidden

    def update(self, source, x_kind: str, smoothing: float, per_seed: bool) -> None:
        """Bring the full-resolution curves up to date with `source` (a SeriesSource).

        Only what changed is redone: a new table or new options redo everything; new
        rows in the same table redo the curves from the first changed row on. The mean
        and band follow `source.statistics` (the aggregates over all seeds), the per-seed
        lines `source.table` (the kept seeds), each with its own steps.
        """
        table = source.statistics
        seed_table = source.table
        options = (
            table,
            seed_table,
            x_kind,
            smoothing,
            per_seed,
        )  # the tables themselves: by identity
        if options != self._options:
            self._options, self._seen, self._seeds_seen = options, -1, -1
        self.smoothing = smoothing
        if table is None or table.rows == 0:
            if self._seen != -2:
                self.summary = {}
                for curve in (self.mean, self.raw, self.band_lo, self.band_hi):
                    curve.set_full(np.empty(0), np.empty(0))
                self._seen = -2
        else:
            changed_from = table.changed_since(self._seen) if self._seen >= 0 else 0
            if changed_from is not None:
                self._seen = table.version
                self._update_mean(table, x_kind, smoothing, changed_from)
        self.seeds_total = table.seeds if table is not None and table.rows else 0
        self.seeds_kept = seed_table.seeds if seed_table is not None and seed_table.rows else 0
        self._update_seed_lines(seed_table if per_seed else None, x_kind)
        # Theory bounds are functions of the step: against wall time they have no place.
        reach = int(table.steps[table.rows - 1]) if table is not None and table.rows else None
        self._set_bounds(source.bounds if x_kind == "step" else {}, reach)

    @staticmethod
    def _x_of(table, x_kind: str):
        """(x, sorted or None, rows kept or None): steps, or the wall times that arrived."""
        if x_kind == "step":
            return table.steps_float, True, None
        x = table.wall_times
        if not np.isfinite(x).all():
            rows = np.isfinite(x)  # steps whose wall time never arrived cannot be placed
            return x[rows], None, rows
        return x, None, None

    def _update_mean(self, table, x_kind: str, smoothing: float, changed_from: int) -> None:
        summary = table.summary()
        x, x_sorted, rows = self._x_of(table, x_kind)
        if rows is not None:
            changed_from = 0
            summary = {key: column[rows] for key, column in summary.items()}
        shown = summary["mean"]
        if smoothing > 0:
            if self.smoother is None or self.smoother.weight != smoothing:
                self.smoother = EmaSmoother(smoothing)
            shown = self.smoother.smooth(summary["mean"], changed_from)
            self.raw.set_full(x, summary["mean"], changed_from, x_sorted)
        else:
            self.smoother = None
            self.raw.set_full(np.empty(0), np.empty(0))
        self.raw.item.setVisible(smoothing > 0)
        self.mean.set_full(x, shown, changed_from, x_sorted)
        self.summary = dict(summary, shown=shown, x=x)
        lo, hi = summary["lo"], summary["hi"]
        band = np.isfinite(lo) & np.isfinite(hi)
        if table.seeds < 2:
            # One seed has no band (it would be the mean itself): nothing to fill.
            self.band_lo.set_full(np.empty(0), np.empty(0))
            self.band_hi.set_full(np.empty(0), np.empty(0))
        elif band.all():
            self.band_lo.set_full(x, lo, changed_from, x_sorted)
            self.band_hi.set_full(x, hi, changed_from, x_sorted)
        else:
            self.band_lo.set_full(x[band], lo[band], 0, x_sorted)
            self.band_hi.set_full(x[band], hi[band], 0, x_sorted)

    def _update_seed_lines(self, seed_table, x_kind: str) -> None:
        if seed_table is None or seed_table.rows == 0:
            self._set_seed_curves(None, None, False, 0)
            self._seeds_seen = -1
            return
        changed_from = seed_table.changed_since(self._seeds_seen) if self._seeds_seen >= 0 else 0
        if changed_from is None:
            return
        self._seeds_seen = seed_table.version
        x, x_sorted, rows = self._x_of(seed_table, x_kind)
        values = seed_table.values if rows is None else seed_table.values[rows]
        self._set_seed_curves(values, x, True, 0 if rows is not None else changed_from, x_sorted)

    def _set_seed_curves(self, values, x, shown: bool, changed_from: int, x_sorted=None) -> None:
        # A line per seed tells nothing more past a few dozen, and ten thousand of them would
        # freeze the window: the first MAX_SEED_LINES seeds are drawn, and the legend says so.
        kept = values.shape[1] if values is not None else 0
        wanted = min(kept, MAX_SEED_LINES) if shown else 0
        while len(self.seed_curves) > wanted:
            self.plot_item.removeItem(self.seed_curves.pop().item)
        while len(self.seed_curves) < wanted:
            curve = self._new_curve(plot_style.faint_pen(self.colour))
            curve.item.setZValue(-1)  # beneath the mean and its band
            self.seed_curves.append(curve)
            changed_from = 0
        for seed, curve in enumerate(self.seed_curves):
            curve.set_full(x, values[:, seed], changed_from, x_sorted)

    def _set_bounds(self, bounds: dict, reach: int | None = None) -> None:
        """Draw each bound up to `reach`, the last step measured (all of it when nothing is):
        a live run's bounds, recorded for every step at its start, would otherwise stretch
        the axis to the end of the run and flatten what has been measured so far."""
        for name in [n for n in self.bounds if n not in bounds]:
            self.plot_item.removeItem(self.bounds.pop(name).item)
            self._bound_seen.pop(name, None)
        for name, table in bounds.items():
            curve = self.bounds.get(name)
            if curve is None:
                pen = self._bound_pen(len(self.bounds))
                curve = self.bounds[name] = self._new_curve(pen, antialias=True)
            seen = self._bound_seen.get(name, (None, -1, None))
            changed_from = (
                table.changed_since(seen[1]) if seen[0] is table and seen[2] == reach else 0
            )
            if changed_from is not None:
                self._bound_seen[name] = (table, table.version, reach)
                shown = (
                    table.rows
                    if reach is None
                    else int(np.searchsorted(table.steps[: table.rows], reach, "right"))
                )
                curve.set_full(
                    table.steps_float[:shown],
                    table.values[:shown, 0],
                    min(changed_from, shown),
                    True,
                )

    def refresh(self, x_range, buckets: int) -> int:
        # The band's fill rebuilds its path whenever an edge changes: let the lower edge
        # change silently and the upper one (or, failing that, a direct call) rebuild it once.
        self.band_lo.item.blockSignals(True)
        lower_shown = self.band_lo._shown
        try:
            self.band_lo.refresh(x_range, buckets)
        finally:
            self.band_lo.item.blockSignals(False)
        upper_shown = self.band_hi._shown
        self.band_hi.refresh(x_range, buckets)
        if self.band_lo._shown != lower_shown and self.band_hi._shown == upper_shown:
            self.band.updatePath()
        factor = max(curve.refresh(x_range, buckets) for curve in self.curves)
        scale = self._mean_scale()
        if self.mean.item.opts["pen"].widthF() != plot_style.MEAN_WIDTH * scale:
            self.mean.item.setPen(plot_style.series_pens(self.colour, scale).mean)
        return factor

    def _mean_scale(self) -> float:
        """A thinned curve is a min/max envelope, one pixel column per bucket: a 1-pixel pen
        draws it exactly, a wider one only smears it, at five times the painting cost."""
        return 1 / plot_style.MEAN_WIDTH if self.mean.factor > 1 else 1.0

    def _bound_pen(self, index: int):
        """The index-th bound's dashed pen: overlaid runs' bounds take the run's colour."""
        return plot_style.series_pens(
            self.colour, bound_index=index, bound_colour=self.colour if self.overlay else None
        ).bound

    def remove(self) -> None:
        for curve in self.curves:
            self.plot_item.removeItem(curve.item)
        self.plot_item.removeItem(self.band)

    # -- legend and hover ---------------------------------------------------------------------
    def legend_key(self) -> tuple:
        return (
            self.label,
            self.colour,
            self.overlay,
            self.smoothing > 0,
            len(self.seed_curves),
            self.seeds_total,
            self.seeds_kept,
            tuple(self.bounds),
            self._seen == -2,
        )

    def legend_entries(self, overlay: bool) -> list[tuple[pg.GraphicsObject, str]]:
        if overlay:
            entries = [(self.mean.item, self.label)]
            entries += [
                (c.item, f"{self.label}: {plot_style.bound_label(n)}")
                for n, c in self.bounds.items()
            ]
            return entries
        bounds = [(curve.item, plot_style.bound_label(name)) for name, curve in self.bounds.items()]
        if self._seen == -2:  # nothing measured (yet, or a theory-only run): only its bounds
            return bounds
        smoothed = self.smoothing > 0
        entries = [(self.mean.item, "mean over seeds, smoothed" if smoothed else "mean over seeds")]
        if smoothed:
            entries.append((self.raw.item, "mean over seeds, raw"))
        band = "95% band of the mean"
        if self.seeds_kept < self.seeds_total:
            # The per-seed values are a sample of the first seeds; the band is not.
            band += f" (all {self.seeds_total:,} seeds)"
        entries.append((self.band_sample, band))
        if self.seed_curves:
            drawn = len(self.seed_curves)
            label = (
                "single seeds"
                if drawn == self.seeds_total
                else (f"single seeds (first {drawn:,} of {self.seeds_total:,})")
            )
            entries.append((self.seed_curves[0].item, label))
        return entries + bounds

    def describe_at(self, x: float) -> tuple[float, float, str] | None:
        """(x, drawn y, text) of the full-resolution point nearest `x`, or None when empty."""
        index = self.mean.nearest(x)
        if index is None or not self.summary:
            return None
        s = self.summary
        n = int(s["n"][index])
        text = f"mean {s['mean'][index]:.6g}"
        if n > 1:
            text += f" (95% band {s['lo'][index]:.6g} to {s['hi'][index]:.6g}, {n:,} seeds)"
        if self.smoothing > 0:
            text += f", smoothed {s['shown'][index]:.6g}"
        if self.overlay:
            text = f"{self.label}: {text}"
        for name, curve in self.bounds.items():
            j = curve.nearest(s["x"][index])
            if j is not None and curve.x[j] == s["x"][index]:
                text += f"\n{plot_style.bound_label(name)} {curve.y[j]:.6g}"
        return float(s["x"][index]), float(s["shown"][index]), text
