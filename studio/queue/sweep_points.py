"""The points of one sweep as the engine's queue sees them: status, priority, run.

A view of the store's `sweep_points` rows (read, never written): the scheduler serving
the store takes the queued ones highest priority first, then by sweep, then by index.
Selected points can be given a priority, sent to the front or the back of the queue, or
cancelled; the widget asks for it through its signals (the Sweeps panel runs the engine's
`tradeoff priority` / `tradeoff cancel`). "in queue" is a queued point's place among all
the store's queued points, of any sweep: "next" is the one a free worker takes next.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import sweep_store
from engine.sweep import describe_values
from studio.sweeps.table_fill import filling

COLUMNS = ("point", "values", "status", "priority", "in queue", "run")
PRIORITY_RANGE = 1_000_000


class SweepPoints(QWidget):
    """The points of sweep `sweep_id` in `store`, refreshed by `refresh()`."""

    priority_requested = Signal(int, list, object)  # sweep id, point indexes, int/"first"/"last"
    cancel_requested = Signal(int, list)  # sweep id, point indexes
    run_activated = Signal(int)

    def __init__(self, store, sweep_id: int, parent=None):
        super().__init__(parent)
        self.store = store
        self.sweep_id = sweep_id
        self.points: list[dict] = []
        self.positions: dict[int, tuple[int, int]] = {}  # idx: (place in the queue, queued)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.priority = QSpinBox()
        self.priority.setRange(-PRIORITY_RANGE, PRIORITY_RANGE)
        self.priority.setToolTip("Higher runs first; points are submitted at 0.")
        self.set_button = QPushButton("Set priority")
        self.first_button = QPushButton("Run first")
        self.last_button = QPushButton("Run last")
        self.cancel_button = QPushButton("Cancel points")
        self.first_button.setToolTip("Before every other queued point, of any sweep.")
        self.last_button.setToolTip("After every other queued point, of any sweep.")
        self.cancel_button.setToolTip("Drop the queued points selected; stop the running ones.")
        self.hint = QLabel("Select points (queued ones can be reordered).")
        controls = QHBoxLayout()
        controls.addWidget(self.hint, 1)
        controls.addWidget(QLabel("priority"))
        controls.addWidget(self.priority)
        for button in (self.set_button, self.first_button, self.last_button, self.cancel_button):
            controls.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(controls)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.set_button.clicked.connect(lambda: self._ask_priority(self.priority.value()))
        self.first_button.clicked.connect(lambda: self._ask_priority("first"))
        self.last_button.clicked.connect(lambda: self._ask_priority("last"))
        self.cancel_button.clicked.connect(self._ask_cancel)
        self.refresh()

    def refresh(self) -> None:
        try:
            points = self.store.sweep(self.sweep_id)["points"]
        except KeyError:  # the store changed under the panel
            points = []
        # Where each queued point stands among all the store's queued points (any sweep).
        order = sweep_store.queue_positions(self.store.conn)
        positions = {i: (n, len(order)) for (s, i), n in order.items() if s == self.sweep_id}
        if points != self.points or positions != self.positions:
            selected = self.selected_idxs()
            self.points, self.positions = points, positions
            self.table.blockSignals(True)
            with filling(self.table):
                self._fill(selected)
            self.table.blockSignals(False)
        self._selection_changed()

    def _fill(self, selected: list[int]) -> None:
        self.table.setRowCount(len(self.points))
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for i, point in enumerate(self.points):
            cells = (
                str(point["idx"]),
                describe_values(point["values"]),
                sweep_store.shown_status(point["status"], point["run_id"]),
                str(point["priority"]),
                self._place(point["idx"]),
                "—" if point["run_id"] is None else str(point["run_id"]),
            )
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
            if point["idx"] in selected:
                self.table.selectRow(i)
        self.table.setSelectionMode(mode)

    def _place(self, idx: int) -> str:
        if idx not in self.positions:
            return ""
        place, queued = self.positions[idx]
        return "next" if place == 1 else f"{place} of {queued}"

    def selected_idxs(self) -> list[int]:
        rows = sorted(r.row() for r in self.table.selectionModel().selectedRows())
        return [self.points[r]["idx"] for r in rows if r < len(self.points)]

    def select_points(self, idxs) -> None:
        wanted = set(idxs)
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for i, point in enumerate(self.points):
            if point["idx"] in wanted:
                self.table.selectRow(i)
        self.table.setSelectionMode(mode)

    def _selected_points(self) -> list[dict]:
        chosen = set(self.selected_idxs())
        return [p for p in self.points if p["idx"] in chosen]

    def _selection_changed(self) -> None:
        chosen = self._selected_points()
        queued = sum(p["status"] == "queued" for p in chosen)
        live = sum(p["status"] in ("queued", "running") for p in chosen)
        for button in (self.set_button, self.first_button, self.last_button):
            button.setEnabled(queued > 0)
        self.cancel_button.setEnabled(live > 0)
        if not chosen:
            self.hint.setText("Select points (queued ones can be reordered).")
        else:
            self.hint.setText(f"{len(chosen)} selected, {queued} queued.")

    def _ask_priority(self, value) -> None:
        idxs = [p["idx"] for p in self._selected_points() if p["status"] == "queued"]
        if idxs:
            self.priority_requested.emit(self.sweep_id, idxs, value)

    def _ask_cancel(self) -> None:
        idxs = [p["idx"] for p in self._selected_points() if p["status"] in ("queued", "running")]
        if idxs:
            self.cancel_requested.emit(self.sweep_id, idxs)

    def _double_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self.points) and self.points[row]["run_id"] is not None:
            self.run_activated.emit(self.points[row]["run_id"])
