"""A figure as data: what one exported plot shows, independent of how it is drawn.

A `Figure` holds curves (a mean with its 95% band, or a dashed theory bound) and point
sets (a Pareto front, its attainment staircase, dominated points, a reference point), or,
for a run of three or more objectives, `panels`: one sub-figure per pair of objectives,
as the Pareto view shows them. It is built from stored
data (a run's `RunData`, or a comparison's groups) and then drawn three ways from the
same numbers: by pyqtgraph offscreen (PNG, SVG, PDF), as the CSV written beside the
figure, and by the matplotlib script that rebuilds it from that CSV. Labels read as the
live views': "cumulative regret", "upper bound (theory)".
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.views import kinds
from studio.views.pareto_summary import attainment_staircase, declared_reference, latest_front
from studio.views.plot_style import bound_label, bounds_in_order, metric_label

CSV_COLUMNS = ("series", "kind", "x", "y", "lo", "hi")
# `kind` in the CSV: how a row is drawn.
MEAN, BOUND, FRONT, DOMINATED, REFERENCE = "mean", "bound", "front", "dominated", "reference"
ATTAINMENT = "attainment"  # a two-objective front's staircase: drawn as a line through its vertices


@dataclass
class Curve:
    """A line against steps: a seed-mean with its band (lo, hi), or a theory bound (dashed)."""

    label: str
    steps: np.ndarray
    mean: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    kind: str = MEAN


@dataclass
class PointSet:
    label: str
    x: np.ndarray
    y: np.ndarray
    kind: str = FRONT


@dataclass
class Figure:
    title: str
    x_label: str
    y_label: str
    curves: list[Curve] = field(default_factory=list)
    points: list[PointSet] = field(default_factory=list)
    panels: list[Figure] = field(default_factory=list)  # drawn side by side, one legend for all

    def is_empty(self) -> bool:
        return (
            not any(len(c.steps) for c in self.curves)
            and not any(len(p.x) for p in self.points)
            and all(panel.is_empty() for panel in self.panels)
        )


def mean_curve(label: str, summary: dict) -> Curve:
    """A seed-mean curve from an `AggregateTable.summary()`-shaped dict (steps, mean, lo, hi)."""
    return Curve(
        label,
        np.asarray(summary["steps"], dtype=float),
        np.asarray(summary["mean"], dtype=float),
        np.asarray(summary["lo"], dtype=float),
        np.asarray(summary["hi"], dtype=float),
    )


def run_figure(data, plot_kind: str, metric: str | None = None, title: str = "") -> Figure:
    """The figure of one run, from its `RunData`, in the view its plot kind calls for
    (`studio.views.kinds`).

    A kind whose figure is the front: the front of the latest recorded step (or `metric`
    against steps when one is named, e.g. hypervolume). Otherwise `metric`, else the kind's
    default metric, else the first metric, against steps; with the run's theory bounds
    where the kind draws them with its default metric (regret).
    """
    kind = kinds.kind_of(plot_kind)
    if kind.figure == kinds.FRONT and metric is None:
        return _pareto_figure(data, title)
    if metric is None:
        # A kind with theory bounds keeps its metric even when unmeasured: a theory-only
        # run's figure is then its bounds.
        metrics = data.metrics()
        metric = (
            kind.default_metric
            if kind.default_metric in metrics or kind.theory_bounds
            else next(iter(metrics), "")
        )
    figure = Figure(title or metric_label(metric), "step", metric_label(metric))
    statistics = data.statistics(metric)  # the aggregates over every seed, not only the kept ones
    if statistics is not None and statistics.rows:
        figure.curves.append(mean_curve("mean over seeds", statistics.summary()))
    if kind.theory_bounds and metric == kind.default_metric:
        for bound in bounds_in_order(data.bounds):  # coloured as the live view colours them
            steps, values = data.bound_curve(bound)
            figure.curves.append(Curve(bound_label(bound), steps.astype(float), values, kind=BOUND))
    return figure


def _pareto_figure(data, title: str) -> Figure:
    """What the Pareto view shows of the latest recorded step: for two objectives one plot
    with the front's attainment staircase; for more, every pairwise projection, points only."""
    snapshot = latest_front(data)
    names, directions = snapshot.names, snapshot.directions
    at_step = f"Pareto front at step {data.pareto_step}"
    if len(snapshot.points):
        at_step += f": {int(snapshot.on_front.sum())} of {len(snapshot.points)} non-dominated"
    figure = Figure(
        f"{title}: {at_step}" if title else at_step,
        f"{names[0]} ({directions[0]})",
        f"{names[1]} ({directions[1]})",
    )
    points = snapshot.points
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] < 2:
        return figure
    reference = declared_reference(data.objectives, points.shape[1])
    if points.shape[1] == 2:
        figure.points = _projection(snapshot, (0, 1), reference, staircase=True)
        return figure
    for i, j in itertools.combinations(range(points.shape[1]), 2):
        figure.panels.append(
            Figure(
                f"{names[j]} against {names[i]}",
                f"{names[i]} ({directions[i]})",
                f"{names[j]} ({directions[j]})",
                points=_projection(snapshot, (i, j), reference, staircase=False),
            )
        )
    return figure


def _projection(snapshot, axes: tuple[int, int], reference, staircase: bool) -> list[PointSet]:
    i, j = axes
    points, on_front = snapshot.points, snapshot.on_front
    front = snapshot.front_order(i)
    sets = [
        PointSet("dominated", points[~on_front, i], points[~on_front, j], DOMINATED),
        PointSet("non-dominated", points[front, i], points[front, j], FRONT),
    ]
    if staircase:
        x, y = attainment_staircase(
            points[front][:, [i, j]], [snapshot.directions[i], snapshot.directions[j]]
        )
        sets.append(PointSet("attainment surface", x, y, ATTAINMENT))
    if reference is not None:
        sets.append(
            PointSet(
                "reference point", np.array([reference[i]]), np.array([reference[j]]), REFERENCE
            )
        )
    return sets


# -- the CSV beside an exported figure ---------------------------------------------------
def figure_rows(figure: Figure) -> list[dict]:
    """One row per drawn point: series (legend label), kind, x, y, lo, hi (empty where none);
    for a figure of panels, each row also says its `panel` (0, 1, ... in drawing order)."""
    if figure.panels:
        return [
            {"panel": index, **row}
            for index, panel in enumerate(figure.panels)
            for row in figure_rows(panel)
        ]
    rows = []
    for curve in figure.curves:
        for i, (x, y) in enumerate(zip(curve.steps.tolist(), curve.mean.tolist())):
            lo = curve.lo[i] if curve.lo is not None else None
            hi = curve.hi[i] if curve.hi is not None else None
            rows.append(
                {"series": curve.label, "kind": curve.kind, "x": x, "y": y, "lo": lo, "hi": hi}
            )
    for points in figure.points:
        for x, y in zip(points.x.tolist(), points.y.tolist()):
            rows.append(
                {
                    "series": points.label,
                    "kind": points.kind,
                    "x": x,
                    "y": y,
                    "lo": None,
                    "hi": None,
                }
            )
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)


def write_figure_csv(figure: Figure, path) -> Path:
    path = Path(path)
    panel = ["panel"] if figure.panels else []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(panel + list(CSV_COLUMNS))
        for row in figure_rows(figure):
            writer.writerow(
                [row[key] for key in panel]
                + [
                    row["series"],
                    row["kind"],
                    _cell(row["x"]),
                    _cell(row["y"]),
                    _cell(row["lo"]),
                    _cell(row["hi"]),
                ]
            )
    return path
