"""One two-objective picture of Pareto fronts: the whole plot for two objectives, one
pairwise projection for three or more.

Per run (`FrontLayer`): dominated points faded, non-dominated points highlighted and,
when the plot shows the only two objectives there are, bounded by the front's
attainment surface (a staircase: `pareto_summary.attainment_staircase`). A projection of
a front in three or more objectives is only points: a line through them would claim an
order they do not have. The reference point is drawn as a marker (`reference_marker`)
and can be dragged (a `TargetItem`); hovering a point says what produced it.

`FrontLayer` and `reference_marker` draw the exported figures too (`studio.export.render`),
so a figure shows what the view shows, in the same marks.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from studio.views import plot_style
from studio.views.hover import HOVER_RADIUS_PX, Hover, HoverReadout, pixel_distances
from studio.views.pareto_summary import FrontSnapshot, attainment_staircase

DOMINATED_ALPHA = 70
DOMINATED_SIZE, FRONT_SIZE, REFERENCE_SIZE = 7, 9, 12  # marker sizes in pixels at scale 1
FRONT_LINE_WIDTH = 1.5


def reference_marker(scale: float = 1.0, pen_scale: float = 1.0) -> pg.ScatterPlotItem:
    """The reference point's marker: a dark cross."""
    return pg.ScatterPlotItem(
        symbol="x",
        size=REFERENCE_SIZE * scale,
        pen=pg.mkPen(plot_style.REFERENCE_COLOUR, width=pen_scale),
        brush=pg.mkBrush(plot_style.REFERENCE_COLOUR),
    )


class FrontLayer:
    """One run's points in one projection. An exported figure, laid out at paper size, scales
    marker sizes by `scale` and line widths by `scale * pen_scale` (pens are device pixels wide)."""

    def __init__(self, plot_item: pg.PlotItem, scale: float = 1.0, pen_scale: float = 1.0):
        self.plot_item = plot_item
        self.scale, self.pen_scale = scale, pen_scale
        self.dominated_points = pg.ScatterPlotItem(size=DOMINATED_SIZE * scale, pen=None)
        self.front_line = pg.PlotDataItem()  # the attainment surface (two objectives only)
        self.front_points = pg.ScatterPlotItem(size=FRONT_SIZE * scale)
        for graphic in (self.dominated_points, self.front_line, self.front_points):
            plot_item.addItem(graphic)
        self.snapshot: FrontSnapshot | None = None
        self.set_style(plot_style.FRONT_COLOUR, False)

    def set_style(self, colour, overlay: bool) -> None:
        if overlay:
            dominated = pg.mkBrush(*colour[:3], DOMINATED_ALPHA)
        else:
            dominated, colour = pg.mkBrush(*plot_style.DOMINATED_COLOUR), plot_style.FRONT_COLOUR
        self.dominated_points.setBrush(dominated)
        self.front_points.setPen(pg.mkPen("w", width=self.pen_scale))
        self.front_points.setBrush(pg.mkBrush(*colour[:3]))
        self.front_line.setPen(
            pg.mkPen(colour[:3], width=FRONT_LINE_WIDTH * self.scale * self.pen_scale)
        )

    def show(self, snapshot: FrontSnapshot, axes: tuple[int, int], two_objectives: bool) -> None:
        self.snapshot = snapshot
        i, j = axes
        points = snapshot.points
        dominated = np.flatnonzero(~snapshot.on_front)
        front = snapshot.front_order(i)
        staircase = (
            attainment_staircase(
                points[front][:, [i, j]], [snapshot.directions[i], snapshot.directions[j]]
            )
            if two_objectives
            else (np.empty(0), np.empty(0))
        )
        self.draw(
            (points[dominated, i], points[dominated, j]),
            (points[front, i], points[front, j]),
            staircase,
            dominated,
            front,
        )

    def draw(self, dominated, front, staircase, dominated_ids=None, front_ids=None) -> None:
        """Draw (x, y) arrays: dominated points, non-dominated points and the staircase (may be empty).

        Each spot's data is the point's index in its snapshot (hover and tests read it).
        """
        self.dominated_points.setData(*dominated, data=dominated_ids)
        self.front_points.setData(*front, data=front_ids)
        self.front_line.setData(*staircase)

    def remove(self) -> None:
        for graphic in (self.dominated_points, self.front_line, self.front_points):
            self.plot_item.removeItem(graphic)


class FrontPlot(QObject):
    """Objectives `axes` = (i, j) of every run drawn, and the reference point's (i, j)."""

    reference_dragged = Signal(int, int, float, float)  # axes, and the new coordinates on them

    def __init__(self, axes: tuple[int, int], parent=None):
        super().__init__(parent)
        self.axes = axes
        self.plot = plot_style.new_plot("", "top-right")
        self.plot_item = self.plot.getPlotItem()
        # Log axes from pyqtgraph's own menu would move the reference handle into log
        # coordinates: the view-box menu (zoom, export) stays, the plot options go.
        self.plot_item.setMenuEnabled(enableMenu=False, enableViewBoxMenu=True)
        self.layers: list[FrontLayer] = []
        self.reference_point = reference_marker()
        self.plot_item.addItem(
            self.reference_point
        )  # keeps the reference point inside the auto-range
        self.reference_target = pg.TargetItem(
            size=16,
            symbol="crosshair",
            movable=True,
            pen=pg.mkPen(plot_style.REFERENCE_COLOUR, width=1.5),
            hoverPen=pg.mkPen(plot_style.FRONT_COLOUR, width=2),
        )
        self.reference_target.setToolTip(
            "Reference point of the hypervolume: drag it, or type it above."
        )
        self.plot_item.addItem(self.reference_target)
        self.reference_target.sigPositionChanged.connect(self._target_moved)
        self._placing = False
        self.hover = HoverReadout(self.plot, self._describe)
        self.overlay = False
        self._legend_key = None
        self._snapshots: list[FrontSnapshot] = []

    def show_runs(self, snapshots: list[FrontSnapshot], overlay: bool) -> None:
        self.overlay = overlay
        while len(self.layers) > len(snapshots):
            self.layers.pop().remove()
        while len(self.layers) < len(snapshots):
            self.layers.append(FrontLayer(self.plot_item))
        two_objectives = bool(snapshots) and snapshots[0].dimensions == 2
        for index, (layer, snapshot) in enumerate(zip(self.layers, snapshots)):
            layer.set_style(plot_style.run_colour(index), overlay)
            layer.show(snapshot, self.axes, two_objectives)
        if snapshots:
            names, directions = snapshots[0].names, snapshots[0].directions
            i, j = self.axes
            plot_style.set_axis_labels(
                self.plot, f"{names[i]} ({directions[i]})", f"{names[j]} ({directions[j]})"
            )
        self._snapshots = snapshots
        self._update_legend([s.label for s in snapshots])
        self._place_legend()

    def _place_legend(self) -> None:
        """Put the legend in the corner where it hides fewest points (the reference point counts).

        A front runs from one off-diagonal corner through the ideal one, and the reference
        point sits at the opposite (nadir) corner, so ties go to the off-diagonal corners.
        """
        if not self._snapshots:
            return
        i, j = self.axes
        directions = self._snapshots[0].directions
        vertical = ("bottom", "top") if directions[j] == "min" else ("top", "bottom")
        horizontal = ("left", "right") if directions[i] == "min" else ("right", "left")
        ideal, nadir = f"{vertical[0]}-{horizontal[0]}", f"{vertical[1]}-{horizontal[1]}"
        order = (f"{vertical[1]}-{horizontal[0]}", f"{vertical[0]}-{horizontal[1]}", ideal, nadir)
        points = [
            s.points[:, [i, j]] for s in self._snapshots if s.points.ndim == 2 and len(s.points)
        ]
        count = sum(len(p) for p in points)
        rx, ry = self.reference_point.getData()
        points.append(np.column_stack([rx, ry]) if len(rx) else np.empty((0, 2)))
        xy = np.concatenate(points)
        # Never over the reference point: it is the handle the user drags.
        weights = np.r_[np.ones(count), np.full(len(xy) - count, count + 1.0)]
        corner = plot_style.emptiest_corner(
            xy[:, 0], xy[:, 1], order, *self._legend_share(), weights=weights
        )
        self.plot_item.legend.setOffset(plot_style.legend_offset(corner))

    def _legend_share(self) -> tuple[float, float]:
        """The legend's share of the plot's width and height, its margin included (a guess
        until both have been laid out)."""
        legend, box = (
            self.plot_item.legend.boundingRect(),
            self.plot_item.getViewBox().boundingRect(),
        )
        if legend.width() <= 0 or box.width() <= 0 or box.height() <= 0:
            return 0.45, 0.35
        margin = 2 * plot_style.LEGEND_MARGIN
        return (
            min(1.0, (legend.width() + margin) / box.width()),
            min(1.0, (legend.height() + margin) / box.height()),
        )

    def _update_legend(self, labels: list[str]) -> None:
        key = (self.overlay, tuple(labels))
        if key == self._legend_key:
            return
        self._legend_key = key
        legend = self.plot_item.legend
        legend.clear()
        if self.overlay:
            for layer, label in zip(self.layers, labels):
                legend.addItem(layer.front_points, label)
        elif self.layers:
            legend.addItem(self.layers[0].front_points, "non-dominated")
            legend.addItem(self.layers[0].dominated_points, "dominated")
        legend.addItem(self.reference_point, "reference point")

    def set_reference(self, reference: list[float]) -> None:
        """Move the marker and the handle without announcing it as a drag."""
        i, j = self.axes
        self.reference_point.setData([reference[i]], [reference[j]])
        self._place_legend()
        self._placing = True
        try:
            self.reference_target.setPos(reference[i], reference[j])
        finally:
            self._placing = False

    def _target_moved(self, target) -> None:
        if self._placing:
            return
        # Stop following the data while the handle moves, or the view would shift under the mouse.
        self.plot_item.getViewBox().disableAutoRange()
        position = target.pos()
        self.reference_dragged.emit(self.axes[0], self.axes[1], position.x(), position.y())

    def _describe(self, x: float, y: float) -> Hover | None:
        best = None
        for layer in self.layers:
            for scatter in (layer.front_points, layer.dominated_points):
                xs, ys = scatter.getData()
                if xs is None or len(xs) == 0:
                    continue
                distances = pixel_distances(self.plot, np.asarray(xs), np.asarray(ys), x, y)
                k = int(np.argmin(distances))
                if distances[k] <= HOVER_RADIUS_PX and (best is None or distances[k] < best[0]):
                    best = (
                        distances[k],
                        layer,
                        int(scatter.data["data"][k]),
                        float(xs[k]),
                        float(ys[k]),
                    )
        if best is None:
            return None
        _, layer, index, px, py = best
        return Hover(px, py, describe_point(layer.snapshot, index, self.overlay))


def describe_point(snapshot: FrontSnapshot, index: int, with_run: bool = False) -> str:
    """What produced a point and where it lies: objectives, front or not, seed, step, its label."""
    lines = [snapshot.label] if with_run and snapshot.label else []
    for name, direction, value in zip(snapshot.names, snapshot.directions, snapshot.points[index]):
        lines.append(f"{name} = {value:.6g} ({direction})")
    lines.append("non-dominated" if snapshot.on_front[index] else "dominated")
    lines.append(f"seed {int(snapshot.seeds[index])}, step {snapshot.step}")
    label = snapshot.labels[index] if index < len(snapshot.labels) else {}
    lines += [
        f"{key} = {value:.6g}" if isinstance(value, float) else f"{key} = {value}"
        for key, value in label.items()
    ]
    return "\n".join(lines)
