"""The "pareto" plot kind: the points of the latest recorded step, the front highlighted.

The non-dominated set is computed over every point of that step (all seeds pooled):
it is what the run has found so far. Directions come from the run's declared
objectives, so a maximised objective is respected. With three or more objectives the
first two are drawn (the front is still computed in all of them); pairwise
projections come with the full plot views. The run's "hypervolume" metric, when it
records one, is drawn beneath as a mean over seeds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from engine.metrics import pareto_front
from studio import plot_style
from studio.run_data import RunData
from studio.series_views import SeriesPlot

HYPERVOLUME_METRIC = "hypervolume"


def objective_axes(objectives: dict | None, count: int) -> tuple[list[str], list[str]]:
    """Names and directions of `count` objectives; unnamed ones are minimised."""
    if objectives:
        return list(objectives["names"]), list(objectives["directions"])
    return [f"objective {i + 1}" for i in range(count)], ["min"] * count


class ParetoView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.front_plot = plot_style.new_plot("Pareto front")
        item = self.front_plot.getPlotItem()
        self.dominated_points = pg.ScatterPlotItem(
            name="dominated", size=7, pen=None, brush=pg.mkBrush(*plot_style.DOMINATED_COLOUR))
        self.front_line = pg.PlotDataItem(pen=pg.mkPen(plot_style.FRONT_COLOUR, width=1.5))
        self.front_points = pg.ScatterPlotItem(
            name="non-dominated", size=9, pen=pg.mkPen("w"), brush=pg.mkBrush(*plot_style.FRONT_COLOUR))
        self.reference_point = pg.ScatterPlotItem(
            name="reference point", symbol="x", size=12, pen=pg.mkPen(plot_style.REFERENCE_COLOUR),
            brush=pg.mkBrush(plot_style.REFERENCE_COLOUR))
        for graphic in (self.dominated_points, self.front_line, self.front_points, self.reference_point):
            item.addItem(graphic)
        # Hypervolume rises to a plateau: the bottom-right corner stays empty.
        self.hypervolume = SeriesPlot("Hypervolume", legend_corner="bottom-right")
        self.hypervolume.set_metric(HYPERVOLUME_METRIC)
        self.hypervolume.hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.front_plot)
        splitter.addWidget(self.hypervolume)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def render(self, data: RunData) -> None:
        self._render_front(data)
        if HYPERVOLUME_METRIC in data.tables:
            self.hypervolume.show()
            self.hypervolume.render(data, [HYPERVOLUME_METRIC])

    def _render_front(self, data: RunData) -> None:
        item = self.front_plot.getPlotItem()
        points = np.asarray(data.pareto_points, dtype=float)
        if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] < 2:
            for graphic in (self.dominated_points, self.front_points, self.reference_point):
                graphic.setData([], [])
            self.front_line.setData([], [])
            return
        count = points.shape[1]
        names, directions = objective_axes(data.objectives, count)
        front, indices = pareto_front(points, directions)
        on_front = np.zeros(len(points), dtype=bool)
        on_front[indices] = True
        dominated = points[~on_front]
        self.dominated_points.setData(dominated[:, 0], dominated[:, 1])
        self.front_points.setData(front[:, 0], front[:, 1])
        # Joining the front only means something when it is drawn in its own two axes.
        if count == 2:
            self.front_line.setData(front[:, 0], front[:, 1])
        else:
            self.front_line.setData([], [])
        if data.objectives and data.objectives.get("reference_point"):
            reference = data.objectives["reference_point"]
            self.reference_point.setData([reference[0]], [reference[1]])
        else:
            self.reference_point.setData([], [])
        plot_style.set_axis_labels(self.front_plot, f"{names[0]} ({directions[0]})", f"{names[1]} ({directions[1]})")
        # No point lies beyond the front towards the ideal corner, so the legend hides nothing there.
        ideal = f"{'bottom' if directions[1] == 'min' else 'top'}-{'left' if directions[0] == 'min' else 'right'}"
        self.front_plot.getPlotItem().legend.setOffset(plot_style.legend_offset(ideal))
        shown = "" if count == 2 else f", first 2 of {count} objectives"
        item.setTitle(f"Pareto front at step {data.pareto_step}: {len(front)} of {len(points)} points "
                      f"non-dominated{shown}", color="#202020", size="11pt")
