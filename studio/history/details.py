"""The details of the selected run: its error, spec TOML, hardware used, tags and notes."""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.history.model import STATUS_COLOURS, RunRecord, duration_text

HARDWARE_LABELS = {
    "device": "device",
    "device_name": "device name",
    "dtype": "dtype",
    "threads": "torch threads",
    "cores": "CPU cores",
    "torch_version": "torch",
    "host": "host",
}


def _monospace(read_only: bool = True) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(read_only)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
    return box


def hardware_text(hardware: dict) -> str:
    if not hardware:
        return "(not recorded: the run never started)"
    width = max(len(HARDWARE_LABELS.get(k, k)) for k in hardware)
    return "\n".join(f"{HARDWARE_LABELS.get(k, k):<{width}}  {v}" for k, v in hardware.items())


def parse_tags(text: str) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


class RunDetails(QWidget):
    tags_edited = Signal(int, list, list)  # run id, old tags, new tags
    notes_edited = Signal(int, str)  # run id, new notes

    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: RunRecord | None = None
        self.title = QLabel("Select a run to see its details.")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold;")
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("tags, separated by commas")
        self.tags_edit.setToolTip(
            "Edit the run's tags and press Enter or Apply; saved by `tradeoff tag`."
        )
        self.tags_button = QPushButton("Apply")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("notes about this run")
        self.notes_edit.setMaximumHeight(70)
        self.notes_button = QPushButton("Save notes")
        self.notes_button.setToolTip("Saved by `tradeoff note`.")
        self.error_view = _monospace()
        self.error_view.setStyleSheet("color: #a02020;")
        self.spec_view = _monospace()
        self.hardware_view = _monospace()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.spec_view, "Spec")
        self.tabs.addTab(self.hardware_view, "Hardware used")
        self.tabs.addTab(self.error_view, "Error")

        tags_row = QHBoxLayout()
        tags_row.addWidget(QLabel("Tags:"))
        tags_row.addWidget(self.tags_edit, 1)
        tags_row.addWidget(self.tags_button)
        notes_row = QHBoxLayout()
        notes_row.addWidget(self.notes_edit, 1)
        notes_row.addWidget(self.notes_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(tags_row)
        layout.addLayout(notes_row)
        layout.addWidget(self.tabs, 1)
        self.tags_button.clicked.connect(self._apply_tags)
        self.tags_edit.returnPressed.connect(self._apply_tags)
        self.notes_button.clicked.connect(self._save_notes)
        self.show_record(None)

    def show_record(self, record: RunRecord | None) -> None:
        same_run = record is not None and self.record is not None and record.id == self.record.id
        self.record = record
        for widget in (self.tags_edit, self.tags_button, self.notes_edit, self.notes_button):
            widget.setEnabled(record is not None)
        if record is None:
            self.title.setText("Select a run to see its details.")
            for view in (self.spec_view, self.hardware_view, self.error_view):
                view.setPlainText("")
            self.tags_edit.clear()
            self.notes_edit.clear()
            return
        r = record.row
        colour = STATUS_COLOURS.get(r["status"], "#202020")
        seconds = record.duration(time.time())
        took = f", {duration_text(seconds)}" if seconds else ""
        self.title.setText(
            f"Run {r['id']}: {html.escape(r['name'] or r['algorithm'] + ' on ' + r['problem'])} — "
            f"<span style='color:{colour}'>{html.escape(r['status'])}</span>"
            f" ({r.get('steps_done') or 0}/{r['steps']} steps{took})"
        )
        self.spec_view.setPlainText(r.get("spec_toml") or "")
        self.hardware_view.setPlainText(hardware_text(record.hardware))
        self.error_view.setPlainText(r.get("error") or "(no error)")
        # Text the user is typing is kept when the same run is merely refreshed.
        if not (same_run and self.tags_edit.hasFocus()):
            self.tags_edit.setText(", ".join(record.tags))
        if not (same_run and self.notes_edit.hasFocus()):
            self.notes_edit.setPlainText(r.get("notes") or "")
        self.tabs.setTabEnabled(2, bool(r.get("error")))
        if r.get("error") and not same_run:
            self.tabs.setCurrentWidget(self.error_view)
        elif not r.get("error") and self.tabs.currentWidget() is self.error_view:
            self.tabs.setCurrentWidget(self.spec_view)

    def _apply_tags(self) -> None:
        if self.record is not None:
            self.tags_edited.emit(
                self.record.id, self.record.tags, parse_tags(self.tags_edit.text())
            )

    def _save_notes(self) -> None:
        if self.record is not None:
            self.notes_edited.emit(self.record.id, self.notes_edit.toPlainText())
