"""Parallel coordinates of a sweep: one polyline per run across its swept keys and a summary.

For a sweep over more than two keys, where a line plot must fix all but two. Axes, left to
right: the swept keys in spec order, then the chosen summary metric. Each axis is rescaled
to [0, 1] on its own (`normalise_axis`): numbers linearly between their smallest and
largest value, log-spaced keys linearly in log10, other values (ids, lists) at evenly spaced
positions in first-seen order; an axis with a single value sits at 0.5. Each run's line is
coloured by its summary (viridis: dark is the smallest value, yellow the largest), and the
axes are labelled with their values at the ends (or every category).

Embedding: `ParallelCoordinatesView(store, sweep_id)`; `run_activated(run_id)` on a click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.sweeps.data import SweepData, is_number, value_text
from studio.sweeps.live import LiveSweep, Redraws, SummaryChoice
from studio.views import plot_style

COLOUR_MAP = "viridis"
LINE_WIDTH = 2
TICKED_VALUES = 8  # a numeric axis with at most this many values names each; else its ends


@dataclass
class Axis:
    name: str
    positions: np.ndarray  # [n] in [0, 1], NaN where a run has no value
    ticks: list[tuple[float, str]]  # (position, label) along the axis


def normalise_axis(name: str, values: list, log: bool = False) -> Axis:
    """One axis: `values` (one per run, None when missing) at positions in [0, 1]."""
    present = [v for v in values if v is not None]
    if present and all(is_number(v) for v in present):
        raw = np.array([np.nan if v is None else float(v) for v in values])
        log = log and bool(np.all(raw[np.isfinite(raw)] > 0))
        scaled = np.log10(raw) if log else raw
        finite = scaled[np.isfinite(scaled)]
        low, high = (finite.min(), finite.max()) if len(finite) else (0.0, 0.0)
        if high > low:
            positions = (scaled - low) / (high - low)
            distinct = sorted(set(raw[np.isfinite(scaled)].tolist()))
            if len(distinct) > TICKED_VALUES:  # a continuum: its ends
                distinct = [distinct[0], distinct[-1]]
            ticks = [
                (float(((np.log10(v) if log else v) - low) / (high - low)), f"{v:.4g}")
                for v in distinct
            ]
        else:
            positions = np.where(np.isfinite(scaled), 0.5, np.nan)
            ticks = [(0.5, f"{present[0]:.4g}")] if present else []
        return Axis(name + (" (log)" if log else ""), positions, ticks)
    categories = list(dict.fromkeys(value_text(v) for v in present))
    spacing = 1.0 / (len(categories) - 1) if len(categories) > 1 else 0.0
    place = {c: (i * spacing if len(categories) > 1 else 0.5) for i, c in enumerate(categories)}
    positions = np.array([np.nan if v is None else place[value_text(v)] for v in values])
    return Axis(name, positions, [(place[c], c) for c in categories])


def parallel_axes(
    sweep: SweepData, summaries: dict, metric_label: str
) -> tuple[list[Axis], list[int], np.ndarray]:
    """The axes (swept keys, then the summary), the runs drawn, and their summary values."""
    points = [p for p in sweep.points if p.run_id in summaries]
    run_ids = [p.run_id for p in points]
    axes = [
        normalise_axis(key, [p.values.get(key) for p in points], sweep.is_log(key))
        for key in sweep.keys
    ]
    values = np.array([summaries[r].mean for r in run_ids], dtype=float)
    axes.append(normalise_axis(metric_label, values.tolist()))
    return axes, run_ids, values


class ParallelCoordinatesView(QWidget):
    run_activated = Signal(int)

    def __init__(self, store, sweep_id: int, parent=None, live: LiveSweep | None = None):
        super().__init__(parent)
        self.live = live or LiveSweep(store, sweep_id, self)
        self.axes: list[Axis] = []
        self.run_ids: list[int] = []
        self.values = np.zeros(0)
        self.curves: list[pg.PlotCurveItem] = []
        self.choice = SummaryChoice()
        self.plot = plot_style.new_plot("", "top-right", downsampling=False)
        self.plot_item = self.plot.getPlotItem()
        self.plot_item.hideAxis("left")
        self.plot_item.legend.hide()  # the colour says the value: no legend
        self.plot_item.showGrid(x=False, y=False)
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.colour_map = pg.colormap.get(COLOUR_MAP)
        self.colour_bar = QLabel()
        self.colour_bar.setStyleSheet("color: #505050;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.choice)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.colour_bar)
        self.redraws = Redraws(self, self.redraw)
        self.choice.set_metrics(self.live.runs.metrics())
        self.choice.changed.connect(self.redraw)
        self.live.updated.connect(self._updated)
        self.redraw()

    def _updated(self, _changed) -> None:
        self.choice.set_metrics(self.live.runs.metrics())
        self.redraws.request()

    def refresh(self) -> None:
        """Read what is new now and draw it (on its own: at most every REDRAW_MS, when shown)."""
        self.live.refresh()
        self.redraws.flush()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraws.shown()

    def colour_of(self, value: float) -> tuple[int, int, int]:
        finite = self.values[np.isfinite(self.values)]
        low, high = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
        share = (value - low) / (high - low) if high > low else 0.5
        colour = self.colour_map.map(np.array([share]), mode="byte")[0]
        return tuple(int(c) for c in colour[:3])

    def redraw(self, *_):
        self.redraws.done()
        self.plot_item.clear()
        self.curves = []
        metric, summary = self.choice.metric(), self.choice.summary()
        if not metric:
            self.axes, self.run_ids, self.values = [], [], np.zeros(0)
            self.colour_bar.setText("No run of the sweep has recorded anything yet.")
            return
        if summary.kind == "auc" and not self.live.seeds:
            self.live.want_seeds()  # an AUC's band comes from the kept seeds: read them now
        summaries = self.live.runs.summaries(self.live.sweep, metric, summary)
        self.axes, self.run_ids, self.values = parallel_axes(
            self.live.sweep, summaries, summary.label(metric)
        )
        xs = np.arange(len(self.axes), dtype=float)
        for k, axis in enumerate(self.axes):
            self.plot_item.addItem(
                pg.PlotDataItem([k, k], [0, 1], pen=pg.mkPen(plot_style.AXIS_COLOUR, width=1.5))
            )
            for position, text in axis.ticks:
                label = pg.TextItem(text, color=plot_style.AXIS_COLOUR, anchor=(0, 0.5))
                label.setPos(k + 0.03, position)
                self.plot_item.addItem(label)
        order = np.argsort(self.values)  # the best-coloured lines last, on top
        for index in order.tolist():
            ys = np.array([axis.positions[index] for axis in self.axes])
            curve = pg.PlotCurveItem(
                xs,
                ys,
                pen=pg.mkPen(*self.colour_of(self.values[index]), 220, width=LINE_WIDTH),
                connect="finite",
                clickable=True,
            )
            curve.run_id = self.run_ids[index]
            curve.sigClicked.connect(self._clicked)
            self.plot_item.addItem(curve)
            self.curves.append(curve)
        bottom = self.plot_item.getAxis("bottom")
        bottom.setTicks([[(k, axis.name) for k, axis in enumerate(self.axes)]])
        self.plot_item.setXRange(-0.4, len(self.axes) - 0.6, padding=0)
        self.plot_item.setYRange(-0.05, 1.05, padding=0)
        finite = self.values[np.isfinite(self.values)]
        self.colour_bar.setText(
            f"{len(self.run_ids)} runs; colour: {summary.label(metric)} from "
            f"{finite.min():.4g} (dark) to {finite.max():.4g} (yellow)"
            if len(finite)
            else "No run has a value at this summary yet."
        )

    def _clicked(self, curve, *_):
        self.run_activated.emit(int(curve.run_id))

    def stop(self) -> None:
        self.live.stop()
