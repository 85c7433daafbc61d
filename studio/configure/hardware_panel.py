"""Hardware: what the engine detects, and the choices a run is made with.

The detected part comes from `python -m engine hardware --json` (CPU cores, memory,
torch, each CUDA device with its name and memory). The choices are the spec's
[hardware] table (device, threads, dtype) plus the studio's worker count (how many
engine processes go side by side, a setting of the studio, not of a run). A choice
this machine cannot honour is disabled with a tooltip that says why; a loaded spec
that asks for a device this machine lacks is shown, marked, and blocks Run.

Where sweeps run: "Local workers" (the worker processes above) or "Ray cluster" (the
address of its head). Connect asks the engine (`tradeoff ray-status --address ADDR
--json`, a child process: the studio never imports Ray) and shows the cluster's nodes,
CPUs and GPUs, or in red why it cannot be reached. A sweep on Ray is refused until the
address shown has been checked; editing it drops the check.
"""

from __future__ import annotations

import html
import json
import os

from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.spec import HARDWARE_PARAMS
from studio.configure.param_form import ERROR_LABEL_STYLE
from studio.queue import engine_command

DEVICE_ROLE = Qt.ItemDataRole.UserRole
DTYPES = next(p.choices for p in HARDWARE_PARAMS if p.name == "dtype")
THREADS_HELP = next(p.help for p in HARDWARE_PARAMS if p.name == "threads")
DEFAULT_WORKERS = 2
NO_CUDA_REASON = "this torch build or machine has no CUDA device"
# `ray-status` gives up on an address within seconds; this bounds a check whose engine
# process hangs anyway (a machine that swallows packets, a port that is not Ray's).
RAY_CHECK_SECONDS = 30


def gib(n_bytes) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes else "unknown"


def _count(n: float, what: str) -> str:
    n = int(n) if float(n).is_integer() else n
    return f"{n} {what}{'' if n == 1 else 's'}"


def cluster_summary(status: dict) -> str:
    """'2 nodes · 16 CPUs · 1 GPU' of a `tradeoff ray-status --json` answer."""
    return " · ".join(
        (
            _count(status["nodes"], "node"),
            _count(status["cpus"], "CPU"),
            _count(status["gpus"], "GPU"),
        )
    )


def _error_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:") :].strip()
    return lines[-1] if lines else "the engine gave no reason"


class HardwarePanel(QWidget):
    changed = Signal()  # device, threads or dtype
    workers_changed = Signal(int)
    backend_changed = Signal()  # local or Ray, the address, or its check

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

        self._build_backend_box()

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
        layout.addWidget(self.backend_box)
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

    # -- where sweeps run: local workers or a Ray cluster ------------------------------------
    def _build_backend_box(self) -> None:
        self.ray_cluster: dict | None = None  # the last successful check's answer
        self._ray_checked: str | None = None  # the address it was for
        self._ray_failure: str | None = None  # why the current address was refused
        self._ray_process: QProcess | None = None
        self._ray_timer = QTimer(self)
        self._ray_timer.setSingleShot(True)
        self._ray_timer.timeout.connect(self._ray_check_timed_out)

        self.local_choice = QRadioButton("Local workers")
        self.local_choice.setToolTip(
            "A sweep's points run as worker processes on this machine, as many at once "
            "as the worker processes above."
        )
        self.ray_choice = QRadioButton("Ray cluster")
        self.ray_choice.setToolTip(
            "A sweep's points run as Ray tasks on a cluster; this studio's engine writes "
            "the store. Single runs still run here."
        )
        self._backend_group = QButtonGroup(self)
        self._backend_group.addButton(self.local_choice)
        self._backend_group.addButton(self.ray_choice)
        self.local_choice.setChecked(True)
        self.ray_address = QLineEdit()
        self.ray_address.setPlaceholderText("HOST:PORT of the Ray head, e.g. 10.0.0.5:6379")
        self.ray_address.setToolTip(
            "The address `ray start --head` printed (its GCS port, 6379 by default), "
            "or ray://HOST:PORT."
        )
        self.ray_connect = QPushButton("Connect")
        self.ray_connect.setToolTip(
            "Ask the engine whether a Ray cluster answers at this address, and what it has."
        )
        self.ray_state = QLabel()
        self.ray_state.setWordWrap(True)
        self.ray_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.backend_box = QGroupBox("Where sweeps run")
        box = QVBoxLayout(self.backend_box)
        box.addWidget(self.local_choice)
        box.addWidget(self.ray_choice)
        address_row = QHBoxLayout()
        address_row.setContentsMargins(20, 0, 0, 0)
        address_row.addWidget(self.ray_address, 1)
        address_row.addWidget(self.ray_connect)
        box.addLayout(address_row)
        box.addWidget(self.ray_state)

        self.ray_choice.toggled.connect(self._backend_chosen)
        self.ray_address.textChanged.connect(self._ray_address_edited)
        self.ray_address.returnPressed.connect(self.connect_ray)
        self.ray_connect.clicked.connect(self.connect_ray)
        self._backend_chosen()

    def backend(self) -> str:
        """'ray' or 'local': where a sweep's points run."""
        return "ray" if self.ray_choice.isChecked() else "local"

    def ray_address_value(self) -> str:
        return self.ray_address.text().strip()

    def set_backend(self, backend: str, address: str | None = None) -> None:
        if address is not None:
            self.ray_address.setText(address)
        (self.ray_choice if backend == "ray" else self.local_choice).setChecked(True)

    def ray_checking(self) -> bool:
        return self._ray_process is not None

    def backend_error(self) -> str | None:
        """Why a sweep cannot go where it is sent now; None when it can."""
        if self.backend() != "ray":
            return None
        address = self.ray_address_value()
        if not address:
            return "Ray cluster: enter the address of its head (HOST:PORT), then Connect."
        if self.ray_checking():
            return f"Ray cluster: still checking {address}…"
        if self._ray_failure is not None:
            return self._ray_failure
        if self._ray_checked != address:
            return f"Ray cluster: press Connect to check {address} before running a sweep on it."
        return None

    def sweep_backend(self) -> tuple[str | None, str | None]:
        """(the Ray address a sweep goes to, or None for the local workers; the refusal, or
        None): what `SweepLauncher` asks before it starts anything."""
        if self.backend() != "ray":
            return None, None
        refusal = self.backend_error()
        return (None, refusal) if refusal else (self.ray_address_value(), None)

    def connect_ray(self) -> None:
        """Check the address with `tradeoff ray-status`; the answer comes back later."""
        address = self.ray_address_value()
        self._stop_ray_check()
        self.ray_cluster, self._ray_checked, self._ray_failure = None, None, None
        if not address:
            self._show_ray_state("Enter the address of the Ray head (HOST:PORT) first.", error=True)
            self.backend_changed.emit()
            return
        process = engine_command.engine_process(self, "ray-status", "--address", address, "--json")
        process.finished.connect(
            lambda code, _status, p=process, a=address: self._ray_answered(p, a, code)
        )
        process.errorOccurred.connect(
            lambda error, p=process, a=address: self._ray_not_started(p, a, error)
        )
        process.setProperty("address", address)
        self._ray_process = process
        self._ray_timer.start(RAY_CHECK_SECONDS * 1000)
        self._show_ray_state(f"Connecting to {html.escape(address)}…")
        process.start()
        self.backend_changed.emit()

    def _ray_answered(self, process: QProcess, address: str, code: int) -> None:
        if process is not self._ray_process:
            return  # an older check, overtaken by an edit or another Connect
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace")
        self._forget_ray_process()
        status = None
        if code == 0:
            try:
                status = json.loads(out.strip().splitlines()[-1])
                summary = cluster_summary(status)
            except (ValueError, KeyError, IndexError, TypeError):
                status = None
                err = f"the engine's answer was not understood: {out.strip()[-200:]!r}"
        if status is None:
            self._ray_refused(address, _error_line(err or out))
            return
        self.ray_cluster, self._ray_checked = status, address
        version = status.get("ray_version")
        self._show_ray_state(
            f"<b>{html.escape(summary)}</b> at {html.escape(address)}"
            + (f" (Ray {html.escape(str(version))})" if version else "")
        )
        self.backend_changed.emit()

    def _ray_not_started(self, process: QProcess, address: str, error) -> None:
        if process is not self._ray_process or error != QProcess.ProcessError.FailedToStart:
            return
        self._forget_ray_process()
        self._ray_refused(address, f"the engine could not be started: {process.errorString()}")

    def _ray_check_timed_out(self) -> None:
        if self._ray_process is None:
            return
        address = self._ray_process.property("address") or self.ray_address_value()
        self._stop_ray_check()
        self._ray_refused(address, f"no answer from the engine within {RAY_CHECK_SECONDS} s")

    def _ray_refused(self, address: str, reason: str) -> None:
        self.ray_cluster, self._ray_checked = None, None
        self._ray_failure = f"Ray cluster at {address} not usable: {reason}"
        self._show_ray_state(html.escape(self._ray_failure), error=True)
        self.backend_changed.emit()

    def _forget_ray_process(self) -> None:
        self._ray_timer.stop()
        if self._ray_process is not None:
            self._ray_process.deleteLater()
        self._ray_process = None

    def _stop_ray_check(self) -> None:
        process = self._ray_process
        self._forget_ray_process()
        if process is not None and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()
            process.waitForFinished(1000)

    def _ray_address_edited(self, *_):
        """Another address: the check of the previous one says nothing about it."""
        self._stop_ray_check()
        self.ray_cluster, self._ray_checked, self._ray_failure = None, None, None
        self._show_ray_state("Not checked yet: Connect to see what the cluster has.")
        self.backend_changed.emit()

    def _backend_chosen(self, *_):
        on_ray = self.ray_choice.isChecked()
        for widget in (self.ray_address, self.ray_connect, self.ray_state):
            widget.setEnabled(on_ray)
        if not self.ray_state.text():
            self._show_ray_state("Not checked yet: Connect to see what the cluster has.")
        self.backend_changed.emit()

    def _show_ray_state(self, text: str, error: bool = False) -> None:
        self.ray_state.setText(text)
        self.ray_state.setStyleSheet(ERROR_LABEL_STYLE if error else "")
