"""The main window: configure a run on the left, watch it on the right.

Click Run: the form's spec is validated, an engine process is started on it, and
once the engine names the run id the live plot follows that run in the store. Stop
asks the engine to cancel. Nothing here waits on a process: everything arrives
through signals and timers.
"""

from __future__ import annotations

import html
import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QProgressBar, QPushButton, QScrollArea,
                               QSplitter, QVBoxLayout, QWidget)

from engine.registry import Catalogue
from engine.store import Store
from studio.catalogue_loader import CatalogueLoader
from studio.config_panel import ConfigPanel
from studio.live_plot import LivePlot
from studio.run_process import RunProcess

STATUS_COLOURS = {"running": "#1f77b4", "finished": "#2ca02c", "failed": "#c0392b", "cancelled": "#8a6d00"}


class MainWindow(QMainWindow):
    """The studio's window on a store; `catalogue`, when already known, skips asking the engine."""

    def __init__(self, store: Store, catalogue: Catalogue | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Tradeoff Studio")
        self.resize(1300, 820)
        self.store = store
        self.catalogue: Catalogue | None = None
        self.plot_kind = ""
        self.status = "idle"
        self.run_shape = ""
        self.run_device: str | None = None
        self._closing = False

        self.catalogue_message = QLabel("loading catalogue…")
        self.catalogue_message.setWordWrap(True)
        self.catalogue_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.config = ConfigPanel()
        self.config_scroll = QScrollArea()
        self.config_scroll.setWidgetResizable(True)
        self.config_scroll.setWidget(self.config)
        self.config_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.config_scroll.hide()
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Validate the spec and start an engine process on it.")
        self.run_button.setEnabled(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Cancel the run; what it recorded so far stays in the store.")
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.catalogue_message)
        left_layout.addWidget(self.config_scroll, 1)
        left_layout.addLayout(buttons)

        self.run_title = QLabel("No run yet")
        self.run_title.setStyleSheet("font-size: 12pt; font-weight: bold;")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.progress.hide()  # until there is a run to measure
        self.live_plot = LivePlot(store)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.run_title)
        right_layout.addWidget(self.status_label)
        right_layout.addWidget(self.progress)
        right_layout.addWidget(self.live_plot, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([400, 900])
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(f"store: {store.path}")

        self.run_process = RunProcess(store.path, self)
        self.catalogue_loader = CatalogueLoader(self)
        self.catalogue_loader.loaded.connect(self._catalogue_loaded)
        self.catalogue_loader.failed.connect(self._catalogue_failed)
        self.config.changed.connect(self._update_buttons)
        self.run_button.clicked.connect(self.start_run)
        self.stop_button.clicked.connect(self.run_process.stop)
        self.run_process.run_started.connect(self._run_started)
        self.run_process.run_ended.connect(self._run_ended)
        self.live_plot.run_row_read.connect(self._show_progress)
        if catalogue is None:
            self.catalogue_loader.start()
        else:
            self._catalogue_loaded(catalogue)

    # -- catalogue ------------------------------------------------------------------------
    def _catalogue_loaded(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.catalogue_message.hide()
        self.config.set_catalogue(catalogue)
        self.config_scroll.show()
        self._update_buttons()

    def _catalogue_failed(self, message: str) -> None:
        self.catalogue_message.setText(f"<b>The catalogue could not be loaded.</b><pre>{html.escape(message)}</pre>")
        self.catalogue_message.setStyleSheet("color: #c0392b;")

    # -- a run ----------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        running = self.run_process.is_running()
        self.run_button.setEnabled(not running and self.catalogue is not None and self.config.is_valid())
        self.stop_button.setEnabled(running)

    def start_run(self) -> None:
        spec = self.config.build_spec()
        if spec is None:
            self._update_buttons()
            return
        self.plot_kind = self.config.algorithm.plot
        self.run_title.setText(spec.title)
        seeds = "1 seed" if spec.seeds == 1 else f"{spec.seeds} seeds"
        self.run_shape = f"{seeds} × {spec.steps} steps, device {spec.device}"
        self.run_device = None
        self._set_status("running", f"starting the engine… ({self.run_shape})")
        self.progress.setRange(0, spec.steps)
        self.progress.setValue(0)
        self.progress.show()
        self.run_process.start(spec)
        self._update_buttons()

    def _run_started(self, run_id: int) -> None:
        self.run_title.setText(f"Run {run_id}: {self.run_title.text()}")
        self._set_status("running", self.run_shape)
        self.live_plot.watch(run_id, self.plot_kind)

    def _show_progress(self, row: dict) -> None:
        self.progress.setRange(0, max(1, row["steps"]))
        self.progress.setValue(row["steps_done"] or 0)
        if self.status == "running" and self.run_device is None and row.get("hardware_json"):
            # "auto" is only a request; the run row says where the engine actually ran.
            self.run_device = json.loads(row["hardware_json"]).get("device", "?")
            self._set_status("running", f"{self.run_shape} (running on {self.run_device})")

    def _run_ended(self, status: str, error: str) -> None:
        self.live_plot.finish()
        self._set_status(status, error)
        self._update_buttons()
        if self._closing:
            self.close()

    def _set_status(self, status: str, detail: str) -> None:
        self.status = status
        colour = STATUS_COLOURS.get(status, "#202020")
        text = f"<b style='color:{colour}'>{html.escape(status)}</b>"
        if detail:
            text += f" — {html.escape(detail)}"
        self.status_label.setText(text)

    def closeEvent(self, event) -> None:
        # Closing mid-run means "stop": the window waits (without blocking) for the
        # engine to record the run as cancelled, then closes. A second close does not
        # wait; Qt then kills the engine and the store later marks the run interrupted.
        if self.run_process.is_running() and not self._closing:
            self._closing = True
            self._set_status("cancelling", "closing once the engine has stopped")
            self.run_process.stop()
            event.ignore()
            return
        self.live_plot.stop_timers()
        super().closeEvent(event)
