"""The `tradeoff-studio` entry point: arguments, the display check, the QApplication."""

from __future__ import annotations

import argparse
import os
import sys

EXIT_NO_DISPLAY = 2
EXIT_BAD_STORE = 2  # the CLI's "bad input" code


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
    return ("tradeoff-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset).\n"
            "Run it under a virtual display:  xvfb-run tradeoff-studio\n"
            "or headless, without a window:    QT_QPA_PLATFORM=offscreen tradeoff-studio")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradeoff-studio",
                                     description="Tradeoff Studio: configure, run and watch trade-off experiments.")
    parser.add_argument("--db", help="store file (default: $TRADEOFF_STUDIO_DB, else the user data directory)")
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

    from engine.store import Store, StoreError, default_path
    from studio.window import MainWindow

    db_path = args.db or default_path()
    try:
        store = Store(db_path)
    except StoreError as err:
        print(f"tradeoff-studio: {err}", file=sys.stderr)
        return EXIT_BAD_STORE
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Tradeoff Studio")
    window = MainWindow(store)
    window.show()
    try:
        return app.exec()
    finally:
        store.close()
