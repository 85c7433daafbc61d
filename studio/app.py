"""The `tradeoff-studio` entry point: arguments, the display check, the QApplication."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

EXIT_NO_DISPLAY = 2
EXIT_BAD_STORE = 2  # the CLI's "bad input" code
APP_ID = "org.tradeoffstudio.TradeoffStudio"  # the .desktop file's and AppStream's id
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def application_icon():
    """The studio's icon: the SVG, with the PNG sizes beside it for platforms that draw
    no SVG; an empty icon (Qt's default) where the files are missing."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for png in sorted(ICONS.glob("tradeoff-studio-*.png")):
        icon.addFile(str(png))
    svg = ICONS / "tradeoff-studio.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    return icon


def display_problem(environ=os.environ, platform: str = sys.platform) -> str | None:
    """Why Qt could not open a window here, or None when it can try.

    Qt aborts the process (a core dump) when it finds no display, so this is checked
    before the QApplication exists. Only Linux needs it: macOS and Windows always
    have a window system for a desktop session.
    """
    if not platform.startswith("linux"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or environ.get("QT_QPA_PLATFORM"):
        return None
    return (
        "tradeoff-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset).\n"
        "Run it under a virtual display:  xvfb-run tradeoff-studio\n"
        "or headless, without a window:    QT_QPA_PLATFORM=offscreen tradeoff-studio"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradeoff-studio",
        description="Tradeoff Studio: configure, run and watch trade-off experiments.",
    )
    parser.add_argument(
        "--db",
        help="store file (default: $TRADEOFF_STUDIO_DB, else the store of the last "
        "session, else runs.db in the user data directory)",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_NO_DISPLAY

    # Qt and the window are imported only once a display is known to exist, so the
    # message above comes quickly and nothing Qt-related can fail before it.
    from PySide6.QtWidgets import QApplication

    from engine.store import ENV_VAR, StoreError, default_path, open_reader
    from studio import settings as keys

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Tradeoff Studio")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(application_icon())
    settings = keys.studio_settings()
    last = settings.value(keys.LAST_STORE)
    last = last if last and Path(str(last)).is_file() else None  # deleted since: not recreated
    db_path = args.db or os.environ.get(ENV_VAR) or last or default_path()
    try:
        store = open_reader(db_path)
    except StoreError as err:
        if args.db or os.environ.get(ENV_VAR):
            print(f"tradeoff-studio: {err}", file=sys.stderr)
            return EXIT_BAD_STORE
        # The store of the last session is gone or broken: start on the default one.
        print(f"tradeoff-studio: {err}; opening {default_path()}", file=sys.stderr)
        try:
            store = open_reader(default_path())
        except StoreError as second:
            print(f"tradeoff-studio: {second}", file=sys.stderr)
            return EXIT_BAD_STORE
    # The window (and pyqtgraph with it) is imported once the store is known to be good.
    from studio.window import MainWindow

    window = MainWindow(store, settings=settings)
    window.show()
    # Everything built so far lives as long as the window: keeping it out of the
    # collector's generations removes 50-150 ms pauses while plots stream.
    gc.freeze()
    try:
        return app.exec()
    finally:
        window.store.close()
