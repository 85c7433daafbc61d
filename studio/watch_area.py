"""Watch: live plots of the running and selected runs, up to four side by side.

Each tile is a `LivePlot` on one run with a header (run, status, where it runs). A
tile follows its run while the store says it is live and reads what is left once it
is over, so the same tile shows a run that is going, one that has just ended and one
picked from the history. With no tile yet, the area welcomes the user and offers the
example specs.
"""

from __future__ import annotations

import html
import json
import textwrap

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QCommandLinkButton, QFrame, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QStackedLayout,
                               QToolButton, QVBoxLayout, QWidget)

from engine.store import LIVE_STATUSES, Store
from studio.examples import Example
from studio.live_plot import LivePlot
from studio.queue_view import STATUS_COLOURS

MAX_TILES = 4
SUMMARY_CHARACTERS = 150


def run_detail(row: dict) -> str:
    """'2 seeds × 3,000 steps · cpu, float32, 1 thread' from a run row."""
    seeds = row.get("seeds") or 1
    text = f"{seeds} seed{'s' if seeds != 1 else ''} × {row.get('steps') or 0:,} steps"
    if row.get("hardware_json"):
        hw = json.loads(row["hardware_json"])
        threads = hw.get("threads")
        where = ", ".join(str(p) for p in (hw.get("device"), hw.get("dtype")) if p)
        if threads:
            where += f", {threads} thread{'s' if threads != 1 else ''}"
        text += f" · {where}"
    return text


class RunTile(QFrame):
    """One run's live plot under a header; click to focus it, × to close it."""

    clicked = Signal(object)
    close_requested = Signal(object)

    def __init__(self, store: Store, run_id: int, plot_kind: str, title: str, parent=None):
        super().__init__(parent)
        self.run_id, self.plot_kind = run_id, plot_kind
        self.status = ""
        self.over = False
        self._stopped = False
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title_label = QLabel(f"<b>Run {run_id}</b>: {html.escape(title)}")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label = QLabel("reading…")
        self.detail_label = QLabel("")
        self.detail_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        # Long titles and details are cut, never widen the tile: two or four tiles must
        # fit beside the configuration.
        for label in (self.title_label, self.detail_label):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Close this plot (the run goes on and stays in the store)")
        first_line = QHBoxLayout()
        first_line.addWidget(self.title_label, 1)
        first_line.addWidget(self.status_label)
        first_line.addWidget(self.close_button)
        self.plot = LivePlot(store)
        # A timer of the tile's own, not QTimer.singleShot(0, self, ...): closed before
        # that fires, the tile would stay alive for good, held by the pending call.
        self._finish_timer = QTimer(self)
        self._finish_timer.setSingleShot(True)
        self._finish_timer.setInterval(0)
        self._finish_timer.timeout.connect(self._finish)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(2)
        layout.addLayout(first_line)
        layout.addWidget(self.detail_label)
        layout.addWidget(self.plot, 1)
        self.close_button.clicked.connect(lambda: self.close_requested.emit(self))
        self.plot.run_row_read.connect(self._row_read)
        self.plot.watch(run_id, plot_kind)
        self.set_focused(False)

    def _row_read(self, row: dict) -> None:
        self.status = row["status"]
        colour = STATUS_COLOURS.get(self.status, "#808080")
        self.status_label.setText(f"<span style='color:{colour}'>{self.status}</span>")
        self.detail_label.setText(run_detail(row))
        if self.status not in LIVE_STATUSES and not self.over:
            self.over = True
            # Not from inside the poll that read the row: finish() polls to the end itself.
            self._finish_timer.start()

    def _finish(self) -> None:
        if not self._stopped:
            self.plot.finish()

    def set_focused(self, focused: bool) -> None:
        self.focused = focused
        self.setLineWidth(2 if focused else 1)
        self.setFrameShadow(QFrame.Shadow.Plain if focused else QFrame.Shadow.Sunken)
        role = QPalette.ColorRole.Highlight if focused else QPalette.ColorRole.Mid
        self.setStyleSheet(f"RunTile {{ border: {2 if focused else 1}px solid "
                           f"{self.palette().color(role).name()}; border-radius: 3px; }}")

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self)
        super().mousePressEvent(event)

    def stop(self) -> None:
        self._stopped = True
        self._finish_timer.stop()
        self.plot.stop_timers()


class Welcome(QWidget):
    """The empty Watch area: what to do first, and the examples to start from."""

    example_chosen = Signal(object)  # the example's Path

    def __init__(self, examples: list[Example], parent=None):
        super().__init__(parent)
        self.buttons: dict[str, QCommandLinkButton] = {}
        heading = QLabel("<h2>Welcome to Tradeoff Studio</h2>")
        text = QLabel("Choose an algorithm on the left, set its parameters and press <b>Run</b> (Ctrl+R). "
                      "Runs appear here as they go, up to four side by side; the queue below shows their "
                      "progress.")
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(text)
        if examples:
            layout.addWidget(QLabel("Or start from an example (it fills in the form; press Run to run it):"))
        for example in examples:
            # A line or two each: with a dozen examples the full notes would bury the list.
            button = QCommandLinkButton(example.name, textwrap.shorten(example.description, SUMMARY_CHARACTERS,
                                                                       placeholder=" …"))
            button.setToolTip(f"{example.description}\n\n{example.path}")
            button.clicked.connect(lambda _=False, p=example.path: self.example_chosen.emit(p))
            layout.addWidget(button)
            self.buttons[example.name] = button
        layout.addStretch(2)
        self.setMaximumWidth(720)


class WatchArea(QWidget):
    run_focused = Signal(int)        # the user clicked a tile
    example_chosen = Signal(object)  # a Path, from the welcome

    def __init__(self, store: Store, examples: list[Example] = (), parent=None):
        super().__init__(parent)
        self.store = store
        self.tiles: list[RunTile] = []   # least recently shown first
        self.welcome = Welcome(list(examples))
        self.welcome.example_chosen.connect(self.example_chosen)
        welcome_holder = QWidget()
        holder_layout = QHBoxLayout(welcome_holder)
        holder_layout.addWidget(self.welcome)
        # Scrolled: wrapped example descriptions must never make the window taller than the screen.
        welcome_scroll = QScrollArea()
        welcome_scroll.setWidgetResizable(True)
        welcome_scroll.setFrameShape(QFrame.Shape.NoFrame)
        welcome_scroll.setWidget(welcome_holder)
        self.grid_holder = QWidget()
        self.grid = QGridLayout(self.grid_holder)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(welcome_scroll)
        self._stack.addWidget(self.grid_holder)

    def tile(self, run_id: int) -> RunTile | None:
        return next((t for t in self.tiles if t.run_id == run_id), None)

    def plot_for(self, run_id: int) -> LivePlot | None:
        tile = self.tile(run_id)
        return tile.plot if tile else None

    @property
    def focused_run_id(self) -> int | None:
        return next((t.run_id for t in self.tiles if t.focused), None)

    def show_run(self, run_id: int, plot_kind: str, title: str, focus: bool = True) -> RunTile:
        """Show a run (live or over) in a tile, making room by closing the least recent one."""
        tile = self.tile(run_id)
        if tile is None:
            tile = RunTile(self.store, run_id, plot_kind, title)
            tile.clicked.connect(self._tile_clicked)
            tile.close_requested.connect(self.remove_tile)
            self.tiles.append(tile)
            while len(self.tiles) > MAX_TILES:
                self.remove_tile(self._least_wanted(keep=tile))
        elif focus:
            self.tiles.remove(tile)
            self.tiles.append(tile)
        if focus or len(self.tiles) == 1:
            self.focus(run_id)
        self._relayout()
        return tile

    def _least_wanted(self, keep: RunTile) -> RunTile:
        # Runs that are over go first; among equals, the one shown longest ago.
        candidates = [t for t in self.tiles if t is not keep and not t.focused] or \
                     [t for t in self.tiles if t is not keep]
        over = [t for t in candidates if t.over]
        return (over or candidates)[0]

    def focus(self, run_id: int) -> None:
        for tile in self.tiles:
            tile.set_focused(tile.run_id == run_id)

    def _tile_clicked(self, tile: RunTile) -> None:
        self.focus(tile.run_id)
        self.run_focused.emit(tile.run_id)

    def remove_tile(self, tile: RunTile) -> None:
        if tile not in self.tiles:
            return
        self.tiles.remove(tile)
        tile.stop()
        self.grid.removeWidget(tile)
        tile.setParent(None)
        tile.deleteLater()
        self._relayout()

    def clear(self) -> None:
        for tile in list(self.tiles):
            self.remove_tile(tile)

    def set_store(self, store: Store) -> None:
        self.clear()
        self.store = store

    def stop_timers(self) -> None:
        for tile in self.tiles:
            tile.stop()

    def _relayout(self) -> None:
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        columns = 1 if len(self.tiles) == 1 else 2
        # Oldest first, so a new run takes the next free place rather than shuffling all.
        for position, tile in enumerate(sorted(self.tiles, key=lambda t: t.run_id)):
            self.grid.addWidget(tile, position // columns, position % columns)
        for row in range(2):
            self.grid.setRowStretch(row, 1 if row < (len(self.tiles) + columns - 1) // columns else 0)
        self._stack.setCurrentIndex(1 if self.tiles else 0)
