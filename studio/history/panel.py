"""The history: every run in the store, live, sortable and filterable, with its details.

Embedding: `HistoryPanel(store)`; connect `run_activated(int)` (double-click: show
this run), `compare_requested(list)` (the selected run ids) and
`export_requested(list)`. Tags, notes and delete go through engine commands; the
table picks their effect up on its next poll, like a run started from the CLI.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionHeader,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.store import STATUSES, StoreReader
from studio.history.details import RunDetails
from studio.history.engine_actions import (
    EngineActions,
    delete_arguments,
    note_arguments,
    tag_arguments,
)
from studio.history.model import COLUMNS, RUN_ID_ROLE, RunTableModel
from studio.history.proxy import ALL_STATUSES, RunFilterProxy
from studio.history.summary import SummarySpec
from studio.history.summary_dialog import SummaryColumnsDialog

POLL_MS = 1000
# Names are shown whole up to this width, then cut in the middle (their ends tell runs
# apart: "ucb-c0.5-…-seed3"); the tooltip has the full name.
NAME_MAX_WIDTH = 420


class MiddleElided(QStyledItemDelegate):
    """Text too long for its cell loses its middle, not its end."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class RunHeader(QHeaderView):
    """The table's header, its sort arrow pointing the way the rows go: ▲ ascending (smallest
    first), ▼ descending. QHeaderView hands the style the opposite (an ascending column is
    "SortDown"), so Fusion drew "id ▲" over ids in descending order."""

    def initStyleOptionForIndex(self, option, logical_index: int) -> None:
        super().initStyleOptionForIndex(option, logical_index)
        if self.isSortIndicatorShown() and logical_index == self.sortIndicatorSection():
            ascending = self.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
            option.sortIndicator = (
                QStyleOptionHeader.SortIndicator.SortUp
                if ascending
                else QStyleOptionHeader.SortIndicator.SortDown
            )


class HistoryPanel(QWidget):
    run_activated = Signal(int)  # "show this run" (double-click)
    compare_requested = Signal(list)  # run ids
    export_requested = Signal(list)  # run ids
    selection_changed = Signal(list)  # run ids, in table order

    def __init__(self, store: StoreReader, parent=None):
        super().__init__(parent)
        self.store = store
        self.model = RunTableModel(store, self)
        self.proxy = RunFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.actions = EngineActions(store.path, self)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(
            "filter: words in name, algorithm, parameters, tags, notes…"
        )
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItems([ALL_STATUSES, *STATUSES])
        self.status_combo.setToolTip("Show only runs with this status.")
        self.summary_button = QPushButton("Summary columns…")
        self.summary_button.setToolTip(
            "Add columns such as the final, best or area under the curve of a metric."
        )
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Overlay the selected runs.")
        self.export_button = QPushButton("Export…")
        self.delete_button = QPushButton("Delete…")
        self.count_label = QLabel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableView()
        self.table.setHorizontalHeader(RunHeader(Qt.Orientation.Horizontal, self.table))
        self.table.setModel(self.proxy)
        self.table.setItemDelegateForColumn(COLUMNS.index("name"), MiddleElided(self.table))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("id"), Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.details = RunDetails()

        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.status_combo)
        bar.addWidget(self.summary_button)
        bar.addWidget(self.compare_button)
        bar.addWidget(self.export_button)
        bar.addWidget(self.delete_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([380, 260])
        footer = QHBoxLayout()
        footer.addWidget(self.count_label)
        footer.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        layout.addLayout(footer)

        self.filter_edit.textChanged.connect(self._filter_text)
        self.status_combo.currentTextChanged.connect(self._filter_status)
        self.summary_button.clicked.connect(self.choose_summaries)
        self.compare_button.clicked.connect(
            lambda: self.compare_requested.emit(self.selected_ids())
        )
        self.export_button.clicked.connect(lambda: self.export_requested.emit(self.selected_ids()))
        self.delete_button.clicked.connect(self.confirm_delete)
        self.table.doubleClicked.connect(self._activated)
        # The run under the first click of a double-click: rows that come in between the two
        # clicks move it from under the pointer, and the double-click still means it.
        self._pressed_run: int | None = None
        self.table.viewport().installEventFilter(self)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.model.dataChanged.connect(self._current_changed)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsInserted.connect(self._fit_names)
        self.model.rowsRemoved.connect(self._update_count)
        self.details.tags_edited.connect(self._edit_tags)
        self.details.notes_edited.connect(self._edit_notes)
        self.actions.done.connect(self._action_done)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.refresh)
        self.poll_timer.start()
        self._resize_columns()
        self._update_buttons()
        self._update_count()

    # -- the store -----------------------------------------------------------------------
    def set_store(self, store: StoreReader) -> None:
        """Show another store (after "Open store…")."""
        self.store = store
        self.actions.db_path = str(store.path)
        self.model.set_store(store)
        self.details.show_record(None)

    def refresh(self) -> None:
        if self.model.refresh():
            self._update_count()

    def stop_polling(self) -> None:
        self.poll_timer.stop()

    # -- selection -------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.proxy.index(r, 0).data(RUN_ID_ROLE) for r in rows]

    def select_runs(self, run_ids) -> None:
        wanted = set(run_ids)
        selection = self.table.selectionModel()
        selection.clearSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(RUN_ID_ROLE) in wanted:
                selection.select(
                    index,
                    QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows,
                )

    def _selection_changed(self, *_):
        ids = self.selected_ids()
        self.details.show_record(self.model.record(ids[0]) if len(ids) == 1 else None)
        self._update_buttons()
        self.selection_changed.emit(ids)

    def _current_changed(self, top_left, bottom_right, *_):
        ids = self.selected_ids()
        if len(ids) == 1 and self.details.record is not None:
            record = self.model.record(ids[0])
            if top_left.row() <= self.model.row_of(ids[0]) <= bottom_right.row():
                self.details.show_record(record)

    def _update_buttons(self) -> None:
        count = len(self.selected_ids())
        self.compare_button.setEnabled(count >= 1)
        self.export_button.setEnabled(count >= 1)
        self.delete_button.setEnabled(count >= 1)

    def _update_count(self, *_) -> None:
        total = self.model.rowCount()
        shown = self.proxy.rowCount()
        self.count_label.setText(f"{total} runs" if shown == total else f"{shown} of {total} runs")

    def _activated(self, index) -> None:
        self.run_activated.emit(index.data(RUN_ID_ROLE))

    def _run_at(self, event) -> int | None:
        index = self.table.indexAt(event.position().toPoint())
        return index.data(RUN_ID_ROLE) if index.isValid() else None

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table.viewport():
            if event.type() == QEvent.Type.MouseButtonPress:
                self._pressed_run = self._run_at(event)
            elif (
                event.type() == QEvent.Type.MouseButtonDblClick
                and event.button() == Qt.MouseButton.LeftButton
                and self._pressed_run is not None
                and self._run_at(event) != self._pressed_run
            ):
                # Rows were inserted between the clicks: the run clicked is no longer under
                # the pointer. Open it and keep it selected, never the row that moved in.
                run_id = self._pressed_run
                self.select_runs([run_id])
                self.run_activated.emit(run_id)
                return True
        return super().eventFilter(watched, event)

    def _context_menu(self, position) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        menu = QMenu(self)
        if len(ids) == 1:
            menu.addAction("Show run", lambda: self.run_activated.emit(ids[0]))
        menu.addAction("Compare", lambda: self.compare_requested.emit(ids))
        menu.addAction("Export…", lambda: self.export_requested.emit(ids))
        menu.addSeparator()
        menu.addAction("Delete…", self.confirm_delete)
        menu.popup(self.table.viewport().mapToGlobal(position))

    # -- filter and summaries -----------------------------------------------------------------
    def _filter_text(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    def _filter_status(self, status: str) -> None:
        self.proxy.set_status(status)
        self._update_count()

    def set_summaries(self, summaries: list[SummarySpec]) -> None:
        self.model.set_summaries(summaries)
        # Shown after "steps", where they are seen without scrolling; the model keeps them last.
        header = self.table.horizontalHeader()
        after = header.visualIndex(COLUMNS.index("steps"))
        for offset in range(len(summaries)):
            header.moveSection(header.visualIndex(len(COLUMNS) + offset), after + 1 + offset)
        self._resize_columns()

    def choose_summaries(self) -> None:
        dialog = SummaryColumnsDialog(self.model.metrics(), self.model.summaries, self)
        if dialog.exec():
            self.set_summaries(dialog.summaries)

    def _resize_columns(self) -> None:
        self.table.resizeColumnsToContents()
        for name, width in (("parameters", 260), ("notes", 200), ("name", NAME_MAX_WIDTH)):
            column = COLUMNS.index(name)
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), width))

    def _fit_names(self, *_) -> None:
        """Widen the name column for new runs' names (up to NAME_MAX_WIDTH); never narrow it,
        so a width the user chose stays."""
        column = COLUMNS.index("name")
        wanted = min(self.table.sizeHintForColumn(column), NAME_MAX_WIDTH)
        if wanted > self.table.columnWidth(column):
            self.table.setColumnWidth(column, wanted)

    # -- changes through the engine -----------------------------------------------------------
    def _edit_tags(self, run_id: int, old: list, new: list) -> None:
        arguments = tag_arguments(run_id, old, new)
        if arguments is not None:
            self.message.setText(f"saving tags of run {run_id}…")
            self.actions.run(arguments)

    def _edit_notes(self, run_id: int, text: str) -> None:
        self.message.setText(f"saving notes of run {run_id}…")
        self.actions.run(note_arguments(run_id, text))

    def confirm_delete(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        names = ", ".join(map(str, ids))
        answer = QMessageBox.question(
            self,
            "Delete runs",
            f"Delete run{'s' if len(ids) > 1 else ''} {names} with all their records?\nThis cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_runs(ids)

    def delete_runs(self, run_ids) -> None:
        """Delete without asking (the confirmation is `confirm_delete`'s)."""
        self.message.setText(f"deleting run {', '.join(map(str, run_ids))}…")
        self.actions.run(delete_arguments(run_ids))

    def _action_done(self, ok: bool, message: str) -> None:
        self.message.setStyleSheet("" if ok else "color: #c0392b;")
        self.message.setText(message if ok else f"refused: {message}")
        self.refresh()
