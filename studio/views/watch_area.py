"""Watch: live plots of the running and selected runs, up to eight, in a grid that scrolls.

Each tile is a `LivePlot` on one run with a header (run, status, where it runs). A
tile follows its run while the store says it is live and reads what is left once it
is over, so the same tile shows a run that is going, one that has just ended and one
picked from the history. With no tile yet, the area welcomes the user and offers the
example specs.

The grid never widens the window: it lives in a scroll area, every tile keeps at least
TILE_MIN_WIDTH x TILE_MIN_HEIGHT (more where its view needs more, e.g. the pairwise
projections of three objectives), and the columns are as many as fit the area's width.
Any tile can be maximised (its ⤢ button or a double-click on its header) and shown alone.
"""

from __future__ import annotations

import html
import json
import math
import textwrap

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedLayout,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.store import LIVE_STATUSES, StoreReader
from studio.configure.examples import Example
from studio.menus import without_mnemonic
from studio.queue.queue_view import STATUS_COLOURS
from studio.views.live_plot import LivePlot

MAX_TILES = 8
SUMMARY_CHARACTERS = 150
# The smallest tile whose axes, ticks and legend still read; below it the area scrolls.
TILE_MIN_WIDTH = 460
TILE_MIN_HEIGHT = 320
GRID_SPACING = 6
MAXIMISE_TEXT, RESTORE_TEXT = "⤢", "⤡"


def grid_columns(tiles: int, width: int, tile_width: int) -> int:
    """How many columns `tiles` tiles of at least `tile_width` take in `width` pixels: as many
    as fit, and no more than a square grid needs (four tiles are 2 x 2, not 3 + 1)."""
    if tiles <= 1:
        return 1
    fit = (width + GRID_SPACING) // (tile_width + GRID_SPACING)
    return max(1, min(fit, math.ceil(math.sqrt(tiles))))


def run_detail(row: dict) -> str:
    """'2 seeds × 3,000 steps · cpu, float32, 1 thread' from a run row."""
    seeds = row.get("seeds") or 1
    text = f"{seeds:,} seed{'s' if seeds != 1 else ''} × {row.get('steps') or 0:,} steps"
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
    maximise_requested = Signal(object)  # toggles: alone in Watch, or back in the grid

    def __init__(self, store: StoreReader, run_id: int, plot_kind: str, title: str, parent=None):
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
        self.maximise_button = QToolButton()
        self.maximise_button.setAutoRaise(True)
        self.set_maximised(False)
        first_line = QHBoxLayout()
        first_line.addWidget(self.title_label, 1)
        first_line.addWidget(self.status_label)
        first_line.addWidget(self.maximise_button)
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
        self.maximise_button.clicked.connect(lambda: self.maximise_requested.emit(self))
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
        self.setStyleSheet(
            f"RunTile {{ border: {2 if focused else 1}px solid "
            f"{self.palette().color(role).name()}; border-radius: 3px; }}"
        )

    def set_maximised(self, maximised: bool) -> None:
        self.maximised = maximised
        self.maximise_button.setText(RESTORE_TEXT if maximised else MAXIMISE_TEXT)
        self.maximise_button.setToolTip(
            "Back to all the runs in Watch (or double-click the header)"
            if maximised
            else "Show this run alone in Watch (or double-click the header)"
        )

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        # The plot takes its own double-clicks (pyqtgraph); what reaches the tile is the header's.
        if event.button() == Qt.MouseButton.LeftButton:
            self.maximise_requested.emit(self)
        super().mouseDoubleClickEvent(event)

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
        text = QLabel(
            "Choose an algorithm on the left, set its parameters and press <b>Run</b> (Ctrl+R). "
            "Runs appear here as they go, side by side (⤢ shows one alone); the queue below "
            "shows their progress."
        )
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(heading)
        layout.addWidget(text)
        if examples:
            layout.addWidget(
                QLabel("Or start from an example (it fills in the form; press Run to run it):")
            )
        for example in examples:
            # A line or two each: with a dozen examples the full notes would bury the list.
            # A command link draws its title and its description with "&" as a mnemonic.
            summary = textwrap.shorten(example.description, SUMMARY_CHARACTERS, placeholder=" …")
            button = QCommandLinkButton(without_mnemonic(example.name), without_mnemonic(summary))
            button.setToolTip(f"{example.description}\n\n{example.path}")
            button.clicked.connect(lambda _=False, p=example.path: self.example_chosen.emit(p))
            layout.addWidget(button)
            self.buttons[example.name] = button
        layout.addStretch(2)
        self.setMaximumWidth(720)


class TileGrid(QGridLayout):
    """The tiles' grid. Without height-for-width: else the scroll area would size it to every
    tile's preferred height (wrapped labels make a layout height-for-width), and one tile
    alone would take several screens; this way rows share the visible height and only
    scroll when their minimum does not fit."""

    def hasHeightForWidth(self) -> bool:
        return False


class WatchArea(QWidget):
    run_focused = Signal(int)  # the user clicked a tile
    example_chosen = Signal(object)  # a Path, from the welcome

    def __init__(self, store: StoreReader, examples: list[Example] = (), parent=None):
        super().__init__(parent)
        self.store = store
        self.tiles: list[RunTile] = []  # least recently shown first
        self.maximised: RunTile | None = None
        self.columns = 1
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
        self.grid = TileGrid(self.grid_holder)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(GRID_SPACING)
        # Scrolled too: tiles that need more room than the window has scroll, the window never grows.
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.grid_scroll.setWidget(self.grid_holder)
        self.grid_scroll.installEventFilter(self)
        self.alone_note = QLabel()
        self.alone_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.alone_note.setContentsMargins(4, 0, 4, 2)
        self.alone_note.hide()
        tiles_page = QWidget()
        tiles_layout = QVBoxLayout(tiles_page)
        tiles_layout.setContentsMargins(0, 0, 0, 0)
        tiles_layout.setSpacing(0)
        tiles_layout.addWidget(self.alone_note)
        tiles_layout.addWidget(self.grid_scroll, 1)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(welcome_scroll)
        self._stack.addWidget(tiles_page)

    def tile(self, run_id: int) -> RunTile | None:
        return next((t for t in self.tiles if t.run_id == run_id), None)

    def plot_for(self, run_id: int) -> LivePlot | None:
        tile = self.tile(run_id)
        return tile.plot if tile else None

    @property
    def focused_run_id(self) -> int | None:
        return next((t.run_id for t in self.tiles if t.focused), None)

    def show_run(self, run_id: int, plot_kind: str, title: str, focus: bool = True) -> RunTile:
        """Show a run (live or over) in a tile, making room by closing the least recent one.

        A run shown with `focus` while another tile is maximised brings the grid back, so
        that the run asked for is in view."""
        tile = self.tile(run_id)
        if tile is None:
            tile = RunTile(self.store, run_id, plot_kind, title)
            tile.clicked.connect(self._tile_clicked)
            tile.close_requested.connect(self.remove_tile)
            tile.maximise_requested.connect(self.toggle_maximised)
            self.tiles.append(tile)
            while len(self.tiles) > MAX_TILES:
                self.remove_tile(self._least_wanted(keep=tile))
        elif focus:
            self.tiles.remove(tile)
            self.tiles.append(tile)
        if focus and self.maximised is not None and self.maximised is not tile:
            self._set_maximised(None)
        if focus or len(self.tiles) == 1:
            self.focus(run_id)
        self._relayout()
        return tile

    def _least_wanted(self, keep: RunTile) -> RunTile:
        # Runs that are over go first; among equals, the one shown longest ago.
        candidates = [t for t in self.tiles if t is not keep and not t.focused] or [
            t for t in self.tiles if t is not keep
        ]
        over = [t for t in candidates if t.over]
        return (over or candidates)[0]

    def focus(self, run_id: int) -> None:
        for tile in self.tiles:
            tile.set_focused(tile.run_id == run_id)

    def _tile_clicked(self, tile: RunTile) -> None:
        self.focus(tile.run_id)
        self.run_focused.emit(tile.run_id)

    # -- one tile alone ----------------------------------------------------------------------
    def maximise(self, run_id: int | None) -> None:
        """Show the run's tile alone in Watch; None shows them all again."""
        self._set_maximised(self.tile(run_id) if run_id is not None else None)
        self._relayout()

    def toggle_maximised(self, tile: RunTile) -> None:
        self.maximise(None if self.maximised is tile else tile.run_id)

    def _set_maximised(self, tile: RunTile | None) -> None:
        self.maximised = tile
        for each in self.tiles:
            each.set_maximised(each is tile)

    def remove_tile(self, tile: RunTile) -> None:
        if tile not in self.tiles:
            return
        self.tiles.remove(tile)
        if self.maximised is tile:
            self._set_maximised(None)
        tile.stop()
        self.grid.removeWidget(tile)
        tile.setParent(None)
        tile.deleteLater()
        self._relayout()

    def clear(self) -> None:
        for tile in list(self.tiles):
            self.remove_tile(tile)

    def set_store(self, store: StoreReader) -> None:
        self.clear()
        self.store = store

    def stop_timers(self) -> None:
        for tile in self.tiles:
            tile.stop()

    # -- the grid -------------------------------------------------------------------------------
    def tile_width(self) -> int:
        """The width a column needs: the minimum, or more where a tile's view asks for it."""
        return max([TILE_MIN_WIDTH] + [t.minimumSizeHint().width() for t in self.tiles])

    def _grid_width(self) -> int:
        # As if the vertical scroll bar were there: the columns do not flip as it comes and goes.
        bar = self.grid_scroll.verticalScrollBar().sizeHint().width()
        return max(0, self.grid_scroll.width() - 2 * self.grid_scroll.frameWidth() - bar)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.grid_scroll and event.type() == QEvent.Type.Resize and self.tiles:
            if self._columns_wanted() != self.columns:
                self._relayout()
        return super().eventFilter(watched, event)

    def _columns_wanted(self) -> int:
        if self.maximised is not None:
            return 1
        return grid_columns(len(self.tiles), self._grid_width(), self.tile_width())

    def _relayout(self) -> None:
        for tile in self.tiles:
            self.grid.removeWidget(tile)
        for index in range(self.grid.rowCount()):
            self.grid.setRowStretch(index, 0)
            self.grid.setRowMinimumHeight(index, 0)
        for index in range(self.grid.columnCount()):
            self.grid.setColumnStretch(index, 0)
            self.grid.setColumnMinimumWidth(index, 0)
        shown = (
            [self.maximised]
            if self.maximised is not None
            else sorted(self.tiles, key=lambda t: t.run_id)
        )
        self.columns = columns = self._columns_wanted()
        # Oldest first, so a new run takes the next free place rather than shuffling all.
        for position, tile in enumerate(shown):
            self.grid.addWidget(tile, position // columns, position % columns)
            tile.show()
        for tile in self.tiles:
            if tile not in shown:
                tile.hide()
        rows = (len(shown) + columns - 1) // columns
        for row in range(rows):
            self.grid.setRowStretch(row, 1)
            self.grid.setRowMinimumHeight(row, TILE_MIN_HEIGHT)
        for column in range(columns):
            self.grid.setColumnStretch(column, 1)
            self.grid.setColumnMinimumWidth(column, TILE_MIN_WIDTH)
        others = len(self.tiles) - 1
        if self.maximised is not None and others:
            self.alone_note.setText(
                f"Run {self.maximised.run_id} alone; {others} more run{'s' if others != 1 else ''} "
                f"in Watch: {RESTORE_TEXT} or a double-click on its header shows them all."
            )
        self.alone_note.setVisible(self.maximised is not None and others > 0)
        self._stack.setCurrentIndex(1 if self.tiles else 0)
