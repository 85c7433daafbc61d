"""Trade-off across the runs of a sweep: two or three summary metrics, one point per run.

Each objective is a metric, a summary of it (final, at step, best, AUC) and a direction
(min or max). Each run is a point at its objectives' means, with the 95% bands over its
seeds as error bars in every direction. The runs no other run dominates (on the means:
`engine.metrics.pareto.non_dominated_mask`) are highlighted and, for two objectives, joined
by the front's attainment staircase; the hypervolume of the front is computed against a
reference point just beyond the worst run in each objective (`auto_reference`). With three
objectives the view shows the three pairwise projections of the same front.

A scalarisation picks the best run for a weighting of the objectives: each objective is
turned to "smaller is better" and rescaled to [0, 1] over the runs (min-max), then the run
on the front with the smallest weighted sum sum_i w_i z_i (or Chebyshev max_i w_i z_i,
which can pick points in a concave part of the front that no weighted sum reaches) is
chosen. Weights are normalised to sum to one.

Embedding: `TradeoffView(store, sweep_id)`; `run_activated(run_id)` when a point is clicked,
`best_changed(run_id)` when the scalarisation picks another run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.metrics.hypervolume import hypervolume
from engine.metrics.pareto import non_dominated_mask, to_minimisation
from engine.metrics.run_summary import RunSummary, Summary
from studio.sweeps.data import SweepData, point_label
from studio.sweeps.live import LiveSweep, Redraws, SummaryChoice
from studio.views import plot_style
from studio.views.front_plot import reference_marker
from studio.views.pareto_summary import attainment_staircase

METHODS = ("weighted sum", "Chebyshev")
REFERENCE_MARGIN = 0.1  # the reference point lies this share of each range beyond the worst run
# Metrics that are better when larger; any other starts as "min" (the user can switch).
LARGER_IS_BETTER = ("reward", "accuracy", "hypervolume", "return", "retain", "auc", "score")


def default_direction(metric: str) -> str:
    name = metric.lower()
    if "regret" in name or "loss" in name or "error" in name:
        return "min"
    return "max" if any(word in name for word in LARGER_IS_BETTER) else "min"


@dataclass(frozen=True)
class Objective:
    metric: str
    summary: Summary
    direction: str  # "min" or "max"

    def label(self) -> str:
        return f"{self.summary.label(self.metric)} ({self.direction})"


@dataclass
class TradeoffPoints:
    """The runs with a value in every objective, in the sweep's point order."""

    run_ids: list[int]
    means: np.ndarray  # [n, d]
    lo: np.ndarray
    hi: np.ndarray
    on_front: np.ndarray  # [n] bool
    reference: np.ndarray  # [d]
    hypervolume: float


def auto_reference(means, directions, margin: float = REFERENCE_MARGIN) -> np.ndarray:
    """Just beyond the worst run in each objective: worst + margin x range (worse side); a
    zero range takes margin x |worst| (or margin) instead, so every run strictly dominates it."""
    pts = to_minimisation(np.asarray(means, dtype=float), directions)
    worst, best = pts.max(axis=0), pts.min(axis=0)
    span = worst - best
    span = np.where(span > 0, span, np.where(worst != 0, np.abs(worst), 1.0))
    reference = worst + margin * span
    sign = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    return reference * sign


def tradeoff_points(
    sweep: SweepData, summaries: list[dict[int, RunSummary]], directions: list[str]
) -> TradeoffPoints:
    """Runs as points in the objectives (one `summaries` dict per objective), the front on the
    means, and its hypervolume against `auto_reference`."""
    run_ids = [r for r in sweep.run_ids if all(r in s for s in summaries)]
    d = len(summaries)
    means = np.array([[s[r].mean for s in summaries] for r in run_ids], dtype=float).reshape(-1, d)
    lo = np.array([[s[r].lo for s in summaries] for r in run_ids], dtype=float).reshape(-1, d)
    hi = np.array([[s[r].hi for s in summaries] for r in run_ids], dtype=float).reshape(-1, d)
    if not run_ids:
        return TradeoffPoints([], means, lo, hi, np.zeros(0, bool), np.full(d, np.nan), 0.0)
    on_front = non_dominated_mask(means, directions)
    reference = auto_reference(means, directions)
    volume = hypervolume(means[on_front], reference, directions)
    return TradeoffPoints(run_ids, means, lo, hi, on_front, reference, volume)


def same_points(a: TradeoffPoints, b: TradeoffPoints) -> bool:
    """Whether two sets of runs in the objectives draw the same (NaN equal to NaN)."""
    if a.run_ids != b.run_ids:
        return False
    pairs = ((a.means, b.means), (a.lo, b.lo), (a.hi, b.hi), (a.on_front, b.on_front))
    return all(np.array_equal(u, v, equal_nan=True) for u, v in pairs)


def scalarised_best(means, directions, weights, method: str = "weighted sum", candidates=None):
    """Index of the run with the best scalarisation among `candidates` (a mask; all runs when
    None); None when there is none. Ties go to the first run."""
    pts = to_minimisation(np.asarray(means, dtype=float), directions)
    if not len(pts):
        return None
    candidates = np.ones(len(pts), bool) if candidates is None else np.asarray(candidates, bool)
    if not candidates.any():
        return None
    w = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
    low, high = pts.min(axis=0), pts.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    z = (pts - low) / span
    if method == "weighted sum":
        score = z @ w
    elif method == "Chebyshev":
        score = (z * w).max(axis=1)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    score = np.where(candidates, score, np.inf)
    return int(np.argmin(score))


class ObjectiveRow(QWidget):
    changed = Signal()

    def __init__(self, label: str, parent=None):
        super().__init__(parent)
        self.choice = SummaryChoice(label=label)
        self.direction = QComboBox()
        self.direction.addItems(["min", "max"])
        self.direction.setToolTip("Whether smaller or larger values of this objective are better.")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choice, 1)
        layout.addWidget(self.direction)
        self.choice.changed.connect(self._metric_changed)
        self.direction.currentIndexChanged.connect(self.changed)
        self._last_metric = ""

    def _metric_changed(self):
        metric = self.choice.metric()
        if metric and metric != self._last_metric:
            self._last_metric = metric
            self.direction.blockSignals(True)
            self.direction.setCurrentText(default_direction(metric))
            self.direction.blockSignals(False)
        self.changed.emit()

    def objective(self) -> Objective:
        return Objective(self.choice.metric(), self.choice.summary(), self.direction.currentText())

    def set_objective(self, objective: Objective) -> None:
        self.blockSignals(True)
        self.choice.set_choice(objective.metric, objective.summary)
        self.direction.setCurrentText(objective.direction)
        self.blockSignals(False)
        self.changed.emit()


class ProjectionPlot:
    """Objectives (i, j) of the runs: error bars, dominated runs faded, the front highlighted."""

    def __init__(self, axes: tuple[int, int]):
        self.axes = axes
        self.plot = plot_style.new_plot("", "top-right", downsampling=False)
        item = self.plot.getPlotItem()
        self.bars = pg.ErrorBarItem(pen=pg.mkPen(110, 110, 110, 150), beam=0)
        self.dominated = pg.ScatterPlotItem(
            size=8, pen=None, brush=pg.mkBrush(*plot_style.DOMINATED_COLOUR)
        )
        self.staircase = pg.PlotDataItem(pen=pg.mkPen(plot_style.FRONT_COLOUR, width=1.5))
        self.front = pg.ScatterPlotItem(
            size=10, pen=pg.mkPen("w"), brush=pg.mkBrush(*plot_style.FRONT_COLOUR)
        )
        self.chosen = pg.ScatterPlotItem(
            size=20, symbol="o", pen=pg.mkPen(plot_style.AXIS_COLOUR, width=2), brush=None
        )
        self.reference = reference_marker()
        for graphic in (
            self.bars,
            self.dominated,
            self.staircase,
            self.front,
            self.chosen,
            self.reference,
        ):
            item.addItem(graphic)
        legend = item.legend
        legend.addItem(self.front, "non-dominated runs")
        legend.addItem(self.dominated, "dominated runs")
        legend.addItem(self.chosen, "best for the weights")
        legend.addItem(self.reference, "reference point")
        if axes != (0, 1):  # three projections side by side: one legend says it for all
            legend.hide()
        self._labels: tuple | None = None
        self._corner = ""

    def show(self, points: TradeoffPoints, objectives: list[Objective], chosen: int | None):
        i, j = self.axes
        m, lo, hi = points.means, points.lo, points.hi
        ids = np.array(points.run_ids, dtype=np.int64)
        front, dominated = points.on_front, ~points.on_front
        self.front.setData(m[front, i], m[front, j], data=ids[front])
        self.dominated.setData(m[dominated, i], m[dominated, j], data=ids[dominated])
        if len(m):

            def half(a, b):
                return np.nan_to_num(np.clip(a - b, 0, None))

            self.bars.setData(
                x=m[:, i],
                y=m[:, j],
                left=half(m[:, i], lo[:, i]),
                right=half(hi[:, i], m[:, i]),
                bottom=half(m[:, j], lo[:, j]),
                top=half(hi[:, j], m[:, j]),
            )
            self.reference.setData([points.reference[i]], [points.reference[j]])
        else:
            self.bars.setData(x=np.zeros(0), y=np.zeros(0))
            self.reference.setData([], [])
        if len(objectives) == 2 and front.sum() >= 2:
            directions = [objectives[i].direction, objectives[j].direction]
            self.staircase.setData(*attainment_staircase(m[front][:, [i, j]], directions))
        else:
            self.staircase.setData([], [])
        if chosen is None:
            self.chosen.setData([], [])
        else:
            self.chosen.setData([m[chosen, i]], [m[chosen, j]])
        labels = (objectives[i].label(), objectives[j].label())
        if labels != self._labels:  # a new label lays the axis out and repaints it
            plot_style.set_axis_labels(self.plot, *labels)
            self._labels = labels
        self._place_legend(points, objectives)

    def _place_legend(self, points: TradeoffPoints, objectives: list[Objective]) -> None:
        """Where it hides fewest runs, never over the reference point: the front runs between
        the two off-diagonal corners and the reference sits in the nadir corner, so those
        two corners come first (as in the Pareto view)."""
        i, j = self.axes
        if not len(points.means):
            return
        vertical = ("bottom", "top") if objectives[j].direction == "min" else ("top", "bottom")
        horizontal = ("left", "right") if objectives[i].direction == "min" else ("right", "left")
        ideal, nadir = f"{vertical[0]}-{horizontal[0]}", f"{vertical[1]}-{horizontal[1]}"
        order = (f"{vertical[1]}-{horizontal[0]}", f"{vertical[0]}-{horizontal[1]}", ideal, nadir)
        xs = np.r_[points.means[:, i], points.reference[i]]
        ys = np.r_[points.means[:, j], points.reference[j]]
        weights = np.r_[np.ones(len(points.means)), len(points.means) + 1.0]
        corner = plot_style.emptiest_corner(xs, ys, order, weights=weights)
        if corner != self._corner:
            self.plot.getPlotItem().legend.setOffset(plot_style.legend_offset(corner))
            self._corner = corner


class TradeoffView(QWidget):
    run_activated = Signal(int)  # a point was clicked: the id of its run
    best_changed = Signal(int)  # the scalarisation picks this run now (-1: none)

    def __init__(self, store, sweep_id: int, parent=None, live: LiveSweep | None = None):
        super().__init__(parent)
        self.live = live or LiveSweep(store, sweep_id, self)
        self.redraws = Redraws(self, self.redraw)
        self._drawn = None  # (objectives, points) last drawn
        self.points: TradeoffPoints | None = None
        self.best_index: int | None = None
        self._last_best = None
        self.rows = [ObjectiveRow(f"objective {k + 1}:") for k in range(3)]
        self.third = QCheckBox("third objective")
        self.method_combo = QComboBox()
        self.method_combo.addItems(METHODS)
        self.method_combo.setToolTip(
            "weighted sum: sum of w_i z_i; Chebyshev: max of w_i z_i, which also reaches the\n"
            "concave parts of a front. z_i: objective i turned to 'smaller is better' and\n"
            "rescaled to [0, 1] over the runs."
        )
        self.sliders = [QSlider(Qt.Orientation.Horizontal) for _ in range(3)]
        self.slider_labels = [QLabel() for _ in range(3)]
        for slider in self.sliders:
            slider.setRange(0, 100)
            slider.setValue(50)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plots = [ProjectionPlot(axes) for axes in ((0, 1), (0, 2), (1, 2))]
        for plot in self.plots:
            for scatter in (plot.front, plot.dominated):
                scatter.sigClicked.connect(self._clicked)

        objectives = QVBoxLayout()
        for row in self.rows:
            objectives.addWidget(row)
        objectives.addWidget(self.third)
        weights = QGridLayout()
        weights.addWidget(QLabel("best run by:"), 0, 0)
        weights.addWidget(self.method_combo, 0, 1)
        for k, (slider, label) in enumerate(zip(self.sliders, self.slider_labels)):
            weights.addWidget(label, k + 1, 0)
            weights.addWidget(slider, k + 1, 1)
        top = QHBoxLayout()
        top.addLayout(objectives, 3)
        top.addLayout(weights, 2)
        plots = QHBoxLayout()
        for plot in self.plots:
            plots.addWidget(plot.plot)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        layout.addWidget(self.summary_label)

        metrics = self.live.runs.metrics()
        for k, row in enumerate(self.rows):
            row.choice.set_metrics(metrics)
            if k < len(metrics):
                row.choice.metric_combo.setCurrentIndex(k)
            row.changed.connect(self.redraw)
        self.third.toggled.connect(self.redraw)
        self.method_combo.currentIndexChanged.connect(self._pick)
        for slider in self.sliders:
            slider.valueChanged.connect(self._pick)
        self.live.updated.connect(self._updated)
        self.redraw()

    # -- choices ------------------------------------------------------------------------------
    def objectives(self) -> list[Objective]:
        count = 3 if self.third.isChecked() else 2
        return [row.objective() for row in self.rows[:count]]

    def set_objectives(self, objectives: list[Objective]) -> None:
        self.third.blockSignals(True)
        self.third.setChecked(len(objectives) == 3)
        self.third.blockSignals(False)
        for row, objective in zip(self.rows, objectives):
            row.blockSignals(True)
            row.set_objective(objective)
            row.blockSignals(False)
        self.redraw()

    def weights(self) -> list[float]:
        """The scalarisation's weights, normalised to sum to one."""
        if len(self.objectives()) == 2:
            w = self.sliders[0].value() / 100
            return [w, 1 - w]
        raw = np.array([s.value() for s in self.sliders], dtype=float)
        return (raw / raw.sum()).tolist() if raw.sum() > 0 else [1 / 3] * 3

    def set_weights(self, weights) -> None:
        """Move the sliders: two objectives take the first weight (the second is 1 - it)."""
        for slider, w in zip(self.sliders, weights):
            slider.setValue(round(100 * w))

    # -- data ---------------------------------------------------------------------------------
    def _updated(self, _changed) -> None:
        metrics = self.live.runs.metrics()
        for row in self.rows:
            row.choice.set_metrics(metrics)
        self.redraws.request()

    def refresh(self) -> None:
        """Read what is new now and draw it (the view also reads on its own, once a second,
        and then draws at most every REDRAW_MS, only while it is shown)."""
        self.live.refresh()
        self.redraws.flush()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraws.shown()

    def redraw(self, *_):
        self.redraws.done()
        objectives = self.objectives()
        three = len(objectives) == 3
        self.rows[2].setVisible(three)
        for plot in self.plots[1:]:
            plot.plot.setVisible(three)
        if any(not o.metric for o in objectives):
            self.points = None
            self._drawn = None
            self.summary_label.setText("Choose two metrics the runs recorded.")
            return
        if any(o.summary.kind == "auc" for o in objectives) and not self.live.seeds:
            self.live.want_seeds()  # an AUC's band comes from the kept seeds: read them now
        summaries = [
            self.live.runs.summaries(self.live.sweep, o.metric, o.summary) for o in objectives
        ]
        points = tradeoff_points(self.live.sweep, summaries, [o.direction for o in objectives])
        if (
            self._drawn is not None
            and self._drawn[0] == objectives
            and same_points(self._drawn[1], points)
        ):
            return  # nothing new for these objectives: the plots stay as they are
        self.points = points
        self._drawn = (objectives, points)
        self._pick()

    def _pick(self, *_):
        objectives = self.objectives()
        three = len(objectives) == 3
        if three:
            for k, label in enumerate(self.slider_labels):
                label.setText(f"weight on {objectives[k].metric}: {self.weights()[k]:.2f}")
        else:
            w = self.weights()
            self.slider_labels[0].setText(
                f"weight on {objectives[0].metric}: {w[0]:.2f}, on {objectives[1].metric}: {w[1]:.2f}"
            )
        for k in (1, 2):
            self.sliders[k].setVisible(three)
            self.slider_labels[k].setVisible(three)
        points = self.points
        if points is None:
            return
        self.best_index = scalarised_best(
            points.means,
            [o.direction for o in objectives],
            self.weights(),
            self.method_combo.currentText(),
            points.on_front,
        )
        for plot in self.plots[: 3 if three else 1]:
            plot.show(points, objectives, self.best_index)
        self.summary_label.setText(self._summary_text(objectives))
        best = self.best_run_id()
        if best != self._last_best:
            self._last_best = best
            self.best_changed.emit(-1 if best is None else best)

    def best_run_id(self) -> int | None:
        if self.points is None or self.best_index is None:
            return None
        return self.points.run_ids[self.best_index]

    def front_run_ids(self) -> list[int]:
        if self.points is None:
            return []
        return [r for r, on in zip(self.points.run_ids, self.points.on_front) if on]

    def _summary_text(self, objectives) -> str:
        points = self.points
        if not points.run_ids:
            return "No run has a value in every objective yet."
        reference = ", ".join(f"{v:.4g}" for v in points.reference)
        lines = [
            f"{len(points.run_ids)} runs, {int(points.on_front.sum())} non-dominated (on the "
            f"means); hypervolume of the front {points.hypervolume:.6g} "
            f"(reference point ({reference}): {REFERENCE_MARGIN:.0%} of each range beyond the "
            "worst run). Error bars: 95% bands over each run's seeds."
        ]
        best = self.best_run_id()
        if best is not None:
            point = next(p for p in self.live.sweep.points if p.run_id == best)
            values = ", ".join(
                f"{o.summary.label(o.metric)} = {v:.4g}"
                for o, v in zip(objectives, points.means[self.best_index])
            )
            lines.append(
                f"Best by {self.method_combo.currentText()} at weights "
                f"{', '.join(f'{w:.2f}' for w in self.weights())}: "
                f"{point_label(self.live.sweep, point)} ({values})"
            )
        return "\n".join(lines)

    def _clicked(self, _scatter, spots, *_):
        if len(spots):
            self.run_activated.emit(int(spots[0].data()))

    def stop(self) -> None:
        self.live.stop()
