"""Render the application icon's PNG sizes from resources/icons/tradeoff-studio.svg.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

The PNGs are committed (desktop environments and the bundle need raster sizes); run this
again after changing the SVG.
"""

from __future__ import annotations

import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt needs one
    renderer = QSvgRenderer(str(ICONS / "tradeoff-studio.svg"))
    if not renderer.isValid():
        print("error: the SVG icon did not load", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(ICONS / f"tradeoff-studio-{size}.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
