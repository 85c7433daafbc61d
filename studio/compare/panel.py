"""Compare: overlay several runs' curves of one metric, group them by a parameter, diff two specs,
and test whether the groups differ at a summary of the metric (the Statistics tab).

Embedding: `ComparePanel(store)`; call `set_runs(run_ids)` (e.g. from the history's
`compare_requested`). `current_figure()` is what Export writes; the panel's own Export
button opens the export dialog on it. While a compared run is still live its data is
re-read every RELOAD_MS.
"""

from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.metrics import group_stats
from engine.store import LIVE_STATUSES, StoreReader
from studio.compare.diff import diff_rows, flatten_run
from studio.compare.figures import common_metrics, comparison_figure, run_label
from studio.compare.grouping import EACH_RUN, group_keys
from studio.compare.statistics import group_seed_values
from studio.export.figure import Figure
from studio.export.render import draw_figure
from studio.notices import KIND_COLOURS
from studio.sweeps.group_stats_panel import GroupStatsTable
from studio.sweeps.live import SummaryChoice
from studio.views import plot_style
from studio.views.run_data import RunData

RELOAD_MS = 2000
DIFFERS_BRUSH = QBrush(QColor(255, 236, 179))


class ComparePanel(QWidget):
    export_requested = Signal()  # the Export button: the host may open its own dialog instead

    def __init__(self, store: StoreReader, parent=None):
        super().__init__(parent)
        self.store = store
        self.rows: dict[int, dict] = {}
        self.datas: dict = {}
        self.run_ids: list[int] = []
        self.runs_label = QLabel("Select runs in the history and press Compare.")
        self.runs_label.setWordWrap(True)
        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("The metric whose seed-mean curves are overlaid.")
        self.group_combo = QComboBox()
        self.group_combo.setToolTip(
            "Pool the seeds of all runs with the same value of this parameter "
            "into one curve (mean and 95% band over every seed of the group). "
            "Only runs that agree on everything else (problem, steps, algorithm, "
            "dtype, ...) are pooled; the others are split into separate sets."
        )
        self.export_button = QPushButton("Export…")
        self.plot = plot_style.new_plot()
        self.split_notice = QLabel()
        self.split_notice.setWordWrap(True)
        self.split_notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        background, text, border = KIND_COLOURS["info"]
        self.split_notice.setStyleSheet(
            f"background: {background}; color: {text}; border: 1px solid {border}; padding: 4px;"
        )
        self.split_notice.hide()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #505050;")
        self.left_combo = QComboBox()
        self.right_combo = QComboBox()
        self.only_differences = QCheckBox("only differences")
        self.diff_table = QTableWidget(0, 3)
        self.diff_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.diff_table.verticalHeader().hide()
        self.diff_table.verticalHeader().setDefaultSectionSize(22)
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("metric:"))
        bar.addWidget(self.metric_combo, 1)
        bar.addWidget(QLabel("group by:"))
        bar.addWidget(self.group_combo, 1)
        bar.addWidget(self.export_button)
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addLayout(bar)
        curves_layout.addWidget(self.split_notice)
        curves_layout.addWidget(self.plot, 1)
        curves_layout.addWidget(self.notes)
        diff_bar = QHBoxLayout()
        diff_bar.addWidget(self.left_combo, 1)
        diff_bar.addWidget(QLabel("vs"))
        diff_bar.addWidget(self.right_combo, 1)
        diff_bar.addWidget(self.only_differences)
        diff = QWidget()
        diff_layout = QVBoxLayout(diff)
        diff_layout.setContentsMargins(0, 0, 0, 0)
        diff_layout.addLayout(diff_bar)
        diff_layout.addWidget(self.diff_table, 1)
        # Statistics: the metric and the groups are the Curves tab's; the summary is chosen here.
        self.stats_choice = SummaryChoice(label="summary of the metric:")
        self.stats_choice.metric_combo.hide()
        self.stats_table = GroupStatsTable()
        statistics = QWidget()
        statistics_layout = QVBoxLayout(statistics)
        statistics_layout.setContentsMargins(0, 0, 0, 0)
        statistics_layout.addWidget(self.stats_choice)
        statistics_layout.addWidget(self.stats_table, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(curves, "Curves")
        self.tabs.addTab(diff, "Diff")
        self.statistics_tab = self.tabs.addTab(statistics, "Statistics")
        layout = QVBoxLayout(self)
        layout.addWidget(self.runs_label)
        layout.addWidget(self.tabs, 1)

        self.metric_combo.currentIndexChanged.connect(self.redraw)
        self.group_combo.currentIndexChanged.connect(self.redraw)
        self.left_combo.currentIndexChanged.connect(self.update_diff)
        self.right_combo.currentIndexChanged.connect(self.update_diff)
        self.only_differences.toggled.connect(self.update_diff)
        self.stats_choice.changed.connect(self.update_statistics)
        self.tabs.currentChanged.connect(self.update_statistics)
        self.export_button.clicked.connect(self.export_requested)
        self.reload_timer = QTimer(self)
        self.reload_timer.setInterval(RELOAD_MS)
        self.reload_timer.timeout.connect(self._reload_live)
        self._update_enabled()

    def set_store(self, store: StoreReader) -> None:
        self.store = store
        self.set_runs([])

    # -- runs ---------------------------------------------------------------------------
    def set_runs(self, run_ids) -> None:
        """Compare these runs (ids unknown to the store are skipped)."""
        group_stats.preload_in_background()  # for the Statistics tab, off the GUI thread
        self.rows = {}
        for run_id in dict.fromkeys(run_ids):
            row = self.store.get_run(run_id)
            if row is not None:
                self.rows[run_id] = row
        self.run_ids = list(self.rows)
        self.datas = {run_id: RunData.from_store(self.store, run_id) for run_id in self.run_ids}
        self.runs_label.setText(
            "Comparing " + ", ".join(html.escape(run_label(r)) for r in self.rows.values())
            if self.rows
            else "Select runs in the history and press Compare."
        )
        self._fill_combos()
        self._update_enabled()
        self.redraw()
        self.update_diff()
        if any(r["status"] in LIVE_STATUSES for r in self.rows.values()):
            self.reload_timer.start()
        else:
            self.reload_timer.stop()

    def _reload_live(self) -> None:
        live = [i for i, r in self.rows.items() if r["status"] in LIVE_STATUSES]
        for run_id in live:
            row = self.store.get_run(run_id)
            if row is not None:
                self.rows[run_id] = row
                self.datas[run_id] = RunData.from_store(self.store, run_id)
        if not any(r["status"] in LIVE_STATUSES for r in self.rows.values()):
            self.reload_timer.stop()
        self.redraw()

    def _fill_combos(self) -> None:
        metric, group = self.metric_combo.currentText(), self.group_combo.currentData()
        for combo in (self.metric_combo, self.group_combo, self.left_combo, self.right_combo):
            combo.blockSignals(True)
            combo.clear()
        self.metric_combo.addItems(common_metrics(list(self.datas.values())))
        if metric and self.metric_combo.findText(metric) >= 0:
            self.metric_combo.setCurrentText(metric)
        self.group_combo.addItem("each run", EACH_RUN)
        for key in group_keys([json.loads(r["spec_json"]) for r in self.rows.values()]):
            self.group_combo.addItem(key, key)
        if group is not None and self.group_combo.findData(group) >= 0:
            self.group_combo.setCurrentIndex(self.group_combo.findData(group))
        for run_id, row in self.rows.items():
            self.left_combo.addItem(run_label(row), run_id)
            self.right_combo.addItem(run_label(row), run_id)
        if len(self.rows) > 1:
            self.right_combo.setCurrentIndex(1)
        for combo in (self.metric_combo, self.group_combo, self.left_combo, self.right_combo):
            combo.blockSignals(False)

    def _update_enabled(self) -> None:
        has_runs = bool(self.rows)
        for widget in (self.metric_combo, self.group_combo, self.export_button):
            widget.setEnabled(has_runs)
        for widget in (self.left_combo, self.right_combo, self.only_differences):
            widget.setEnabled(len(self.rows) >= 2)

    # -- curves -------------------------------------------------------------------------------
    def set_metric(self, metric: str) -> None:
        self.metric_combo.setCurrentText(metric)

    def set_group_key(self, key: str) -> None:
        index = self.group_combo.findData(key)
        if index < 0:
            raise KeyError(key)
        self.group_combo.setCurrentIndex(index)

    def current_figure(self) -> Figure:
        metric = self.metric_combo.currentText()
        if not self.rows or not metric:
            return Figure("", "step", metric or "")
        figure, _, _ = comparison_figure(
            self.rows, self.datas, metric, self.group_combo.currentData() or EACH_RUN
        )
        return figure

    def redraw(self, *_):
        metric = self.metric_combo.currentText()
        if not self.rows or not metric:
            self.plot.getPlotItem().clear()
            self.plot.getPlotItem().legend.clear()
            self.notes.setText("")
            self.split_notice.hide()
            self.update_statistics()
            return
        figure, notes, notice = comparison_figure(
            self.rows, self.datas, metric, self.group_combo.currentData() or EACH_RUN
        )
        draw_figure(self.plot, figure)
        self.notes.setText("; ".join(notes))
        self.split_notice.setText(notice)
        self.split_notice.setVisible(bool(notice))
        self.update_statistics()

    # -- statistics ---------------------------------------------------------------------------
    def update_statistics(self, *_):
        """Tests between the groups the Curves tab draws, on their kept seeds at the summary.
        Computed only while the tab is shown (the tests import scipy: not before it is needed)."""
        if self.tabs.currentIndex() != self.statistics_tab:
            return
        metric = self.metric_combo.currentText()
        if not self.rows or not metric:
            self.stats_table.set_groups({}, [])
            return
        self.stats_choice.set_metrics([metric])
        summary = self.stats_choice.summary()
        group_key = self.group_combo.currentData() or EACH_RUN
        groups = group_seed_values(self.rows, self.datas, metric, group_key, summary)
        header = [
            "runs " + ", ".join(str(i) for i in self.rows),
            f"summary: {summary.label(metric)}",
            f"groups: {group_key or 'each run'}",
        ]
        self.stats_table.set_groups(groups, header)

    # -- diff ---------------------------------------------------------------------------------
    def update_diff(self, *_):
        left, right = self.left_combo.currentData(), self.right_combo.currentData()
        if left is None or right is None:
            self.diff_table.setRowCount(0)
            return
        rows = diff_rows(
            flatten_run(self.rows[left]),
            flatten_run(self.rows[right]),
            self.only_differences.isChecked(),
        )
        self.diff_table.setHorizontalHeaderLabels(["key", f"run {left}", f"run {right}"])
        self.diff_table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate((row.key, row.left, row.right)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if row.differs:
                    item.setBackground(DIFFERS_BRUSH)
                self.diff_table.setItem(i, j, item)

    def diff_keys(self) -> list[str]:
        """The keys the diff table lists now, top to bottom."""
        return [self.diff_table.item(i, 0).text() for i in range(self.diff_table.rowCount())]

    def stop_polling(self) -> None:
        self.reload_timer.stop()
