"""What is under the mouse: a marker on the nearest data point and a text box beside it.

A view hands `HoverReadout` a function that, given a position in view coordinates,
finds the nearest point worth describing and says what it is; the readout follows the
mouse and draws the answer. `hover_at` is the same entry point without a mouse, for
tests and keyboard-free use. Positions are in view coordinates (already logarithmic
on a log axis); the marker lives outside the auto-range, so hovering never moves the
plot, and the text follows its point when the view moves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF

from studio.views import plot_style

HOVER_RADIUS_PX = 12  # how near the mouse a point must be to be described


@dataclass
class Hover:
    """A described point: where it is (view coordinates) and what to say about it."""

    x: float
    y: float
    text: str


def pixel_distances(plot_widget: pg.PlotWidget, xs, ys, x: float, y: float):
    """Screen distances (pixels) from (x, y) to each (xs, ys), all in view coordinates."""
    width, height = plot_widget.getPlotItem().getViewBox().viewPixelSize()
    return (((xs - x) / (width or 1.0)) ** 2 + ((ys - y) / (height or 1.0)) ** 2) ** 0.5


class HoverReadout(QObject):
    def __init__(
        self, plot_widget: pg.PlotWidget, describe: Callable[[float, float], Hover | None]
    ):
        super().__init__(plot_widget)
        self.plot_widget = plot_widget
        self.describe = describe
        self.view_box = plot_widget.getPlotItem().getViewBox()
        self.marker = pg.ScatterPlotItem(
            size=11,
            pen=pg.mkPen(plot_style.AXIS_COLOUR, width=1.5),
            brush=pg.mkBrush(255, 255, 255, 160),
        )
        self.label = pg.TextItem(
            color=plot_style.AXIS_COLOUR,
            fill=pg.mkBrush(255, 255, 255, 235),
            border=pg.mkPen(170, 170, 170),
        )
        self.marker.setZValue(1000)
        self.view_box.addItem(self.marker, ignoreBounds=True)
        # The text is a direct child of the view box, as the legend is, so that it can
        # be drawn above the legend; it is placed in the box's own pixel coordinates.
        self.label.setParentItem(self.view_box)
        self.label.setZValue(1e6)
        self._anchor_point: QPointF | None = None
        self.clear()
        self.view_box.sigRangeChanged.connect(self._follow_view)
        plot_widget.scene().sigMouseMoved.connect(self._mouse_moved)

    @property
    def text(self) -> str:
        return self.label.toPlainText() if self.label.isVisible() else ""

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            self.clear()
            return
        point = self.view_box.mapSceneToView(scene_pos)
        self.hover_at(point.x(), point.y())

    def hover_at(self, x: float, y: float) -> str:
        """Describe the point nearest (x, y) (view coordinates); return the text shown, or ""."""
        found = self.describe(x, y)
        if found is None:
            self.clear()
            return ""
        self.marker.setData([found.x], [found.y])
        self.marker.setVisible(True)
        self.label.setText(found.text)
        # Keep the box inside the plot: it opens towards the middle of the view.
        (left, right), (bottom, top) = self.view_box.viewRange()
        self.label.setAnchor(
            (
                1.0 if found.x > (left + right) / 2 else 0.0,
                0.0 if found.y > (bottom + top) / 2 else 1.0,
            )
        )
        self._anchor_point = QPointF(found.x, found.y)
        self.label.setPos(self.view_box.mapFromView(self._anchor_point))
        self.label.setVisible(True)
        return found.text

    def _follow_view(self) -> None:
        # The text sits in the box's pixel coordinates: keep it on its point when the view moves.
        if self.label.isVisible() and self._anchor_point is not None:
            self.label.setPos(self.view_box.mapFromView(self._anchor_point))

    def clear(self) -> None:
        self.marker.setVisible(False)
        self.label.setVisible(False)
