"""One look for every plot: white background, dark axes, a fixed palette.

White is what the figures will be exported on, so what the user watches live is what
the paper shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QPen

MEAN_COLOUR = (31, 119, 180)  # the run's own curve
BAND_ALPHA = 60
FAINT_ALPHA = 70  # raw curve under a smoothed one, per-seed lines
# Overlaid runs, in order (matplotlib's tab10, as the exported figures use).
RUN_COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
# Theory curves: tab10 without the run's own blue, so that up to nine bounds differ.
BOUND_COLOURS = (
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (255, 127, 14),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
FRONT_COLOUR = (214, 39, 40)
DOMINATED_COLOUR = (120, 120, 120, 90)  # faded: still visible, clearly not the front
REFERENCE_COLOUR = (60, 60, 60)
AXIS_COLOUR = (40, 40, 40)
LABEL_STYLE = {"color": "#202020", "font-size": "10pt"}
TITLE_STYLE = {"color": "#202020", "size": "11pt"}
BADGE_STYLE = (
    "background: rgba(255, 236, 179, 235); color: #5d4200; border: 1px solid #e0b040;"
    " border-radius: 4px; padding: 2px 6px; font-size: 9pt;"
)


LEGEND_MARGIN = 10


def legend_offset(corner: str) -> tuple[int, int]:
    """pyqtgraph's legend offset for a corner: positive from left/top, negative from right/bottom."""
    vertical, horizontal = corner.split("-")
    return (
        LEGEND_MARGIN if horizontal == "left" else -LEGEND_MARGIN,
        LEGEND_MARGIN if vertical == "top" else -LEGEND_MARGIN,
    )


CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def emptiest_corner(
    xs, ys, order=CORNERS, width: float = 0.45, height: float = 0.35, weights=None
) -> str:
    """The corner of the points' bounding box whose `width` x `height` share holds the least
    weight of points (1 each unless `weights` says otherwise): where a legend hides least.
    Ties go to the first corner in `order`."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    weights = np.ones(len(xs)) if weights is None else np.asarray(weights, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys, weights = xs[keep], ys[keep], weights[keep]
    if not len(xs):
        return order[0]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    left = xs <= x0 + width * (x1 - x0)
    right = xs >= x1 - width * (x1 - x0)
    bottom = ys <= y0 + height * (y1 - y0)
    top = ys >= y1 - height * (y1 - y0)
    inside = {
        "top-left": top & left,
        "top-right": top & right,
        "bottom-left": bottom & left,
        "bottom-right": bottom & right,
    }
    return min(
        order, key=lambda corner: (float(weights[inside[corner]].sum()), order.index(corner))
    )


def new_plot(
    title: str = "", legend_corner: str = "top-left", downsampling: bool = True
) -> pg.PlotWidget:
    """A PlotWidget on white with dark axes, a light grid and a legend in `legend_corner`.

    `downsampling=False` leaves thinning to the caller (the series views decimate
    themselves, so they know, and say, when they do).
    """
    widget = pg.PlotWidget(background="w")
    item = widget.getPlotItem()
    style_axes(item)
    cache_axes(item)
    # A run recording every step can hold millions of points: curves draw only what is
    # in view, thinned to the screen's resolution (peaks kept, so no spike disappears).
    # PlotItem hands these to every curve added to it, overriding the curve's own.
    if downsampling:
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
    if title:
        item.setTitle(title, **TITLE_STYLE)
    legend = item.addLegend(offset=legend_offset(legend_corner), labelTextColor=AXIS_COLOUR)
    legend.setBrush(pg.mkBrush(255, 255, 255, 220))
    legend.setPen(pg.mkPen(200, 200, 200))
    return widget


def style_axes(item: pg.PlotItem) -> None:
    """Dark axes without SI prefixes and a light grid: every plot's frame, on screen and exported."""
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(AXIS_COLOUR))
        axis.setTextPen(pg.mkPen(AXIS_COLOUR))
        # A loss of 0.69 must read 0.69, not 690 with "(x0.001)" tucked into the label.
        axis.enableAutoSIPrefix(False)
        # Ticks and grid lines at the major and minor spacings (on a log axis: the decades
        # and 2..9 within each), not at pyqtgraph's third, finer one: its 40-50 faint lines
        # across the plot took about 10 of the 12-16 ms an axis takes to draw whenever its
        # range moves (bench/sweep_stall.py), and are barely visible at the grid's alpha.
        axis.setStyle(maxTickLevel=1)
    item.showGrid(x=True, y=True, alpha=0.15)


def cache_axes(item: pg.PlotItem) -> None:
    """Keep each axis, with its grid lines, as a pixmap on screen (Qt's device-coordinate
    cache), made again only when the axis changes (its range, ticks, size or style).

    An axis draws itself from a recorded picture of its ticks and grid lines, and without
    this it replayed that picture at every repaint of the plot, also one that only a
    streaming curve asked for: about 10 ms an axis on a log axis' grid
    (bench/sweep_stall.py). On screen only: an exported figure draws its axes anew at its
    own resolution (`studio/export/render.py` does not call this)."""
    for name in ("left", "bottom"):
        item.getAxis(name).setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


def set_axis_labels(widget: pg.PlotWidget, x: str, y: str) -> None:
    item = widget.getPlotItem()
    item.setLabel("bottom", x, **LABEL_STYLE)
    item.setLabel("left", y, **LABEL_STYLE)


MEAN_WIDTH = 2.0  # screen pixels; a paper figure scales it (`series_pens`' scale)
BOUND_WIDTH = 1.5  # thinner than the mean: a bound frames the measurement, not the reverse


def mean_pen(colour=MEAN_COLOUR, width: float = MEAN_WIDTH) -> pg.QtGui.QPen:
    return pg.mkPen(colour, width=width)


def band_brush(colour=MEAN_COLOUR) -> pg.QtGui.QBrush:
    return pg.mkBrush(*colour[:3], BAND_ALPHA)


def bound_pen(index: int, colour=None, width: float = BOUND_WIDTH) -> pg.QtGui.QPen:
    """Theory bounds are dashed: they are overlays, not measurements."""
    colour = colour or BOUND_COLOURS[index % len(BOUND_COLOURS)]
    return pg.mkPen(colour, width=width, style=Qt.PenStyle.DashLine)


@dataclass(frozen=True)
class SeriesPens:
    mean: QPen
    band: QBrush
    bound: QPen


def series_pens(
    colour=MEAN_COLOUR, scale: float = 1.0, bound_index: int = 0, bound_colour=None
) -> SeriesPens:
    """How a run's series are drawn, on screen (`scale` 1) and on paper (`scale` widens the
    lines for the figure's font and resolution): the mean in `colour`, its band in
    `colour` made translucent, and its `bound_index`-th theory bound dashed, in
    BOUND_COLOURS unless `bound_colour` is given (overlaid runs: the run's own colour)."""
    return SeriesPens(
        mean_pen(colour, MEAN_WIDTH * scale),
        band_brush(colour),
        bound_pen(bound_index, bound_colour, BOUND_WIDTH * scale),
    )


def band_fill(lo_item: pg.PlotDataItem, hi_item: pg.PlotDataItem, colour=MEAN_COLOUR):
    """The 95% band of a mean: the space between its two edges, filled translucent."""
    return pg.FillBetweenItem(lo_item, hi_item, brush=band_brush(colour))


@dataclass
class DrawnSeries:
    mean: pg.PlotDataItem | None = None
    band: pg.FillBetweenItem | None = None
    bounds: list[pg.PlotDataItem] = field(default_factory=list)


def draw_series(
    item: pg.PlotItem,
    colour=MEAN_COLOUR,
    scale: float = 1.0,
    mean=None,
    band=None,
    bounds=(),
    first_bound: int = 0,
) -> DrawnSeries:
    """Draw into `item` a run's series as the live views show them (`series_pens`): its
    band (x, lo, hi) under its mean (x, y), and theory bounds [(x, y), ...] dashed, the
    first in BOUND_COLOURS[first_bound]. Every point is drawn: this is for figures, whose
    data is fixed; the live views stream and thin theirs (`SeriesLayer`) with the same pens."""
    drawn = DrawnSeries()
    pens = series_pens(colour, scale)
    if band is not None and len(band[0]):
        x, lo, hi = band
        edges = [
            pg.PlotDataItem(x, lo, pen=pg.mkPen(None)),
            pg.PlotDataItem(x, hi, pen=pg.mkPen(None)),
        ]
        for edge in edges:
            item.addItem(edge)
        drawn.band = band_fill(*edges, colour)
        item.addItem(drawn.band)
    if mean is not None:
        drawn.mean = pg.PlotDataItem(*mean, pen=pens.mean, antialias=True)
        item.addItem(drawn.mean)
    for index, (x, y) in enumerate(bounds, start=first_bound):
        line = pg.PlotDataItem(x, y, pen=series_pens(colour, scale, index).bound, antialias=True)
        item.addItem(line)
        drawn.bounds.append(line)
    return drawn


def run_colour(index: int) -> tuple[int, int, int]:
    return RUN_COLOURS[index % len(RUN_COLOURS)]


def faint_pen(colour=MEAN_COLOUR) -> pg.QtGui.QPen:
    return pg.mkPen(*colour[:3], FAINT_ALPHA, width=1)


def metric_label(metric: str) -> str:
    """A stored metric name as an axis label: "cumulative_regret" -> "cumulative regret"."""
    return metric.replace("_", " ")


# Regret lower bounds are Lai and Robbins' asymptotic c ln T: finite-time regret may
# lie below them, so the legend says so rather than promise a bound at every T.
ASYMPTOTIC_BOUNDS = {"regret_lower_bound": "lower bound (asymptotic, Lai–Robbins)"}


def bounds_in_order(names) -> list[str]:
    """A run's theory bounds in the order they are drawn and coloured (BOUND_COLOURS),
    on screen and in exported figures alike: upper ones first."""
    return sorted(names, key=lambda name: ("lower" in name, name))


def bound_label(metric: str) -> str:
    """A theory curve's legend entry: "regret_upper_bound" -> "upper bound (theory)"."""
    if metric in ASYMPTOTIC_BOUNDS:
        return ASYMPTOTIC_BOUNDS[metric]
    for side in ("upper", "lower"):
        if metric.endswith(f"{side}_bound"):
            return f"{side} bound (theory)"
    return f"{metric_label(metric)} (theory)"
