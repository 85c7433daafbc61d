"""A figure as data: what one exported plot shows, independent of how it is drawn.

A `Figure` holds curves (a mean with its 95% band, or a dashed theory bound) and point
sets (a Pareto front, dominated points, a reference point). It is built from stored
data (a run's `RunData`, or a comparison's groups) and then drawn three ways from the
same numbers: by pyqtgraph offscreen (PNG, SVG, PDF), as the CSV written beside the
figure, and by the matplotlib script that rebuilds it from that CSV. Labels read as the
live views': "cumulative regret", "upper bound (theory)".
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.metrics import pareto_front
from studio.plot_style import bound_label, metric_label

CSV_COLUMNS = ("series", "kind", "x", "y", "lo", "hi")
# `kind` in the CSV: how a row is drawn.
MEAN, BOUND, FRONT, DOMINATED, REFERENCE = "mean", "bound", "front", "dominated", "reference"
REGRET_METRIC = "cumulative_regret"
REFERENCE_WEIGHT = 1000.0
HYPERVOLUME_METRIC = "hypervolume"


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

    def is_empty(self) -> bool:
        return not any(len(c.steps) for c in self.curves) and not any(len(p.x) for p in self.points)


def emptiest_corner(figure: Figure) -> str:
    """The corner ("top-left", ...) whose quarter of the data's range holds the fewest drawn points.

    The legend goes there, so it hides as little of the data as it can. Bands count
    (their edges are drawn), each point once per curve.
    """
    xs, ys, weights = [], [], []
    for curve in figure.curves:
        for values in (curve.mean, curve.lo, curve.hi):
            if values is not None:
                xs.append(curve.steps)
                ys.append(values)
                weights.append(np.ones(len(values)))
    for points in figure.points:
        xs.append(points.x)
        ys.append(points.y)
        # A lone reference point matters as much as a whole curve: never cover it.
        weights.append(np.full(len(points.x), REFERENCE_WEIGHT if points.kind == REFERENCE else 1.0))
    if not xs:
        return "top-right"
    x, y = np.concatenate(xs).astype(float), np.concatenate(ys).astype(float)
    weight = np.concatenate(weights)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, weight = x[keep], y[keep], weight[keep]
    if len(x) == 0:
        return "top-right"
    span = lambda v: (v - v.min()) / (np.ptp(v) or 1.0)  # noqa: E731
    x, y = span(x), span(y)
    # Ties go to the corners a reader looks at last: top-right, then top-left.
    counts = {"top-right": weight[(x > 0.55) & (y > 0.55)].sum(), "top-left": weight[(x < 0.45) & (y > 0.55)].sum(),
              "bottom-right": weight[(x > 0.55) & (y < 0.45)].sum(),
              "bottom-left": weight[(x < 0.45) & (y < 0.45)].sum()}
    return min(counts, key=counts.get)


def mean_curve(label: str, summary: dict) -> Curve:
    """A seed-mean curve from a `SeedTable.summary()`-shaped dict (steps, mean, lo, hi)."""
    return Curve(label, np.asarray(summary["steps"], dtype=float), np.asarray(summary["mean"], dtype=float),
                 np.asarray(summary["lo"], dtype=float), np.asarray(summary["hi"], dtype=float))


def run_figure(data, plot_kind: str, metric: str | None = None, title: str = "") -> Figure:
    """The figure of one run, from its `RunData`, in the view its plot kind calls for.

    regret: cumulative regret with every theory bound the run recorded; pareto: the
    front of the latest recorded step (or `metric` against steps when one is named,
    e.g. hypervolume); curves: `metric`, else "loss", else the first metric.
    """
    if plot_kind == "pareto" and metric is None:
        return _pareto_figure(data, title)
    if metric is None:
        metric = REGRET_METRIC if plot_kind == "regret" else (
            "loss" if "loss" in data.tables else next(iter(data.tables), ""))
    figure = Figure(title or metric_label(metric), "step", metric_label(metric))
    table = data.tables.get(metric)
    if table is not None and table.rows:
        figure.curves.append(mean_curve("mean over seeds", table.summary()))
    if plot_kind == "regret" and metric == REGRET_METRIC:
        for bound in sorted(data.bounds):
            steps, values = data.bound_curve(bound)
            figure.curves.append(Curve(bound_label(bound), steps.astype(float), values, kind=BOUND))
    return figure


def _pareto_figure(data, title: str) -> Figure:
    points = np.asarray(data.pareto_points, dtype=float)
    names = list(data.objectives["names"]) if data.objectives else ["objective 1", "objective 2"]
    directions = list(data.objectives["directions"]) if data.objectives else ["min", "min"]
    at_step = f"Pareto front at step {data.pareto_step}"
    figure = Figure(f"{title}: {at_step}" if title else at_step,
                    f"{names[0]} ({directions[0]})", f"{names[1]} ({directions[1]})")
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] < 2:
        return figure
    directions = directions + ["min"] * (points.shape[1] - len(directions))
    front, indices = pareto_front(points, directions[: points.shape[1]])
    on_front = np.zeros(len(points), dtype=bool)
    on_front[indices] = True
    order = np.argsort(front[:, 0], kind="stable")
    figure.points.append(PointSet("dominated", points[~on_front, 0], points[~on_front, 1], DOMINATED))
    figure.points.append(PointSet("non-dominated", front[order, 0], front[order, 1], FRONT))
    if data.objectives and data.objectives.get("reference_point"):
        reference = data.objectives["reference_point"]
        figure.points.append(PointSet("reference point", np.array([reference[0]]), np.array([reference[1]]),
                                      REFERENCE))
    return figure


# -- the CSV beside an exported figure ---------------------------------------------------
def figure_rows(figure: Figure) -> list[dict]:
    """One row per drawn point: series (legend label), kind, x, y, lo, hi (empty where none)."""
    rows = []
    for curve in figure.curves:
        for i, (x, y) in enumerate(zip(curve.steps.tolist(), curve.mean.tolist())):
            lo = curve.lo[i] if curve.lo is not None else None
            hi = curve.hi[i] if curve.hi is not None else None
            rows.append({"series": curve.label, "kind": curve.kind, "x": x, "y": y, "lo": lo, "hi": hi})
    for points in figure.points:
        for x, y in zip(points.x.tolist(), points.y.tolist()):
            rows.append({"series": points.label, "kind": points.kind, "x": x, "y": y, "lo": None, "hi": None})
    return rows


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)


def write_figure_csv(figure: Figure, path) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in figure_rows(figure):
            writer.writerow([row["series"], row["kind"], _cell(row["x"]), _cell(row["y"]),
                             _cell(row["lo"]), _cell(row["hi"])])
    return path
