"""Metric-against-step plots: the mean over seeds with its 95% band, bounds dashed.

`SeriesPlot` draws one metric; `RegretView` is the "regret" plot kind (cumulative
regret with every theory bound the run recorded) and `CurvesView` the "curves" kind
(any metric the run has recorded, chosen in a combo).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio import plot_style
from studio.run_data import RunData

STEP_LABEL = "step"


class SeriesPlot(QWidget):
    """One metric: mean over seeds (seed >= 0), its 95% band, and dashed bound curves."""

    def __init__(self, title: str = "", parent=None, legend_corner: str = "top-left"):
        super().__init__(parent)
        self.plot = plot_style.new_plot(title, legend_corner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        item = self.plot.getPlotItem()
        # The band's edges get an invisible pen, not None: with None pyqtgraph builds no
        # path for them, and the fill between them would be empty.
        self.band_lo = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band_hi = pg.PlotDataItem(pen=pg.mkPen(None))
        for edge in (self.band_lo, self.band_hi):
            item.addItem(edge)
            # Subsampled, not min/max pairs: those would zigzag the fill.
            edge.setDownsampling(method="subsample")
        self.band = pg.FillBetweenItem(self.band_lo, self.band_hi, brush=plot_style.band_brush())
        item.addItem(self.band)
        self.mean_curve = item.plot(name="mean over seeds", pen=plot_style.mean_pen(), antialias=True)
        # A FillBetweenItem cannot stand in the legend itself; this sample does, and
        # clicking it there hides the band as it would hide a curve.
        self._band_sample = pg.PlotDataItem(pen=None, fillLevel=0, fillBrush=plot_style.band_brush())
        item.legend.addItem(self._band_sample, "95% band of the mean")
        self._band_sample.visibleChanged.connect(lambda: self.band.setVisible(self._band_sample.isVisible()))
        self.bound_curves: dict[str, pg.PlotDataItem] = {}
        self.metric: str | None = None

    def set_metric(self, metric: str) -> None:
        self.metric = metric
        plot_style.set_axis_labels(self.plot, STEP_LABEL, metric)

    def render(self, data: RunData, bound_metrics) -> None:
        """Draw the current metric and the named bound curves from what has been read."""
        table = data.tables.get(self.metric) if self.metric else None
        if table is None or table.rows == 0:
            for curve in (self.mean_curve, self.band_lo, self.band_hi):
                curve.setData([], [])
        else:
            summary = table.summary()
            steps = summary["steps"].astype(float)
            self.mean_curve.setData(steps, summary["mean"])
            finite = np.isfinite(summary["lo"]) & np.isfinite(summary["hi"])
            self.band_lo.setData(steps[finite], summary["lo"][finite])
            self.band_hi.setData(steps[finite], summary["hi"][finite])
        wanted = [m for m in bound_metrics if m in data.bounds]
        for metric in list(self.bound_curves):
            if metric not in wanted:
                self.plot.getPlotItem().removeItem(self.bound_curves.pop(metric))
        for metric in wanted:
            curve = self.bound_curves.get(metric)
            if curve is None:
                pen = plot_style.bound_pen(len(self.bound_curves))
                curve = self.plot.getPlotItem().plot(name=metric, pen=pen, antialias=True)
                self.bound_curves[metric] = curve
            steps, values = data.bound_curve(metric)
            curve.setData(steps.astype(float), values)


class RegretView(QWidget):
    """The "regret" plot kind: cumulative regret against steps with the theory bounds."""

    METRIC = "cumulative_regret"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.series = SeriesPlot("Cumulative regret")
        self.series.set_metric(self.METRIC)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.series)

    def render(self, data: RunData) -> None:
        # Every seed-less series of a regret run is a bound on its regret.
        self.series.render(data, sorted(data.bounds))


class CurvesView(QWidget):
    """The "curves" plot kind: one metric at a time, chosen among those seen so far."""

    DEFAULT_METRIC = "loss"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("Which recorded metric to plot against steps.")
        # Losses fall from the top left; the top right is usually the empty corner.
        self.series = SeriesPlot(legend_corner="top-right")
        self._chosen_by_user = False
        self._data: RunData | None = None
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("metric:"))
        chooser.addWidget(self.metric_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(chooser)
        layout.addWidget(self.series)
        self.metric_combo.activated.connect(self._user_chose)

    def _user_chose(self, _index: int) -> None:
        self._chosen_by_user = True
        self._select(self.metric_combo.currentText())
        if self._data is not None:
            self.render(self._data)

    def _select(self, metric: str) -> None:
        self.series.set_metric(metric)
        self.series.plot.getPlotItem().setTitle(metric, color="#202020", size="11pt")

    def render(self, data: RunData) -> None:
        self._data = data
        known = [self.metric_combo.itemText(i) for i in range(self.metric_combo.count())]
        for metric in data.metrics():
            if metric not in known:
                self.metric_combo.addItem(metric)
        if not self._chosen_by_user:
            # Until the user picks one, follow "loss" as soon as it exists, else the first metric.
            preferred = self.DEFAULT_METRIC if self.DEFAULT_METRIC in data.tables else next(iter(data.tables), None)
            if preferred is not None and preferred != self.series.metric:
                self.metric_combo.setCurrentText(preferred)
                self._select(preferred)
        metric = self.series.metric
        self.series.render(data, [metric] if metric else [])
