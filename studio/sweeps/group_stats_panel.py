"""A table of tests between groups of runs: does the chosen summary differ between them?

`GroupStatsTable.set_groups({label: per-seed values}, header_lines)` fills one row per pair
of groups (`engine.metrics.group_stats.compare_groups`): both means, the difference of means
with its Welch 95% CI, Hedges' g with its 95% CI, and Welch's and Mann-Whitney's p-values,
each Holm-corrected across the pairs. "Copy CSV" and "Export CSV…" give every column,
uncorrected p-values and degrees of freedom included, after `# ` lines saying what was
compared. The sweep view and Compare both embed it.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.metrics import group_stats
from engine.metrics.group_stats import PairComparison, compare_groups, comparisons_csv
from studio.sweeps.table_fill import filling
from studio.sweeps.worker import run_yielding

# While a sweep streams, its groups' values change at every poll: the tests (about 0.1 s of
# CPU for 28 pairs) are computed for the latest of them at most this often.
STREAMING_TESTS_S = 3.0
PENDING_RETRY_MS = 200  # how often a table waiting for scipy.stats looks again
COLUMNS = (
    "A",
    "B",
    "n A / B",
    "mean A",
    "mean B",
    "A − B [95% CI]",
    "Hedges' g [95% CI]",
    "Welch p (Holm)",
    "Mann–Whitney p (Holm)",
)
SIGNIFICANT_COLOUR = (255, 236, 179)  # a Holm-corrected p below 0.05, as the diff marks differences
ALPHA = 0.05


def number(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.4g}"


def p_text(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    return "< 1e-4" if value < 1e-4 else f"{value:.4f}"


def row_texts(row: PairComparison) -> list[str]:
    return [
        row.group_a,
        row.group_b,
        f"{row.n_a} / {row.n_b}",
        number(row.mean_a),
        number(row.mean_b),
        f"{number(row.difference)} [{number(row.difference_lo)}, {number(row.difference_hi)}]",
        f"{number(row.hedges_g)} [{number(row.hedges_g_lo)}, {number(row.hedges_g_hi)}]",
        f"{p_text(row.welch_p_holm)} (raw {p_text(row.welch_p)})",
        f"{p_text(row.mwu_p_holm)} (raw {p_text(row.mwu_p)})",
    ]


_executor: ThreadPoolExecutor | None = None


def _tests_executor() -> ThreadPoolExecutor:
    """One worker for every table: tests are computed one set at a time, in order."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-tests")
    return _executor


class _Relay(QObject):
    done = Signal(int, object)  # generation, (groups, header, note) and the future of the tests


def same_groups(a, b) -> bool:
    """Whether two (groups, header lines, note) say the same: the same labels in the same
    order with equal values."""
    if a is None or b is None or a[1:] != b[1:] or list(a[0]) != list(b[0]):
        return False
    return all(np.array_equal(a[0][k], b[0][k], equal_nan=True) for k in a[0])


class GroupStatsTable(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[PairComparison] = []
        self.header_lines: list[str] = []
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #505050;")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.copy_button = QPushButton("Copy CSV")
        self.copy_button.setToolTip("Copy every column of the table, as CSV, to the clipboard.")
        self.export_button = QPushButton("Export CSV…")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.copy_button.clicked.connect(self.copy_csv)
        self.export_button.clicked.connect(self._export_clicked)
        self._pending = None
        self._shown = None  # the groups, header and note the table shows (or computes)
        self._generation = 0
        self._relay = _Relay(self)
        self._relay.done.connect(self._tests_done)
        self._queued = None  # groups waiting to be tested in the background
        self._last_submit = -math.inf
        self._submit_timer = QTimer(self)
        self._submit_timer.setSingleShot(True)
        self._submit_timer.timeout.connect(self._submit)
        self.set_groups({}, [])

    def _retry(self) -> None:
        if self._pending is not None:
            self.set_groups(*self._pending)

    def _fill_rows(self) -> None:
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            significant = min(row.welch_p_holm, row.mwu_p_holm) < ALPHA
            for j, text in enumerate(row_texts(row)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if j >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if significant and j >= 7:
                    item.setBackground(QBrush(QColor(*SIGNIFICANT_COLOUR)))
                self.table.setItem(i, j, item)

    def set_groups(
        self, groups: dict, header_lines=(), note: str = "", background: bool = False
    ) -> None:
        """Compare these groups (label -> per-seed values); `header_lines` say what they are (in
        the CSV), `note` what the caption should add (e.g. what each group pools over).

        `background`: compute the tests in a worker thread and fill the table when they are
        done (the table shows the last tests until then), for the latest groups at most
        every STREAMING_TESTS_S: what a view streaming a sweep does, since 28 pairs of tests
        take about 0.1 s of CPU, up to a second of the GUI thread on a loaded machine
        (bench/sweep_stall.py). Otherwise they are computed here, and while
        scipy.stats is still being imported (off the GUI thread, see
        `group_stats.preload_in_background`) they wait for it instead of importing it here:
        the table says so and fills itself once the import is done. The same groups again
        compute nothing."""
        usable = {label: values for label, values in groups.items() if len(values)}
        shown = (usable, list(header_lines), note)
        if self._pending is None and same_groups(self._shown, shown):
            return  # a refresh that changed nothing here: no tests, no refill
        if background and len(usable) >= 2:
            self._pending = None
            self._shown = self._queued = shown
            wait = self._last_submit + STREAMING_TESTS_S - time.monotonic()
            if wait > 0:  # tests of streaming values: the latest groups, now and then
                if not self._submit_timer.isActive():
                    self._submit_timer.start(int(wait * 1000) + 1)
                return
            self._submit()
            return
        self._queued = None
        self._submit_timer.stop()
        self._generation += 1  # tests still being computed in the background are dropped
        if len(usable) >= 2 and not group_stats.ready():
            self._pending = (groups, header_lines, note)
            self.caption.setText("Loading the statistical tests…")
            QTimer.singleShot(PENDING_RETRY_MS, self._retry)
            return
        self._pending = None
        self._shown = shown
        self._show(compare_groups(usable) if len(usable) >= 2 else [], *shown)

    def _submit(self) -> None:
        shown, self._queued = self._queued, None
        if shown is None:
            return
        self._last_submit = time.monotonic()
        generation = self._generation
        future = _tests_executor().submit(run_yielding, compare_groups, shown[0])
        future.add_done_callback(lambda f: self._relay_done(generation, shown, f))

    def _relay_done(self, generation: int, shown, future) -> None:
        """In the worker thread: hand the result to the GUI thread (a queued signal)."""
        try:
            self._relay.done.emit(generation, (shown, future))
        except RuntimeError:  # the table was closed meanwhile
            pass

    def _tests_done(self, generation: int, done) -> None:
        shown, future = done
        if generation == self._generation:
            self._show(future.result(), *shown)

    def _show(self, rows, usable: dict, header_lines: list, note: str) -> None:
        self.header_lines = list(header_lines)
        self.rows = rows
        with filling(self.table):
            self._fill_rows()
        seeds = sum(len(v) for v in usable.values())
        if len(usable) < 2:
            self.caption.setText(
                "Tests between groups need at least two groups with kept seeds' values."
            )
        else:
            self.caption.setText(
                f"{len(usable)} groups, {seeds} seed values (kept seeds). Two-sided tests; "
                f"p-values Holm-corrected across the {len(self.rows)} pairs, raw in brackets; "
                "A − B with its Welch 95% CI; Hedges' g with its large-sample 95% CI."
                + (f" {note}" if note else "")
            )
        for button in (self.copy_button, self.export_button):
            button.setEnabled(bool(self.rows))

    def csv_text(self) -> str:
        return comparisons_csv(self.rows, self.header_lines)

    def copy_csv(self) -> None:
        QGuiApplication.clipboard().setText(self.csv_text())

    def export_csv(self, path) -> None:
        Path(path).write_text(self.csv_text(), encoding="utf-8")

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the tests between groups", "group-tests.csv", "CSV (*.csv)"
        )
        if path:
            self.export_csv(path)
