"""The queue as the user sees it: one row per run with its status, progress and a Stop button.

The progress bar reads "1,200 / 3,000 steps · 450 steps/s · 4 s left", all from the
store's row (steps_done, started_at); a queued run says its place in the engine's queue
(which sweep points share) and its priority.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.queue.run_queue import QueueEntry, RunQueue

STATUS_COLOURS = {
    "submitting": "#808080",
    "queued": "#808080",
    "running": "#1f77b4",
    "starting": "#1f77b4",
    "finished": "#2ca02c",
    "failed": "#c0392b",
    "cancelled": "#8a6d00",
    "interrupted": "#8a6d00",
}
COLUMN_RUN, COLUMN_STATUS, COLUMN_PROGRESS, COLUMN_STOP = range(4)


def format_seconds(seconds: float) -> str:
    """A duration as a person reads it: 4 s, 2 min 05 s, 1 h 03 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_rate(rate: float) -> str:
    if rate >= 100:
        return f"{rate:,.0f} steps/s"
    if rate >= 1:
        return f"{rate:.1f} steps/s"
    return f"{1 / rate:.1f} s/step"


def progress_text(entry: QueueEntry) -> str:
    """What the progress bar of an entry says."""
    if entry.state == "submitting":
        return "stopping…" if entry.stop_requested else "queuing with the engine…"
    if entry.state == "queued":
        if entry.stop_requested:
            return "removing from the queue…"
        if entry.error:
            return entry.error
        place = "next in the queue" if entry.position == 1 else f"{entry.position} in the queue"
        place = place if entry.position else "queued"
        return f"{place} · priority {entry.priority}"
    if entry.state == "starting":
        return "stopping…" if entry.stop_requested else "starting the engine…"
    if entry.run_id is None:
        return entry.error or entry.state  # it never became a run: nothing was recorded
    done = f"{entry.steps_done:,} / {entry.steps:,} steps"
    rate = entry.rate()
    if entry.live:
        parts = [done]
        if entry.stop_requested:
            parts.append("stopping…")
        elif rate:
            parts.append(format_rate(rate))
            left = entry.seconds_left()
            if left is not None and math.isfinite(left):
                parts.append(f"{format_seconds(left)} left")
        return " · ".join(parts)
    if entry.started_at and entry.finished_at:
        return f"{done} in {format_seconds(entry.finished_at - entry.started_at)}"
    return done


class QueueView(QWidget):
    """Rows for a RunQueue's entries; selecting one emits `entry_selected`."""

    entry_selected = Signal(object)

    def __init__(self, queue: RunQueue, parent=None):
        super().__init__(parent)
        self.queue = queue
        self.items: dict[int, QTreeWidgetItem] = {}  # id(entry) -> row
        self.bars: dict[int, QProgressBar] = {}
        self.stop_buttons: dict[int, QToolButton] = {}
        self.title = QLabel()
        self.sweep_note = ""  # what the engine's scheduler has in hand (set_sweep_note)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setToolTip(
            "Remove the runs that are over from this list (they stay in the store)."
        )
        header = QHBoxLayout()
        header.setContentsMargins(4, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.clear_button)
        self.tree = QTreeWidget()
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setHeaderLabels(["Run", "Status", "Progress", ""])
        head = self.tree.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(COLUMN_RUN, QHeaderView.ResizeMode.Interactive)
        head.setSectionResizeMode(COLUMN_STATUS, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(COLUMN_PROGRESS, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(COLUMN_STOP, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(COLUMN_RUN, 240)
        self.empty_label = QLabel("No runs yet: configure one and press Run (Ctrl+R).")
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty_label)

        self.clear_button.clicked.connect(queue.clear_finished)
        self.tree.currentItemChanged.connect(self._current_changed)
        queue.entry_added.connect(self.add)
        queue.entry_changed.connect(self.update_entry)
        queue.entry_removed.connect(self.remove)
        queue.counts_changed.connect(self._update_title)
        for entry in queue.entries:
            self.add(entry)
        self._update_title()

    def _entry_of(self, item: QTreeWidgetItem | None) -> QueueEntry | None:
        return item.data(COLUMN_RUN, Qt.ItemDataRole.UserRole) if item is not None else None

    def add(self, entry: QueueEntry) -> None:
        item = QTreeWidgetItem()
        item.setData(COLUMN_RUN, Qt.ItemDataRole.UserRole, entry)
        self.tree.addTopLevelItem(item)
        bar = QProgressBar()
        bar.setTextVisible(True)
        stop = QToolButton()
        stop.setText("Stop")
        stop.clicked.connect(lambda _=False, e=entry: self.queue.stop(e))
        self.tree.setItemWidget(item, COLUMN_PROGRESS, bar)
        self.tree.setItemWidget(item, COLUMN_STOP, stop)
        self.items[id(entry)], self.bars[id(entry)], self.stop_buttons[id(entry)] = item, bar, stop
        self.update_entry(entry)
        self._update_title()

    def remove(self, entry: QueueEntry) -> None:
        item = self.items.pop(id(entry), None)
        self.bars.pop(id(entry), None)
        self.stop_buttons.pop(id(entry), None)
        if item is not None:
            # Qt moves the current row to a neighbour when a row goes: that is not the
            # user picking a run, so it must not open one in Watch ("Clear finished" did).
            blocked = self.tree.blockSignals(True)
            try:
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
            finally:
                self.tree.blockSignals(blocked)
        self._update_title()

    def update_entry(self, entry: QueueEntry) -> None:
        item = self.items.get(id(entry))
        if item is None:
            return
        name = f"Run {entry.run_id}: {entry.title}" if entry.run_id is not None else entry.title
        if entry.adopted and entry.spec is None:
            name += "  (started elsewhere)"
        shape = f"{entry.seeds} seed{'s' if entry.seeds != 1 else ''} × {entry.steps:,} steps"
        device = entry.device_text()
        item.setText(COLUMN_RUN, name)
        item.setToolTip(
            COLUMN_RUN, f"{name}\n{shape}" + (f"\nrunning on {device}" if device else "")
        )
        item.setText(COLUMN_STATUS, entry.state)
        item.setForeground(
            COLUMN_STATUS, QBrush(QColor(STATUS_COLOURS.get(entry.state, "#808080")))
        )
        item.setToolTip(COLUMN_STATUS, entry.error or entry.state)
        bar = self.bars[id(entry)]
        if entry.state in ("submitting", "starting"):
            bar.setRange(0, 0)  # busy: the engine is importing, no step yet
        else:
            bar.setRange(0, max(1, entry.steps))
            bar.setValue(min(entry.steps_done, entry.steps))
        bar.setFormat(progress_text(entry))
        bar.setToolTip(entry.error if entry.error else bar.format())
        stop = self.stop_buttons[id(entry)]
        stop.setEnabled(entry.live and not entry.stop_requested)
        stop.setToolTip(
            "Remove it from the engine's queue"
            if entry.waiting
            else "Cancel the run; what it recorded so far stays in the store"
        )

    def selected_entry(self) -> QueueEntry | None:
        return self._entry_of(self.tree.currentItem())

    def select(self, entry: QueueEntry) -> None:
        item = self.items.get(id(entry))
        if item is not None and self.tree.currentItem() is not item:
            self.tree.setCurrentItem(item)

    def select_run(self, run_id: int) -> None:
        entry = self.queue.entry_for(run_id)
        if entry is not None:
            self.select(entry)

    def _current_changed(self, current, _previous) -> None:
        entry = self._entry_of(current)
        if entry is not None:
            self.entry_selected.emit(entry)

    def set_sweep_note(self, note: str) -> None:
        """A summary of the sweeps the scheduler serves, shown after the queue's own counts
        (the sweeps' runs themselves appear as rows once their engines write them)."""
        self.sweep_note = f"  ·  {note}" if note else ""
        self._update_title()

    def _update_title(self) -> None:
        running, waiting = len(self.queue.running()), len(self.queue.waiting())
        self.title.setText(
            f"<b>Queue</b> — {running} running, {waiting} waiting, "
            f"up to {self.queue.workers} side by side{self.sweep_note}"
        )
        self.empty_label.setVisible(not self.items)
        self.tree.setVisible(bool(self.items))
