"""All the views of one sweep in tabs, reading the store once for all of them.

`SweepPanel(store, sweep_id)`: the sweep view, the trade-off across runs and, for a sweep
over more than two keys, parallel coordinates; one `LiveSweep` feeds them all.
`run_activated(run_id)` when a point or line of any of them is clicked.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from engine.metrics import group_stats
from studio.sweeps.live import LiveSweep
from studio.sweeps.parallel_view import ParallelCoordinatesView
from studio.sweeps.sweep_view import SweepView
from studio.sweeps.tradeoff_view import TradeoffView
from studio.sweeps.worker import yielding_gil

IMPORT_POLL_MS = 100


class SweepPanel(QWidget):
    run_activated = Signal(int)

    def __init__(self, store, sweep_id: int, parent=None):
        super().__init__(parent)
        group_stats.preload_in_background()  # the group tests' scipy, off the GUI thread
        self._import_gil = None
        if not group_stats.ready():
            # the import is a second of Python holding the GIL: let the GUI thread have it
            # back quickly meanwhile (see studio/sweeps/worker.py)
            self._import_gil = yielding_gil()
            self._import_gil.__enter__()
            self._import_timer = QTimer(self)
            self._import_timer.setInterval(IMPORT_POLL_MS)
            self._import_timer.timeout.connect(self._import_done_yet)
            self._import_timer.start()
        self.live = LiveSweep(store, sweep_id, self, seeds=True)
        self.sweep_view = SweepView(store, sweep_id, live=self.live)
        self.tradeoff_view = TradeoffView(store, sweep_id, live=self.live)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.sweep_view, "Sweep")
        self.tabs.addTab(self.tradeoff_view, "Trade-off")
        self.views = [self.sweep_view, self.tradeoff_view]
        self.parallel_view = None
        if len(self.live.sweep.keys) > 2:
            self.parallel_view = ParallelCoordinatesView(store, sweep_id, live=self.live)
            self.tabs.addTab(self.parallel_view, "Parallel coordinates")
            self.views.append(self.parallel_view)
        for view in self.views:
            view.run_activated.connect(self.run_activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.setWindowTitle(f"{self.live.sweep.name} (sweep {sweep_id})")

    def _import_done_yet(self) -> None:
        if group_stats.ready():
            self._end_import_gil()

    def _end_import_gil(self) -> None:
        if self._import_gil is not None:
            self._import_timer.stop()
            self._import_gil.__exit__(None, None, None)
            self._import_gil = None

    def refresh(self) -> None:
        self.live.refresh()

    def stop(self) -> None:
        self._end_import_gil()
        self.live.stop()
