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

import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QMimeData, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPicture
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QGraphicsItem

from studio import plot_style
from studio.export.figure import BOUND, DOMINATED, FRONT, REFERENCE, Figure, emptiest_corner

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


def draw_figure(widget: pg.PlotWidget, figure: Figure, font_pt: float = 10.0, line_scale: float = 1.0) -> None:
    """Replace what `widget` shows with `figure`: bands under their means, bounds dashed, points on top."""
    item = widget.getPlotItem()
    item.clear()
    item.legend.clear()
    px = font_pt * LAYOUT_DPI / 72
    label_style = {"color": "#202020", "font-size": f"{px:.1f}px"}
    item.setLabel("bottom", figure.x_label, **label_style)
    item.setLabel("left", figure.y_label, **label_style)
    item.setTitle(figure.title, color="#202020", size=f"{px * 1.1:.1f}px")
    tick_font = QFont()
    tick_font.setPixelSize(max(6, round(px * 0.9)))
    for name in ("left", "bottom"):
        item.getAxis(name).setStyle(tickFont=tick_font)
    # Before any entry is added: pyqtgraph sizes each legend label once, when it is added.
    item.legend.setLabelTextSize(f"{px * 0.9:.1f}px")
    item.legend.setOffset(plot_style.legend_offset(emptiest_corner(figure)))
    # Cosmetic pens are device pixels wide: a bitmap rendered `line_scale` times denser
    # gets lines that much wider, so they keep their width on paper.
    width = max(1.0, font_pt / 5) * line_scale
    means = [c for c in figure.curves if c.kind != BOUND]
    bounds = [c for c in figure.curves if c.kind == BOUND]
    for i, curve in enumerate(means):
        rgb = colour(i)
        if curve.lo is not None and curve.hi is not None and len(curve.steps):
            lo = pg.PlotDataItem(curve.steps, curve.lo, pen=pg.mkPen(None))
            hi = pg.PlotDataItem(curve.steps, curve.hi, pen=pg.mkPen(None))
            item.addItem(lo)
            item.addItem(hi)
            item.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(*rgb, plot_style.BAND_ALPHA)))
        item.plot(curve.steps, curve.mean, pen=pg.mkPen(rgb, width=width), name=curve.label, antialias=True)
    for i, curve in enumerate(bounds):
        rgb = plot_style.BOUND_COLOURS[i % len(plot_style.BOUND_COLOURS)]
        item.plot(curve.steps, curve.mean, name=curve.label, antialias=True,
                  pen=pg.mkPen(rgb, width=width * 0.75, style=Qt.PenStyle.DashLine))
    size = px * 0.7
    for points in figure.points:
        if points.kind == DOMINATED:
            style = {"pen": None, "brush": pg.mkBrush(*plot_style.DOMINATED_COLOUR), "size": size}
        elif points.kind == REFERENCE:
            style = {"pen": pg.mkPen(plot_style.REFERENCE_COLOUR, width=line_scale),
                     "brush": pg.mkBrush(plot_style.REFERENCE_COLOUR), "symbol": "x", "size": size * 1.4}
        else:
            style = {"pen": pg.mkPen("w", width=line_scale), "brush": pg.mkBrush(*plot_style.FRONT_COLOUR),
                     "size": size * 1.2}
        if points.kind == FRONT and len(points.x) > 1:
            item.plot(points.x, points.y, pen=pg.mkPen(plot_style.FRONT_COLOUR, width=width * 0.75))
        scatter = pg.ScatterPlotItem(points.x, points.y, name=points.label, **style)
        item.addItem(scatter)


def offscreen_plot(figure: Figure, size: FigureSize, line_scale: float = 1.0) -> pg.PlotWidget:
    """A plot laid out at `size` and never shown on screen; close it when done.

    `line_scale`: how many device pixels one layout pixel becomes (PNG: dpi / LAYOUT_DPI).
    """
    widget = plot_style.new_plot()
    widget.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    item = widget.getPlotItem()
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
    item.legend.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, False)
    widget.resize(*size.pixels)
    widget.show()
    draw_figure(widget, figure, size.font_pt, line_scale)
    QApplication.processEvents()
    return widget


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
    opts = {"antialias": True, "background": QColor("white"), "resolutionScale": target.width() / source.width()}
    for graphic in items:
        graphic.setExportMode(True, opts)
    try:
        widget.scene().render(painter, target, source)
    finally:
        for graphic in items:
            graphic.setExportMode(False)


def render_image(figure: Figure, size: FigureSize, dpi: int = PNG_DPI) -> QImage:
    widget = offscreen_plot(figure, size, line_scale=dpi / LAYOUT_DPI)
    try:
        image = QImage(round(size.width_in * dpi), round(size.height_in * dpi), QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        _set_dpi(image, _recording_dpi())  # paint at the axes' DPI; then label the file with the real one
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
    text = re.sub(r'<svg width="[^"]*" height="[^"]*"', f'<svg width="{size.width_in}in" height="{size.height_in}in"',
                  text, count=1)
    return text.encode("utf-8")


def save_svg(figure: Figure, path, size: FigureSize) -> Path:
    path = Path(path)
    path.write_bytes(svg_bytes(figure, size))
    return path


def save_pdf(figure: Figure, path, size: FigureSize) -> Path:
    """One page of exactly `size`; QPainter text on a QPdfWriter stays text (embedded font)."""
    path = Path(path)
    widget = offscreen_plot(figure, size)
    try:
        writer = QPdfWriter(str(path))
        writer.setPageLayout(QPageLayout(QPageSize(QSizeF(size.width_in, size.height_in), QPageSize.Unit.Inch),
                                         QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
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
