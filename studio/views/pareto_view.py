"""The "pareto" plot kind: fronts, an editable reference point, and hypervolume over time.

The front is that of the latest recorded step, every seed's points pooled: what the run
has found so far. Directions come from the run's declared objectives, so a maximised
objective is respected. Two objectives: one plot, the front bounded by its staircase;
three or more: every pairwise projection (the front still computed in all of them).

The reference point starts as the run's declared one (or, if it declared none, just
beyond the worst point of each objective); type it in the boxes or drag its handle in
any plot, and the hypervolume of the front shown follows at once. Beside the fronts,
the hypervolume per seed against steps: the run's own "hypervolume" metric while the
reference point is the one it was recorded with, otherwise recomputed from the stored
points of every recorded step at the new reference point (the title says which).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.views import plot_style
from studio.views.front_plot import FrontPlot
from studio.views.pareto_summary import (
    FrontSnapshot,
    declared_reference,
    default_reference_point,
    hypervolume_trace,
    latest_front,
)
from studio.views.run_data import RunData
from studio.views.series_plot import SeriesPlot, SeriesSource

HYPERVOLUME_METRIC = "hypervolume"
GRID_COLUMNS = 2
# Below this width a two-objective front and its hypervolume trace are stacked, not side by side.
SIDE_BY_SIDE_MIN_WIDTH = 900


class ReferenceEditor(QWidget):
    """One box per objective; `changed` carries the whole point when the user edits one."""

    changed = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addWidget(QLabel("reference point:"))
        self.boxes: list[QDoubleSpinBox] = []

    def set_objectives(self, names: list[str]) -> None:
        if [b.prefix() for b in self.boxes] == [f"{n} " for n in names]:
            return
        for box in self.boxes:
            self.row.removeWidget(box)
            box.deleteLater()
        self.boxes = []
        for name in names:
            box = QDoubleSpinBox()
            box.setRange(-1e12, 1e12)
            box.setDecimals(4)
            box.setPrefix(f"{name} ")
            box.setKeyboardTracking(False)
            box.setMaximumWidth(200)  # one update per finished edit, not per keystroke
            box.setToolTip(f"Reference value of {name} for the hypervolume.")
            box.valueChanged.connect(lambda _v: self.changed.emit(self.values()))
            self.row.addWidget(box)
            self.boxes.append(box)

    def values(self) -> list[float]:
        return [box.value() for box in self.boxes]

    def set_values(self, values: list[float]) -> None:
        for box, value in zip(self.boxes, values):
            box.blockSignals(True)
            box.setSingleStep(max(abs(value) * 0.05, 1e-3))
            box.setValue(value)
            box.blockSignals(False)


class ParetoView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.reference_editor = ReferenceEditor()
        self.reset_button = QPushButton("reset")
        self.reset_button.setToolTip("Back to the reference point the run declared.")
        self.hypervolume_label = QLabel()
        self.hypervolume_label.setTextFormat(Qt.TextFormat.RichText)
        self.hypervolume_label.setWordWrap(True)
        self.hypervolume_label.setMinimumWidth(120)
        self.notice = QLabel()
        self.notice.setStyleSheet("color: #8a6d00;")
        self.notice.hide()
        top = QHBoxLayout()
        top.setContentsMargins(4, 0, 4, 0)
        top.addWidget(self.reference_editor)
        top.addWidget(self.reset_button)
        top.addSpacing(12)
        top.addWidget(self.hypervolume_label, 1)
        self.grid = QGridLayout()
        self.grid.setSpacing(4)
        self.hypervolume = SeriesPlot("Hypervolume per seed", legend_corner="bottom-right")
        self.hypervolume.set_metric(HYPERVOLUME_METRIC)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addLayout(self.grid, 1)
        self.projections: list[FrontPlot] = []
        self.snapshots: list[FrontSnapshot] = []
        self.hypervolumes: list[float] = []
        self.reference: list[float] | None = None
        self.reference_source = ""  # "declared", "estimated" or "user"
        self._runs: list[tuple[str, RunData]] = []
        self._drawn: list[tuple[str, RunData]] = []  # the runs whose objectives match: those drawn
        self._overlay = False
        self._stacked = False
        self._traces: dict[int, tuple[tuple, object]] = {}
        self._trace_timer = QTimer(self)
        self._trace_timer.setSingleShot(True)
        self._trace_timer.setInterval(0)  # coalesces a drag's many moves into one recomputation
        self._trace_timer.timeout.connect(self._update_trace)
        self.reference_editor.changed.connect(self.set_reference_point)
        self.reset_button.clicked.connect(self.reset_reference_point)
        self._lay_out(2)

    @property
    def front_plot(self):
        """The first (for two objectives, the only) front plot widget."""
        return self.projections[0].plot

    # -- drawing ----------------------------------------------------------------------------
    def render(self, data: RunData) -> None:
        self._runs, self._overlay = [("", data)], False
        self._draw()

    def render_overlay(self, runs: list[tuple[str, RunData]]) -> None:
        """Several runs' fronts in the same plots, each in its own colour, labelled in the legend."""
        self._runs, self._overlay = list(runs), True
        self._draw()

    def _draw(self) -> None:
        snapshots = [latest_front(data, label) for label, data in self._runs]
        shaped = [s for s in snapshots if len(s.points)]
        first = shaped[0] if shaped else (snapshots[0] if snapshots else None)
        if first is not None:
            mismatched = [
                s for s in shaped if (s.names, s.directions) != (first.names, first.directions)
            ]
            shaped = [
                s for s in shaped if (s.names, s.directions) == (first.names, first.directions)
            ]
            self.notice.setText(
                "Not drawn, their objectives differ from the first run's: "
                + ", ".join(s.label or "run" for s in mismatched)
            )
            self.notice.setVisible(bool(mismatched))
        self.snapshots = shaped
        drawn = {id(s) for s in shaped}
        self._drawn = [
            run
            for run, snapshot in zip(self._runs, snapshots)
            if id(snapshot) in drawn or not shaped
        ]
        dimensions = first.dimensions if first is not None and first.dimensions >= 2 else 2
        self._lay_out(dimensions)
        for index, projection in enumerate(self.projections):
            projection.show_runs(self.snapshots, self._overlay)
            # One legend says it for every projection; the others keep their points clear.
            projection.plot_item.legend.setVisible(index == 0)
        if first is not None:
            self.reference_editor.set_objectives(first.names)
        if (
            self.reference_source != "user"
            or self.reference is None
            or len(self.reference) != dimensions
        ):
            self._choose_reference(dimensions)
        self._place_reference()
        self._set_titles()

    def _lay_out(self, dimensions: int) -> None:
        pairs = [(0, 1)] if dimensions == 2 else list(itertools.combinations(range(dimensions), 2))
        if [p.axes for p in self.projections] == pairs:
            return
        for projection in self.projections:
            self.grid.removeWidget(projection.plot)
            projection.plot.hide()
            projection.plot.deleteLater()
            projection.deleteLater()
        self.grid.removeWidget(self.hypervolume)
        self.projections = []
        columns = GRID_COLUMNS if dimensions > 2 else 2
        for index, axes in enumerate(pairs):
            projection = FrontPlot(axes, self)
            projection.reference_dragged.connect(self._reference_dragged)
            self.grid.addWidget(projection.plot, index // columns, index % columns)
            self.projections.append(projection)
        self._place_hypervolume()

    def _place_hypervolume(self) -> None:
        """The trace goes in the next free cell; a lone 2-D front gets it beside or below it."""
        cell, columns = len(self.projections), GRID_COLUMNS
        stacked = cell == 1 and self.width() < SIDE_BY_SIDE_MIN_WIDTH
        self.grid.removeWidget(self.hypervolume)
        if stacked:
            self.grid.addWidget(self.hypervolume, 1, 0)
        else:
            self.grid.addWidget(self.hypervolume, cell // columns, cell % columns)
        self._stacked = stacked
        for column in range(columns):
            self.grid.setColumnStretch(
                column, 0 if stacked and column == 1 else 3 if cell == 1 and column == 0 else 2
            )
        for row, stretch in enumerate((2, 1) if stacked else (0, 0)):
            self.grid.setRowStretch(row, stretch)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if len(self.projections) == 1 and (self.width() < SIDE_BY_SIDE_MIN_WIDTH) != self._stacked:
            self._place_hypervolume()

    def _set_titles(self) -> None:
        first = self.snapshots[0] if self.snapshots else None
        if first is None:
            title = "Pareto front (no points yet)"
        elif self._overlay:
            title = f"Pareto fronts of {len(self.snapshots)} runs, last recorded step"
        else:
            title = (
                f"Pareto front at step {first.step}: {int(first.on_front.sum())} of "
                f"{len(first.points)} non-dominated"
            )
        for projection in self.projections:
            if len(self.projections) > 1 and first is not None:
                i, j = projection.axes
                title_here = f"{first.names[j]} against {first.names[i]}"
            else:
                title_here = title
            projection.plot_item.setTitle(title_here, **plot_style.TITLE_STYLE)

    # -- the reference point --------------------------------------------------------------------
    def _choose_reference(self, dimensions: int) -> None:
        for _, data in self._drawn:
            declared = declared_reference(data.objectives, dimensions)
            if declared is not None:
                self.reference, self.reference_source = declared, "declared"
                return
        if self.snapshots:
            pooled = np.vstack([s.points for s in self.snapshots])
            self.reference = default_reference_point(pooled, self.snapshots[0].directions)
            self.reference_source = "estimated"
        else:
            self.reference, self.reference_source = None, ""

    def set_reference_point(self, values) -> None:
        """Use `values` (one per objective) as the reference point, as if the user typed it."""
        values = [float(v) for v in values]
        if self.reference is not None and len(values) != len(self.reference):
            raise ValueError(
                f"the reference point needs {len(self.reference)} values; got {len(values)}"
            )
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            raise ValueError(f"reference point values must be finite; got {values}")
        self.reference, self.reference_source = values, "user"
        self._place_reference()

    def reset_reference_point(self) -> None:
        self.reference_source = ""
        self._choose_reference(len(self.reference) if self.reference else 2)
        self._place_reference()

    def _reference_dragged(self, i: int, j: int, x: float, y: float) -> None:
        if self.reference is None:
            return
        moved = list(self.reference)
        moved[i], moved[j] = x, y
        self.set_reference_point(moved)

    def _place_reference(self) -> None:
        if self.reference is None:
            self.hypervolumes = []
            self.hypervolume_label.setText("")
            return
        for projection in self.projections:
            projection.set_reference(self.reference)
        self.reference_editor.set_values(self.reference)
        self.reset_button.setEnabled(self.reference_source == "user")
        self.hypervolumes = [s.hypervolume(self.reference) for s in self.snapshots]
        self._update_label()
        self._trace_timer.start()

    def _update_label(self) -> None:
        origin = {
            "declared": "at the run's reference point",
            "estimated": "at an estimated reference point: the run declared none",
            "user": "at the reference point set here",
        }.get(self.reference_source, "")
        if self._overlay:
            parts = [
                f"<span style='color:rgb{plot_style.run_colour(k)}'>■</span> {s.label}: {hv:.6g}"
                for k, (s, hv) in enumerate(zip(self.snapshots, self.hypervolumes))
            ]
            text = "hypervolume: " + "  ".join(parts)
        else:
            text = (
                f"hypervolume of the front shown: <b>{self.hypervolumes[0]:.6g}</b>"
                if self.hypervolumes
                else ""
            )
            if len(self.projections) > 1 and self.snapshots:
                s = self.snapshots[0]
                text = f"step {s.step}: {int(s.on_front.sum())} of {len(s.points)} non-dominated · {text}"
        self.hypervolume_label.setText(f"{text} <span style='color:#707070'>({origin})</span>")

    # -- hypervolume over time --------------------------------------------------------------------
    def _update_trace(self) -> None:
        recorded = self.reference_source == "declared"
        sources = []
        for index, (label, data) in enumerate(self._drawn):
            if recorded and HYPERVOLUME_METRIC in data.metrics():
                sources.append(SeriesSource.of(label, data, HYPERVOLUME_METRIC))
                continue
            if self.reference is not None and len(data.pareto):
                table = self._recomputed_trace(index, data)
            else:
                table = None
            sources.append(SeriesSource(label, table))
        self.hypervolume.draw(sources, overlay=self._overlay)
        how = "recorded by the run" if recorded else "recomputed"
        self.hypervolume.plot_item.setTitle(
            f"Hypervolume per seed ({how})", **plot_style.TITLE_STYLE
        )

    def _recomputed_trace(self, index: int, data: RunData):
        directions = (
            self.snapshots[0].directions if self.snapshots else ["min"] * len(self.reference)
        )
        key = (id(data), len(data.pareto), tuple(self.reference), tuple(directions))
        cached = self._traces.get(index)
        if cached is None or cached[0] != key:
            cached = self._traces[index] = (
                key,
                hypervolume_trace(data.pareto, self.reference, directions),
            )
        return cached[1]
