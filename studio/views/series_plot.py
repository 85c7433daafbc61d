"""One metric against steps (or wall time): per run, the mean over seeds and its 95% band.

The mean and band come from the run's aggregates over all its seeds; the per-seed lines
from the seeds whose values the run kept (the first N), and the legend says "first N of
M" whenever those are not all.

`SeriesPlot` draws one metric for one run or overlays several (`draw`), each run a
`SeriesLayer`: the mean, the band, optional faint per-seed lines and dashed theory
bounds. It keeps every curve at full resolution and hands pyqtgraph only what the view
can show: the points inside the x range, thinned to min/max pairs per pixel column
(`studio.views.decimate`), recomputed when the view moves or the data grows. Smoothing (a
debiased EMA, `studio.views.smoothing`) runs on the full-resolution mean before that
thinning, with the raw mean drawn faintly beneath; a badge in the corner says whenever
either is active, so what is seen is never mistaken for the raw data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.views import plot_style
from studio.views.hover import Hover, HoverReadout
from studio.views.run_data import AggregateTable, RunData, SeedTable
from studio.views.series_layer import SeriesLayer

X_STEP, X_WALL = "step", "wall_time"
X_LABELS = {X_STEP: "step", X_WALL: "wall time (s)"}
DEFAULT_BUCKETS = 1000  # pixel columns assumed before the plot has been laid out


@dataclass
class SeriesSource:
    """What one layer draws: a run's per-seed table of the metric (the kept seeds), its
    aggregates over all seeds, and its theory curves.

    The mean and band come from `aggregate` when it has rows, else from `table`.
    """

    label: str
    table: SeedTable | None
    bounds: dict[str, SeedTable] = field(default_factory=dict)
    aggregate: AggregateTable | None = None

    @classmethod
    def of(
        cls, label: str, data: RunData, metric: str | None, bounds: dict | None = None
    ) -> SeriesSource:
        if metric is None:
            return cls(label, None, bounds or {})
        return cls(label, data.tables.get(metric), bounds or {}, data.aggregates.get(metric))

    @property
    def statistics(self) -> AggregateTable | SeedTable | None:
        """What the mean and band are drawn from."""
        if self.aggregate is not None and self.aggregate.rows:
            return self.aggregate
        return self.table


class SeriesPlot(QWidget):
    """One metric for one run (`render`) or several overlaid (`draw`)."""

    def __init__(self, title: str = "", parent=None, legend_corner: str = "top-left"):
        super().__init__(parent)
        self.plot = plot_style.new_plot(title, legend_corner, downsampling=False)
        self.plot_item = self.plot.getPlotItem()
        # The title on the left, the badge on the right: a long badge never hides the title.
        self.plot_item.titleLabel.opts["justify"] = "left"
        self.view_box = self.plot_item.getViewBox()
        # pyqtgraph's "Plot Options" menu (log axes, its own downsampling, averaging) would
        # work behind this plot's back: its controls are the view's. The view-box menu stays.
        self.plot_item.setMenuEnabled(enableMenu=False, enableViewBoxMenu=True)
        for name in ("left", "bottom"):
            # Grid lines at the labelled ticks only: the finer levels multiply the lines
            # blended across the plot and cost more to paint than a million-point curve.
            self.plot_item.getAxis(name).setStyle(maxTickLevel=0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.metric: str | None = None
        self.x_kind = X_STEP
        self.smoothing = 0.0
        self.per_seed = False
        self.log_x = self.log_y = False
        self.overlay = False
        self.layers = [SeriesLayer(self.plot_item, plot_style.MEAN_COLOUR, "")]
        self._legend_key = None
        self.badge = QLabel(self.plot)
        self.badge.setStyleSheet(plot_style.BADGE_STYLE)
        self.badge.hide()
        self.hover = HoverReadout(self.plot, self._describe)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)
        self.view_box.sigXRangeChanged.connect(self._refresh_timer.start)
        self.view_box.sigResized.connect(self._refresh_timer.start)
        self._update_axis_labels()

    # -- what the first layer draws, by the names the single-run view always had -----------
    @property
    def mean_curve(self) -> pg.PlotDataItem:
        return self.layers[0].mean.item

    @property
    def band_lo(self) -> pg.PlotDataItem:
        return self.layers[0].band_lo.item

    @property
    def band_hi(self) -> pg.PlotDataItem:
        return self.layers[0].band_hi.item

    @property
    def band(self) -> pg.FillBetweenItem:
        return self.layers[0].band

    @property
    def bound_curves(self) -> dict[str, pg.PlotDataItem]:
        return {name: curve.item for name, curve in self.layers[0].bounds.items()}

    # -- options ----------------------------------------------------------------------------
    def set_metric(self, metric: str) -> None:
        self.metric = metric
        self._update_axis_labels()

    def set_x_axis(self, kind: str) -> None:
        if kind not in X_LABELS:
            raise ValueError(f"x axis must be one of {sorted(X_LABELS)}; got {kind!r}")
        self.x_kind = kind
        self._update_axis_labels()
        self._invalidate()

    def set_smoothing(self, weight: float) -> None:
        self.smoothing = float(weight)
        self._invalidate()

    def set_per_seed(self, shown: bool) -> None:
        self.per_seed = bool(shown)
        self._invalidate()

    def set_log_mode(self, x: bool, y: bool) -> None:
        self.log_x, self.log_y = bool(x), bool(y)
        # The axes tick in powers of ten; the curves are handed log10 of their data by
        # their layers (pyqtgraph's per-item log mode stays off, see DecimatedCurve).
        for name in ("bottom", "top", "left", "right"):
            self.plot_item.getAxis(name).setLogMode(self.log_x, self.log_y)
        for layer in self.layers:
            layer.set_display(self.log_x, self.log_y)
        self.view_box.enableAutoRange()
        self.refresh()

    def _update_axis_labels(self) -> None:
        y = plot_style.metric_label(self.metric) if self.metric else ""
        plot_style.set_axis_labels(self.plot, X_LABELS[self.x_kind], y)

    def _invalidate(self) -> None:
        for layer in self.layers:
            layer.invalidate()

    # -- drawing ----------------------------------------------------------------------------
    def render(self, data: RunData, bound_metrics=()) -> None:
        """Draw this plot's metric of one run, with the named theory curves."""
        bounds = {name: data.bounds[name] for name in bound_metrics if name in data.bounds}
        self.draw([SeriesSource.of("", data, self.metric, bounds)], overlay=False)

    def draw(self, sources: list[SeriesSource], overlay: bool = True) -> None:
        """Draw one layer per source; with `overlay`, each in its own colour, labelled in the legend."""
        self.overlay = overlay
        while len(self.layers) > max(1, len(sources)):
            self.layers.pop().remove()
        while len(self.layers) < len(sources):
            self.layers.append(SeriesLayer(self.plot_item, plot_style.MEAN_COLOUR, ""))
            self.layers[-1].set_display(self.log_x, self.log_y)
        for index, (layer, source) in enumerate(
            zip(self.layers, sources or [SeriesSource("", None)])
        ):
            colour = plot_style.run_colour(index) if overlay else plot_style.MEAN_COLOUR
            layer.set_style(colour, source.label, overlay)
            layer.update(source, self.x_kind, self.smoothing, self.per_seed)
        self._update_legend()
        self.refresh()

    def refresh(self) -> None:
        """Hand pyqtgraph what the current view shows of every curve, and update the badge."""
        buckets = int(self.view_box.width()) or DEFAULT_BUCKETS
        x_range = None
        if not self.view_box.autoRangeEnabled()[0]:
            # While the x axis follows the data, every point is in view: clipping to the
            # current range would cut off points that have just arrived.
            x_range = tuple(
                self.view_box.viewRange()[0]
            )  # display coordinates, as the curves' view_x
        factor = max([layer.refresh(x_range, buckets) for layer in self.layers] or [1])
        self._update_badge(factor)

    def _update_badge(self, factor: int) -> None:
        parts = []
        hidden = sum(layer.hidden for layer in self.layers)
        if hidden:
            parts.append(f"log y: {hidden:,} value{'s' if hidden != 1 else ''} ≤ 0 hidden")
        if self.smoothing > 0:
            parts.append(f"smoothed: EMA {self.smoothing:.2f} (raw mean faint)")
        if factor > 1:
            parts.append(f"downsampled: min/max of up to {factor:,} points per pixel")
        self.badge.setText("  ·  ".join(parts))
        self.badge.setVisible(bool(parts))
        self.badge.adjustSize()
        self._place_badge()

    def _place_badge(self) -> None:
        self.badge.move(max(0, self.plot.width() - self.badge.width() - 8), 4)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_badge()

    @property
    def downsampling_factor(self) -> int:
        return max(layer.factor for layer in self.layers)

    def _update_legend(self) -> None:
        key = tuple(layer.legend_key() for layer in self.layers) + (self.overlay,)
        if key == self._legend_key:
            return
        self._legend_key = key
        legend = self.plot_item.legend
        legend.clear()
        for layer in self.layers:
            for sample, text in layer.legend_entries(self.overlay):
                legend.addItem(sample, text)

    # -- hover ------------------------------------------------------------------------------
    def _describe(self, view_x: float, view_y: float) -> Hover | None:
        x = 10.0**view_x if self.log_x else view_x
        lines, anchor = [], None
        for layer in self.layers:
            found = layer.describe_at(x)
            if found is None:
                continue
            point_x, point_y, text = found
            if anchor is None:
                anchor = (point_x, point_y)
                lines.append(f"{X_LABELS[self.x_kind]} {point_x:,.6g}")
            lines.append(text)
        if anchor is None:
            return None
        vx = np.log10(anchor[0]) if self.log_x and anchor[0] > 0 else anchor[0]
        vy = np.log10(anchor[1]) if self.log_y and anchor[1] > 0 else anchor[1]
        if not (np.isfinite(vx) and np.isfinite(vy)):
            return None
        return Hover(float(vx), float(vy), "\n".join(lines))
