"""The Sweeps panel: every sweep in the store, and the views of the one selected.

The list is read from the store once a second (`StoreReader.sweeps()`: one row per sweep, so
the cost does not grow with the runs): status, points finished of all, the swept keys.
Selecting a sweep opens its `SweepPanel` (sweep view, trade-off across runs, parallel
coordinates) below, live while its points run, with a Points tab: the sweep's points as
the engine's queue sees them (`studio.queue.sweep_points`). Cancel and Resume go to the
engine's scheduler through `SweepLauncher`; a queued sweep that no scheduler serves (the
one that served it was stopped) says so and offers Resume. Run first / Run last (the
sweep's queued points before or after every other queued point) and the Points tab's
priority and cancel run `tradeoff priority` / `tradeoff cancel` (`SweepCommands`); a
scheduler serving the store takes the new order at its next claim, and the view is read
again when the command ends (its error line shown if it failed).
"""

from __future__ import annotations

import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import sweep_store
from studio.queue.sweep_commands import SweepCommands
from studio.sweeps.table_fill import filling

POLL_MS = 1000
COLUMNS = ("sweep", "name", "status", "points", "swept keys", "created")
LIVE = ("queued", "running")


def served(store) -> bool:
    """Whether a live scheduler holds the store's lock."""
    return sweep_store.lock_alive(sweep_store.scheduler(store.conn))


def live_note(rows: list[dict]) -> str:
    """'sweeps: 2 live, 7 of 12 points finished' over the queued and running sweeps."""
    live = [r for r in rows if r["status"] in LIVE]
    if not live:
        return ""
    done, total = sum(r["finished"] for r in live), sum(r["points"] for r in live)
    return f"sweeps: {len(live)} live, {done} of {total} points finished"


NO_SWEEPS = (
    "No sweeps yet. In Configure, press “sweep” beside a parameter to give it a list, "
    "a range or random samples, then Run: every point is a run, shown here as a curve "
    "across runs. Or run a sweep spec from the command line (tradeoff run SWEEP.toml)."
)
CHOOSE_A_SWEEP = (
    "Click a sweep above to see its summary against the swept parameter, the trade-off "
    "across its runs, its points and the tests between groups."
)


class SweepsBrowser(QWidget):
    run_activated = Signal(int)
    live_note_changed = Signal(str)
    cancel_requested = Signal(int)
    resume_requested = Signal(int)

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.store = store
        self.rows: list[dict] = []
        self.panel = None  # the SweepPanel of the selected sweep
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel sweep")
        self.resume_button = QPushButton("Resume")
        self.first_button = QPushButton("Run first")
        self.last_button = QPushButton("Run last")
        self.first_button.setToolTip(
            "Its queued points before every other queued point, of any sweep."
        )
        self.last_button.setToolTip("Its queued points after every other queued point.")
        self.cancel_button.setToolTip("Stop its running points and drop the queued ones.")
        self.resume_button.setToolTip(
            "Run the points not finished (queued, interrupted, cancelled, failed) again."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.state, 1)
        buttons.addWidget(self.first_button)
        buttons.addWidget(self.last_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table)
        top_layout.addLayout(buttons)
        # What the last priority or cancel command did, or why the engine refused it.
        self.command_note = QLabel()
        self.command_note.setWordWrap(True)
        self.command_note.hide()
        top_layout.addWidget(self.command_note)
        self.empty = QLabel(NO_SWEEPS)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.empty)
        self.splitter.setSizes([180, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.cancel_button.clicked.connect(self._cancel)
        self.resume_button.clicked.connect(self._resume)
        self.first_button.clicked.connect(lambda: self._move("first"))
        self.last_button.clicked.connect(lambda: self._move("last"))
        self.points = None  # the Points tab of the selected sweep
        self.commands = SweepCommands(store.path, self)
        self.commands.done.connect(lambda line: self._command_ended(line, failed=False))
        self.commands.failed.connect(lambda line: self._command_ended(line, failed=True))
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    # -- the list ---------------------------------------------------------------------------
    def set_store(self, store) -> None:
        self._close_panel()
        self.store = store
        self.commands.set_db(store.path)
        self.command_note.hide()
        self.rows = []
        self.table.setRowCount(0)
        self.refresh()

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()]["id"] if rows else None

    def refresh(self) -> None:
        # A run queued alone is a sweep of one point with no swept key: the run queue shows it.
        rows = [r for r in self.store.sweeps() if r["keys"]]
        if [self._key(r) for r in rows] != [self._key(r) for r in self.rows]:
            selected = self.selected_id()
            self.rows = rows
            self.table.blockSignals(True)
            with filling(self.table):
                self._fill(rows, selected)
            self.table.blockSignals(False)
            self.live_note_changed.emit(live_note(rows))
            self.empty.setText(CHOOSE_A_SWEEP if rows else NO_SWEEPS)
        if self.points is not None:
            self.points.refresh()
        self._show_state()

    def _fill(self, rows: list[dict], selected: int | None) -> None:
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            created = datetime.datetime.fromtimestamp(row["created_at"]).strftime("%Y-%m-%d %H:%M")
            cells = (
                str(row["id"]),
                row["name"] or "",
                row["status"],
                f"{row['finished']} of {row['points']} finished",
                ", ".join(row["keys"]) or "—",
                created,
            )
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
            if row["id"] == selected:
                self.table.selectRow(i)

    @staticmethod
    def _key(row: dict) -> tuple:
        return (row["id"], row["status"], row["finished"], row["points"], row["name"])

    def _show_state(self) -> None:
        sweep_id = self.selected_id()
        row = next((r for r in self.rows if r["id"] == sweep_id), None)
        self.cancel_button.setEnabled(row is not None and row["status"] in LIVE)
        self.resume_button.setEnabled(row is not None and row["finished"] < row["points"])
        queued = self._queued_points(sweep_id) if row is not None and row["status"] in LIVE else 0
        self.first_button.setEnabled(queued > 0)
        self.last_button.setEnabled(queued > 0)
        if row is None:
            self.state.setText("")
        elif row["status"] == "queued" and not served(self.store):
            self.state.setText(
                f"Sweep {sweep_id} is queued but no scheduler serves this store: Resume runs it."
            )
        else:
            self.state.setText(
                f"Sweep {sweep_id}: {row['status']}, {row['finished']} of {row['points']} points finished."
            )

    def _queued_points(self, sweep_id: int) -> int:
        if self.points is not None and self.points.sweep_id == sweep_id:
            points = self.points.points
        else:
            try:
                points = self.store.sweep(sweep_id)["points"]
            except KeyError:
                return 0
        return sum(p["status"] == "queued" for p in points)

    # -- the views of one sweep -------------------------------------------------------------
    def show_sweep(self, sweep_id: int) -> None:
        for i, row in enumerate(self.rows):
            if row["id"] == sweep_id:
                self.table.selectRow(i)
                return
        self.refresh()
        for i, row in enumerate(self.rows):
            if row["id"] == sweep_id:
                self.table.selectRow(i)

    def _selection_changed(self) -> None:
        sweep_id = self.selected_id()
        self._show_state()
        if sweep_id is None or (self.panel is not None and self.panel.sweep_id == sweep_id):
            return
        self._close_panel()
        # Imported here: the views (and pyqtgraph's extras they use) are not needed to start.
        from studio.sweeps.panel import SweepPanel

        self.panel = SweepPanel(self.store, sweep_id)
        self.panel.sweep_id = sweep_id
        self.panel.run_activated.connect(self.run_activated)
        from studio.queue.sweep_points import SweepPoints

        self.points = SweepPoints(self.store, sweep_id)
        self.points.run_activated.connect(self.run_activated)
        self.points.priority_requested.connect(
            lambda sid, idxs, value: self.commands.set_priority(sid, value, idxs)
        )
        self.points.cancel_requested.connect(self.commands.cancel)
        self.panel.tabs.addTab(self.points, "Points")
        self.splitter.replaceWidget(1, self.panel)
        self.empty.hide()

    def _close_panel(self) -> None:
        if self.panel is None:
            return
        self.panel.stop()
        self.splitter.replaceWidget(1, self.empty)
        self.empty.show()
        self.panel.deleteLater()
        self.panel = None
        self.points = None  # a tab of the panel: deleted with it

    def _cancel(self) -> None:
        sweep_id = self.selected_id()
        if sweep_id is not None:
            self.cancel_requested.emit(sweep_id)

    def _move(self, edge: str) -> None:
        """Run first / Run last: the selected sweep's queued points, by `tradeoff priority`."""
        sweep_id = self.selected_id()
        if sweep_id is not None:
            self.commands.set_priority(sweep_id, edge)

    def _command_ended(self, line: str, failed: bool) -> None:
        self.command_note.setText(line)
        self.command_note.setStyleSheet("color: #b00020;" if failed else "")
        self.command_note.show()
        self.refresh()

    def _resume(self) -> None:
        sweep_id = self.selected_id()
        if sweep_id is not None:
            self.resume_requested.emit(sweep_id)

    def stop(self) -> None:
        self.timer.stop()
        self.commands.stop()
        self._close_panel()
