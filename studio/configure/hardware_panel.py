"""Hardware: what the engine detects, and the choices a run is made with.

The detected part comes from `python -m engine hardware --json` (CPU cores, memory,
torch, each CUDA device with its name and memory). The choices are the spec's
[hardware] table (device, threads, dtype) plus the studio's worker count (how many
engine processes go side by side, a setting of the studio, not of a run). A choice
this machine cannot honour is disabled with a tooltip that says why; a loaded spec
that asks for a device this machine lacks is shown, marked, and blocks Run.
"""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.spec import HARDWARE_PARAMS
from studio.configure.param_form import ERROR_LABEL_STYLE

DEVICE_ROLE = Qt.ItemDataRole.UserRole
DTYPES = next(p.choices for p in HARDWARE_PARAMS if p.name == "dtype")
THREADS_HELP = next(p.help for p in HARDWARE_PARAMS if p.name == "threads")
DEFAULT_WORKERS = 2
NO_CUDA_REASON = "this torch build or machine has no CUDA device"


def gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes else "unknown"


class HardwarePanel(QWidget):
    changed = Signal()  # device, threads or dtype
    workers_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.hardware: dict | None = None
        self.error: str | None = None
        self.cores = os.cpu_count() or 1  # until the engine has answered

        self.detected = QLabel("detecting (asking the engine)…")
        self.detected.setWordWrap(True)
        self.detected.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device = QComboBox()
        self.device.setModel(QStandardItemModel(self.device))
        self.device_error = QLabel()
        self.device_error.setStyleSheet(ERROR_LABEL_STYLE)
        self.device_error.setWordWrap(True)
        self.device_error.hide()
        self.threads = QSpinBox()
        self.threads.setSpecialValueText("torch's default")
        self.dtype = QComboBox()
        self.dtype.addItems(list(DTYPES))
        self.dtype.setToolTip(
            "Floating-point precision of the tensors: float64 is exact to more digits, "
            "float32 is faster and halves memory."
        )
        self.workers = QSpinBox()
        self.workers.setToolTip(
            "How many engine processes run side by side; further runs wait in the queue. "
            "A setting of the studio, not part of a run's spec."
        )
        self.load_note = QLabel()
        self.load_note.setWordWrap(True)
        self.load_note.hide()
        self.capacity_note = QLabel()
        self.capacity_note.setWordWrap(True)
        self.capacity_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        detected_box = QGroupBox("Detected by the engine")
        QVBoxLayout(detected_box).addWidget(self.detected)
        choices_box = QGroupBox("Choices")
        form = QFormLayout(choices_box)
        form.addRow("device", self.device)
        form.addRow("", self.device_error)
        form.addRow("torch threads", self.threads)
        form.addRow("dtype", self.dtype)
        form.addRow("worker processes", self.workers)
        form.addRow(self.capacity_note)
        form.addRow(self.load_note)
        recorded = QLabel(
            'Each run records the hardware it actually used (where "auto" went, the threads '
            "torch had, the dtype); the queue and the plots show it beside the run."
        )
        recorded.setWordWrap(True)
        recorded.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.addWidget(detected_box)
        layout.addWidget(choices_box)
        layout.addWidget(recorded)
        layout.addStretch(1)

        self._fill_devices()
        self._set_bounds()
        self.workers.setValue(min(DEFAULT_WORKERS, self.cores))
        self.device.currentIndexChanged.connect(self._edited)
        self.threads.valueChanged.connect(self._edited)
        self.dtype.currentIndexChanged.connect(self._edited)
        self.workers.valueChanged.connect(self._workers_edited)
        self._update_note()

    # -- what the machine has -------------------------------------------------------------
    def set_hardware(self, hardware: dict) -> None:
        """Take the engine's report (see `catalogue_loader.read_hardware`)."""
        wanted = self.device_value()
        self.hardware = hardware
        self.cores = hardware["cpu_cores"]
        lines = [
            f"<b>CPU</b>: {hardware['cpu_cores']} cores"
            + (f" ({html.escape(hardware['cpu_name'])})" if hardware.get("cpu_name") else ""),
            f"<b>Memory</b>: {gib(hardware['memory_bytes'])}",
            f"<b>torch</b>: {html.escape(hardware.get('torch_version') or 'unknown')}",
        ]
        if hardware["cuda"]:
            for d in hardware["cuda"]:
                lines.append(
                    f"<b>cuda:{d['index']}</b>: {html.escape(d['name'])}, {gib(d['memory_bytes'])}"
                )
        else:
            lines.append(f"<b>CUDA</b>: none ({NO_CUDA_REASON})")
        self.detected.setText("<br>".join(lines))
        self.detected.setStyleSheet("")
        self.device.blockSignals(True)
        self._fill_devices()
        self.device.blockSignals(False)
        self._set_bounds()
        self.set_device(wanted)
        self._update_note()

    def set_detection_failed(self, message: str) -> None:
        self.detected.setText(
            f"<b>The engine could not report the hardware.</b><pre>{html.escape(message)}</pre>"
        )
        self.detected.setStyleSheet(ERROR_LABEL_STYLE)

    def _fill_devices(self) -> None:
        model: QStandardItemModel = self.device.model()
        model.clear()
        cuda = self.hardware["cuda"] if self.hardware else None
        auto_means = (
            "not known yet" if cuda is None else (f"cuda:0 ({cuda[0]['name']})" if cuda else "cpu")
        )
        self._add_device(
            "auto",
            "auto",
            f"The first CUDA device when there is one, else the CPU (here: {auto_means}).",
        )
        self._add_device("cpu", "cpu", "The CPU, with the torch threads set below.")
        if cuda is None:
            self._add_device(
                "cuda",
                "cuda (detecting…)",
                "Waiting for the engine's hardware report.",
                enabled=False,
            )
        elif not cuda:
            self._add_device(
                "cuda", "cuda (none)", f"Not available: {NO_CUDA_REASON}.", enabled=False
            )
        for d in cuda or ():
            self._add_device(
                f"cuda:{d['index']}",
                f"cuda:{d['index']} — {d['name']} ({gib(d['memory_bytes'])})",
                f"{d['name']}, {gib(d['memory_bytes'])} of memory.",
            )

    def _add_device(self, value: str, text: str, tooltip: str, enabled: bool = True) -> None:
        self.device.addItem(text, value)
        item = self.device.model().item(self.device.count() - 1)
        item.setToolTip(tooltip)
        item.setEnabled(enabled)

    def _set_bounds(self) -> None:
        # More torch threads than cores, or more workers than cores, only slows runs down.
        self.threads.setRange(0, self.cores)
        self.threads.setToolTip(f"{THREADS_HELP} At most the {self.cores} cores of this machine.")
        self.workers.setRange(1, self.cores)

    def device_names(self) -> list[str]:
        """The devices offered and enabled, e.g. ['auto', 'cpu', 'cuda:0']."""
        model = self.device.model()
        return [
            self.device.itemData(i, DEVICE_ROLE)
            for i in range(self.device.count())
            if model.item(i).isEnabled()
        ]

    # -- the choices ----------------------------------------------------------------------
    def device_value(self) -> str:
        return self.device.currentData(DEVICE_ROLE) or "auto"

    def set_device(self, value: str) -> None:
        """Choose a device; one this machine lacks is shown, marked, and refused."""
        if value == "cuda" and self.hardware and self.hardware["cuda"]:
            value = "cuda:0"  # what "cuda" resolves to
        index = self.device.findData(value, DEVICE_ROLE)
        enabled = index >= 0 and self.device.model().item(index).isEnabled()
        if not enabled and self.hardware is not None:
            if index < 0:
                self._add_device(
                    value,
                    f"{value} (not on this machine)",
                    "Asked for by a spec; not available here.",
                    enabled=False,
                )
                index = self.device.count() - 1
            self.show_error(
                f"{value} is not available on this machine (available: {', '.join(self.device_names())})"
            )
        elif index < 0:
            # The engine has not answered yet: keep the wish, judge it when it does.
            self._add_device(value, value, "Waiting for the engine's hardware report.")
            index = self.device.count() - 1
        self.device.setCurrentIndex(index)
        if enabled:
            self.show_error(None)

    def values(self) -> dict:
        """The spec's [hardware] table."""
        return {
            "device": self.device_value(),
            "threads": self.threads.value(),
            "dtype": self.dtype.currentText(),
        }

    def set_values(self, table: dict) -> None:
        editors = (self.device, self.threads, self.dtype)
        for editor in editors:
            editor.blockSignals(True)
        self.set_device(str(table.get("device", "auto")))
        threads = int(table.get("threads", 0))
        self.threads.setValue(min(threads, self.cores))
        self.dtype.setCurrentText(str(table.get("dtype", DTYPES[0])))
        for editor in editors:
            editor.blockSignals(False)
        self.load_note.setText(
            f"The spec asked for {threads} torch threads; this machine has {self.cores} cores, "
            f"so {self.cores} are used."
            if threads > self.cores
            else ""
        )
        self.load_note.setVisible(bool(self.load_note.text()))
        self._update_note()
        self.changed.emit()

    def reset(self) -> None:
        self.set_values({})

    def is_valid(self) -> bool:
        return self.error is None

    def show_error(self, reason: str | None) -> None:
        self.error = reason
        self.device_error.setText(reason or "")
        self.device_error.setVisible(reason is not None)

    def _edited(self, *_):
        value = self.device_value()
        model = self.device.model()
        index = self.device.currentIndex()
        if index >= 0 and model.item(index).isEnabled():
            self.show_error(None)
        else:
            self.show_error(f"{value} is not available on this machine")
        self.load_note.hide()
        self._update_note()
        self.changed.emit()

    def _workers_edited(self, value: int) -> None:
        self._update_note()
        self.workers_changed.emit(value)

    def _update_note(self) -> None:
        threads = self.threads.value() or (self.hardware or {}).get("torch_threads") or self.cores
        workers = self.workers.value()
        busy = workers * threads
        text = (
            f"{workers} worker{'s' if workers != 1 else ''} × {threads} "
            f"thread{'s' if threads != 1 else ''} = {busy} on {self.cores} cores"
        )
        if busy > self.cores:
            text += ": runs side by side will slow each other down"
        self.capacity_note.setText(text)
