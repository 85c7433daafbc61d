"""Draw a `Figure` with pyqtgraph, on screen or offscreen at a paper or slide size.

Exported figures are built anew from stored data: an offscreen plot laid out at the
target size (LAYOUT_DPI scene pixels per inch, so a font given in points comes out at
that size on paper) and rendered with QPainter, never grabbed from the screen. PNG is
rasterised at `dpi`; SVG (QSvgGenerator) and PDF (QPdfWriter) keep lines as paths and
text as text. All three formats are painted by the same QPainter path. (pyqtgraph's
own SVGExporter is not used: in pyqtgraph 0.14 it fails on the closed clip paths that
Qt 6 writes for every plot, pyqtgraph issue #3495.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMarginsF,
    QMimeData,
    QRect,
    QRectF,
    QSize,
    QSizeF,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPicture,
)
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QGraphicsItem

from studio.export.figure import ATTAINMENT, BOUND, DOMINATED, FRONT, REFERENCE, Figure, PointSet
from studio.views import plot_style
from studio.views.front_plot import FrontLayer, reference_marker

LAYOUT_DPI = 96
PNG_DPI = 300
# The live views' run colours (matplotlib's tab10 order), which the exported script names too.
PALETTE = plot_style.RUN_COLOURS


@dataclass(frozen=True)
class FigureSize:
    label: str
    width_in: float
    height_in: float
    font_pt: float

    @property
    def pixels(self) -> tuple[int, int]:
        return round(self.width_in * LAYOUT_DPI), round(self.height_in * LAYOUT_DPI)


# Whole points on both sides (a PDF page size is written in points): a one-column figure
# of a two-column paper, and a 16:9 slide.
SIZES = {
    "column": FigureSize("paper column (3.5 × 2.5 in)", 3.5, 2.5, 8),
    "slide": FigureSize("slide (10 × 5.625 in, 16:9)", 10.0, 5.625, 16),
}


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


# The legend's corners, in the order tried: those a reader looks at last first.
LEGEND_CORNERS = ("top-right", "top-left", "bottom-right", "bottom-left")
RANGE_PADDING = 0.06  # of each axis's span, so no marker or label sits on the frame


def fitted_title(text: str, px: float, width: float) -> str:
    """`text` broken into lines (HTML <br>) that each fit `width` pixels at `px` pixels high,
    at ": " where it can, else between words."""
    font = QFont()
    font.setPixelSize(max(1, round(px)))
    metrics = QFontMetricsF(font)
    if not text or metrics.horizontalAdvance(text) <= width:
        return text
    lines, words = [], re.split(r"(?<=:) |(?<=,) | ", text)
    for word in words:
        if lines and metrics.horizontalAdvance(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return "<br>".join(lines)


def _set_title(item: pg.PlotItem, text: str, px: float, width: float | None = None) -> None:
    """A title that fits `width` pixels (the plot's, less its axis, by default) in as many
    lines as it needs, none clipped (pyqtgraph fixes the title row at 30 pixels). A title
    wider than the plot would widen the plot past its figure's edge."""
    if not text:
        item.setTitle(None)
        return
    # The title's row spans the view box's column only: the left axis has its own.
    if width is None:
        width = item.size().width() - item.getAxis("left").width() - 12
    width = max(40.0, width)
    item.setTitle(fitted_title(text, px, width), color="#202020", size=f"{px:.1f}px")
    height = item.titleLabel.item.boundingRect().height() + 4
    item.titleLabel.setMaximumHeight(height)
    item.layout.setRowFixedHeight(0, height)


def draw_panel(
    item: pg.PlotItem,
    figure: Figure,
    font_pt: float = 10.0,
    line_scale: float = 1.0,
    title: bool = True,
) -> list:
    """Draw `figure`'s curves and points into `item`: bands under their means, bounds dashed,
    Pareto points as the Pareto view draws them (`front_plot.FrontLayer`). Returns the legend
    entries, (sample item, label), for the caller to place."""
    px = font_pt * LAYOUT_DPI / 72
    label_style = {"color": "#202020", "font-size": f"{px:.1f}px"}
    item.setLabel("bottom", figure.x_label, **label_style)
    item.setLabel("left", figure.y_label, **label_style)
    if title:
        _set_title(item, figure.title, px * 1.1)
    tick_font = QFont()
    tick_font.setPixelSize(max(6, round(px * 0.9)))
    for name in ("left", "bottom"):
        item.getAxis(name).setStyle(tickFont=tick_font)
    # Cosmetic pens are device pixels wide: a bitmap rendered `line_scale` times denser
    # gets lines that much wider, so they keep their width on paper. The lines are as the
    # live views draw them (`plot_style.draw_series`), widened for the figure's font.
    scale = max(1.0, font_pt / 5) * line_scale / plot_style.MEAN_WIDTH
    entries = []
    means = [c for c in figure.curves if c.kind != BOUND]
    bounds = [c for c in figure.curves if c.kind == BOUND]
    for i, curve in enumerate(means):
        band = None
        if curve.lo is not None and curve.hi is not None:
            band = (curve.steps, curve.lo, curve.hi)
        drawn = plot_style.draw_series(
            item, colour(i), scale, mean=(curve.steps, curve.mean), band=band
        )
        entries.append((drawn.mean, curve.label))
    drawn = plot_style.draw_series(item, scale=scale, bounds=[(c.steps, c.mean) for c in bounds])
    entries += [(line, curve.label) for line, curve in zip(drawn.bounds, bounds)]
    entries += _draw_points(item, figure, px / 12, line_scale)
    return entries


def _draw_points(item: pg.PlotItem, figure: Figure, scale: float, line_scale: float) -> list:
    by_kind = {points.kind: points for points in figure.points}
    if not by_kind:
        return []
    entries = []
    if by_kind.keys() & {FRONT, DOMINATED, ATTAINMENT}:
        layer = FrontLayer(item, scale, line_scale)
        empty = PointSet("", np.empty(0), np.empty(0))
        front, dominated = by_kind.get(FRONT, empty), by_kind.get(DOMINATED, empty)
        staircase = by_kind.get(ATTAINMENT, empty)
        layer.draw((dominated.x, dominated.y), (front.x, front.y), (staircase.x, staircase.y))
        if len(front.x):
            entries.append((layer.front_points, front.label))
        if len(dominated.x):
            entries.append((layer.dominated_points, dominated.label))
    if REFERENCE in by_kind:
        reference = by_kind[REFERENCE]
        marker = reference_marker(scale, line_scale)
        marker.setData(reference.x, reference.y)
        item.addItem(marker)
        entries.append((marker, reference.label))
    return entries


def _pad_range(item: pg.PlotItem) -> None:
    """Fit the view to everything drawn with room to spare on each side (RANGE_PADDING of
    the span, or more where the largest marker needs it), so that a marker at the edge of
    the data (the reference point, often) is drawn whole. Needs the plot laid out."""
    xs, ys = drawn_points(item)
    if not len(xs):
        return
    box = item.getViewBox()
    marker = max([g.opts["size"] for g in item.items if isinstance(g, pg.ScatterPlotItem)] or [0.0])
    ranges = []
    for values, pixels in ((xs, box.width()), (ys, box.height())):
        share = max(RANGE_PADDING, (marker / 2 + 3) / pixels) if pixels > 0 else RANGE_PADDING
        share = min(share, 0.3)
        low, high = float(values.min()), float(values.max())
        pad = (high - low) * share / (1 - 2 * share) if high > low else max(abs(low) * 0.1, 0.5)
        ranges.append((low - pad, high + pad))
    item.getViewBox().setRange(xRange=ranges[0], yRange=ranges[1], padding=0)


def drawn_points(item: pg.PlotItem) -> tuple[np.ndarray, np.ndarray]:
    """Every finite vertex and marker drawn in `item`, in view coordinates."""
    xs, ys = [], []
    for graphic in item.items:
        if isinstance(graphic, (pg.PlotDataItem, pg.ScatterPlotItem)) and graphic.isVisible():
            x, y = graphic.getData()
            if x is not None and len(x):
                xs.append(np.asarray(x, dtype=float))
                ys.append(np.asarray(y, dtype=float))
    if not xs:
        return np.empty(0), np.empty(0)
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def points_in_scene(
    item: pg.PlotItem, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """View coordinates of `item` mapped to scene coordinates, all at once."""
    t = item.getViewBox().childGroup.sceneTransform()
    return t.m11() * x + t.m21() * y + t.dx(), t.m12() * x + t.m22() * y + t.dy()


def _points_under(item: pg.PlotItem, rect: QRectF, margin: float = 2.0) -> int:
    sx, sy = points_in_scene(item, *drawn_points(item))
    r = rect.adjusted(-margin, -margin, margin, margin)
    return int(
        np.count_nonzero(
            (sx >= r.left()) & (sx <= r.right()) & (sy >= r.top()) & (sy <= r.bottom())
        )
    )


def place_legend(item: pg.PlotItem, corners=LEGEND_CORNERS) -> str:
    """Put `item`'s legend in the first corner of the view where it covers no drawn point;
    where every corner would cover one, below the plot instead, its entries side by side
    as far as the plot's width allows. Returns the corner, or "outside". Needs the plot
    laid out (its view box sized).

    Shared by every exported figure and by the compare view's figure (`draw_figure`).
    """
    legend = item.legend
    if legend is None or not legend.items:
        return "none"
    if item.getViewBox().width() <= 0:
        return "unplaced"
    for corner in corners:
        legend.setOffset(plot_style.legend_offset(corner))
        if _points_under(item, legend.sceneBoundingRect()) == 0:
            return corner
    entries = [(sample.item, label.text) for sample, label in legend.items]
    width = item.getViewBox().width()
    for columns in range(len(entries), 0, -1):
        beside = _paper_legend(legend.opts["labelTextSize"], colCount=columns, frame=False)
        for sample, label in entries:
            beside.addItem(sample, label)
        beside.updateSize()
        if beside.layout.preferredSize().width() <= width or columns == 1:
            break
    _keep_size(beside)
    legend.setVisible(False)
    item.layout.addItem(beside, 4, 1)  # below the bottom axis and its label, under the view box
    item.legend_beside = beside
    return "outside"


def draw_figure(
    widget: pg.PlotWidget, figure: Figure, font_pt: float = 10.0, line_scale: float = 1.0
) -> None:
    """Replace what `widget` shows with `figure` (one plot), its legend where it hides no data."""
    item = widget.getPlotItem()
    item.clear()
    item.legend.clear()
    item.legend.setVisible(True)
    beside = getattr(item, "legend_beside", None)
    if beside is not None:
        item.layout.removeItem(beside)
        beside.setParentItem(None)
        item.legend_beside = None
    # Before any entry is added: pyqtgraph sizes each legend label once, when it is added.
    px = font_pt * LAYOUT_DPI / 72
    item.legend.setLabelTextSize(f"{px * 0.9:.1f}px")
    for sample, label in draw_panel(item, figure, font_pt, line_scale):
        item.legend.addItem(sample, label)
    _lay_out(item)
    _pad_range(item)
    # Again, now that the axis has its width: wrapped to the widget's width, not the plot
    # item's, which a title too wide at first may have widened.
    title_width = widget.width() - item.getAxis("left").width() - 12
    _set_title(item, figure.title, px * 1.1, title_width)
    _lay_out(item)
    if place_legend(item) == "outside":
        _lay_out(item)


def _lay_out(item: pg.PlotItem) -> None:
    """Settle the plot's geometry now, without running the event loop (the compare view
    draws a figure from a slot, where handling other events meanwhile would be unsafe)."""
    item.layout.invalidate()
    item.layout.activate()
    box = item.getViewBox()
    box.updateViewRange()
    box.updateMatrix()


def _panel_columns(count: int, size: FigureSize) -> int:
    """Panels side by side on a wide figure; two columns (and more rows) on a narrower one."""
    return count if count <= 3 and size.width_in / size.height_in >= 1.6 else min(2, count)


PANEL_ROW_SHARE = 0.8  # each further row of panels adds this share of the chosen height


def sized_for(figure: Figure, size: FigureSize) -> FigureSize:
    """The size a figure is laid out at: the chosen one, taller by PANEL_ROW_SHARE of it for
    each further row of panels (three projections in a paper column need two rows, and a
    2.5-inch-high figure would squash each to a strip)."""
    if not figure.panels:
        return size
    rows = -(-len(figure.panels) // _panel_columns(len(figure.panels), size))
    if rows == 1:
        return size
    height = round(size.height_in * (1 + PANEL_ROW_SHARE * (rows - 1)), 2)
    return FigureSize(f"{size.label}, {rows} rows of panels", size.width_in, height, size.font_pt)


def offscreen_plot(figure: Figure, size: FigureSize, line_scale: float = 1.0):
    """A plot (a grid of them for a figure of panels) laid out at `size` and never shown on
    screen; close it when done.

    `line_scale`: how many device pixels one layout pixel becomes (PNG: dpi / LAYOUT_DPI).
    """
    size = sized_for(figure, size)
    if figure.panels:
        widget = pg.GraphicsLayoutWidget()
        widget.setBackground("w")
    else:
        widget = plot_style.new_plot()
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    widget.resize(*size.pixels)
    widget.show()
    if figure.panels:
        _draw_panels(widget, figure, size, line_scale)
    else:
        item = widget.getPlotItem()
        _prepare_for_paper(item)
        draw_figure(widget, figure, size.font_pt, line_scale)
    QApplication.processEvents()
    return widget


def _prepare_for_paper(item: pg.PlotItem) -> None:
    # Every recorded point goes to paper: screen-resolution thinning would show at 300 dpi.
    item.setDownsampling(ds=1, auto=False)
    item.setClipToView(False)
    # Axes and grid are drawn in layout pixels: a non-cosmetic pen there scales with the
    # painter like the text does. (A wider cosmetic pen would also change pyqtgraph's tick spacing.)
    axis_pen = pg.mkPen(plot_style.AXIS_COLOUR, width=1)
    axis_pen.setCosmetic(False)
    for name in ("left", "bottom"):
        item.getAxis(name).setPen(axis_pen)
    # The legend ignores transformations so that it keeps its size when a user zooms; a
    # figure scaled to a denser device must scale it along with everything else.
    if item.legend is not None:
        item.legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, False)
    # pyqtgraph lays the left axis's label out from the item's very edge: some room to spare.
    item.layout.setContentsMargins(4, 2, 4, 2)


def _draw_panels(
    widget: pg.GraphicsLayoutWidget, figure: Figure, size: FigureSize, line_scale: float
) -> None:
    """The figure's title across the top, its panels in a grid, and one legend for all of
    them in the grid's free cell, or in a column to the right where no cell is free."""
    px = size.font_pt * LAYOUT_DPI / 72
    layout = widget.ci
    columns = _panel_columns(len(figure.panels), size)
    rows = -(-len(figure.panels) // columns)
    title = layout.addLabel(
        fitted_title(figure.title, px * 1.1, size.pixels[0] - 40),
        row=0,
        col=0,
        colspan=columns + (len(figure.panels) == rows * columns),
        color="#202020",
        size=f"{px * 1.1:.1f}px",
    )
    title.setMaximumHeight(title.item.boundingRect().height() + 4)
    entries = []
    panels = []
    for index, panel in enumerate(figure.panels):
        item = layout.addPlot(row=1 + index // columns, col=index % columns)
        plot_style.style_axes(item)
        _prepare_for_paper(item)
        panels.append(item)
        QApplication.processEvents()
        # Titled once the grid is laid out: a title wider than its cell would widen the grid.
        drawn = draw_panel(item, panel, size.font_pt * 0.9, line_scale, title=False)
        entries = entries or drawn
    legend = _paper_legend(f"{px * 0.9:.1f}px")
    legend.setPen(pg.mkPen(200, 200, 200))
    for sample, label in entries:
        legend.addItem(sample, label)
    _keep_size(legend)
    free = len(figure.panels) % columns
    if free:
        layout.addItem(legend, row=rows, col=free, colspan=columns - free)
    else:
        layout.addItem(legend, row=1, col=columns, rowspan=rows)
    widget.figure_legend = legend
    widget.panels = panels
    QApplication.processEvents()
    beside = 0 if free else legend.width() + 8
    cell = (widget.width() - beside - 16) / columns
    for item, panel in zip(panels, figure.panels):  # now that each panel has its size
        _set_title(item, panel.title, px * 0.9, cell - item.getAxis("left").width() - 16)
    QApplication.processEvents()
    for item in panels:
        _pad_range(item)
    QApplication.processEvents()


def _paper_legend(text_size: str, **options) -> pg.LegendItem:
    """A legend that scales with the figure (pyqtgraph's keeps its size on screen whatever the
    zoom, so a figure rendered at 300 dpi would get a legend three times too small)."""
    legend = pg.LegendItem(
        labelTextColor=plot_style.AXIS_COLOUR, labelTextSize=text_size, **options
    )
    legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, False)
    return legend


def _keep_size(legend: pg.LegendItem) -> None:
    """A legend in a layout cell keeps its own size instead of stretching its rows apart."""
    legend.updateSize()
    hint = legend.layout.preferredSize()
    legend.setMaximumSize(hint.width() + 10, hint.height() + 10)
    legend.setMinimumSize(hint.width() + 10, hint.height() + 10)


def _recording_dpi() -> int:
    """The DPI pyqtgraph's axes record their cached QPicture at (Qt's default, the screen's).

    QPicture rescales fonts by the ratio of the playing device's DPI to this one, so the
    image and the PDF page are painted at this DPI and scaled by the painter's transform
    only; otherwise tick labels come out several times too large.
    """
    return QPicture().logicalDpiX()


def _paint(widget: pg.PlotWidget, painter: QPainter, target: QRectF) -> None:
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    source = widget.sceneRect()
    # Export mode makes scatter symbols paint as shapes at the target's resolution
    # instead of stamping pixmaps cached at screen resolution.
    items = [i for i in widget.scene().items() if hasattr(i, "setExportMode")]
    opts = {
        "antialias": True,
        "background": QColor("white"),
        "resolutionScale": target.width() / source.width(),
    }
    for graphic in items:
        graphic.setExportMode(True, opts)
    try:
        widget.scene().render(painter, target, source)
    finally:
        for graphic in items:
            graphic.setExportMode(False)


def render_image(figure: Figure, size: FigureSize, dpi: int = PNG_DPI) -> QImage:
    widget = offscreen_plot(figure, size, line_scale=dpi / LAYOUT_DPI)
    size = sized_for(figure, size)
    try:
        image = QImage(
            round(size.width_in * dpi), round(size.height_in * dpi), QImage.Format.Format_ARGB32
        )
        image.fill(QColor("white"))
        _set_dpi(
            image, _recording_dpi()
        )  # paint at the axes' DPI; then label the file with the real one
        painter = QPainter(image)
        _paint(widget, painter, QRectF(image.rect()))
        painter.end()
        _set_dpi(image, dpi)
        return image
    finally:
        widget.close()
        widget.deleteLater()


def _set_dpi(image: QImage, dpi: float) -> None:
    image.setDotsPerMeterX(round(dpi / 0.0254))
    image.setDotsPerMeterY(round(dpi / 0.0254))


def save_png(figure: Figure, path, size: FigureSize, dpi: int = PNG_DPI) -> Path:
    path = Path(path)
    if not render_image(figure, size, dpi).save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")
    return path


def svg_bytes(figure: Figure, size: FigureSize) -> bytes:
    """The figure as SVG, its text as <text> elements, sized in inches."""
    widget = offscreen_plot(figure, size)
    size = sized_for(figure, size)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    try:
        width, height = size.pixels
        generator = QSvgGenerator()
        generator.setOutputDevice(buffer)
        generator.setSize(QSize(width, height))
        generator.setViewBox(QRect(0, 0, width, height))
        generator.setResolution(LAYOUT_DPI)
        generator.setTitle(figure.title)
        generator.setDescription("Tradeoff Studio figure")
        painter = QPainter(generator)
        _paint(widget, painter, QRectF(0, 0, width, height))
        painter.end()
    finally:
        widget.close()
        widget.deleteLater()
    text = bytes(buffer.data()).decode("utf-8")
    # Qt writes the size in millimetres rounded to whole ones; a paper figure wants the exact inches.
    text = re.sub(
        r'<svg width="[^"]*" height="[^"]*"',
        f'<svg width="{size.width_in}in" height="{size.height_in}in"',
        text,
        count=1,
    )
    return text.encode("utf-8")


def save_svg(figure: Figure, path, size: FigureSize) -> Path:
    path = Path(path)
    path.write_bytes(svg_bytes(figure, size))
    return path


def save_pdf(figure: Figure, path, size: FigureSize) -> Path:
    """One page of exactly `size`; QPainter text on a QPdfWriter stays text (embedded font)."""
    path = Path(path)
    widget = offscreen_plot(figure, size)
    size = sized_for(figure, size)
    try:
        writer = QPdfWriter(str(path))
        writer.setPageLayout(
            QPageLayout(
                QPageSize(QSizeF(size.width_in, size.height_in), QPageSize.Unit.Inch),
                QPageLayout.Orientation.Portrait,
                QMarginsF(0, 0, 0, 0),
            )
        )
        writer.setResolution(_recording_dpi())
        writer.setCreator("Tradeoff Studio")
        writer.setTitle(figure.title)
        painter = QPainter(writer)
        if not painter.isActive():
            raise OSError(f"cannot write {path}")
        _paint(widget, painter, QRectF(painter.viewport()))
        painter.end()
    finally:
        widget.close()
        widget.deleteLater()
    return path


def copy_to_clipboard(figure: Figure, size: FigureSize) -> None:
    """The figure as an image and as SVG, so vector-aware programs paste the vector one."""
    mime = QMimeData()
    mime.setImageData(render_image(figure, size, dpi=2 * LAYOUT_DPI))
    mime.setData("image/svg+xml", QByteArray(svg_bytes(figure, size)))
    QApplication.clipboard().setMimeData(mime)
