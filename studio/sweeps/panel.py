"""All the views of one sweep in tabs, reading the store once for all of them.

`SweepPanel(store, sweep_id)`: the sweep view, the trade-off across runs and, for a sweep
over more than two keys, parallel coordinates; one `LiveSweep` feeds them all.
`run_activated(run_id)` when a point or line of any of them is clicked.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from engine.metrics import group_stats
from studio.sweeps.live import LiveSweep
from studio.sweeps.parallel_view import ParallelCoordinatesView
from studio.sweeps.sweep_view import SweepView
from studio.sweeps.tradeoff_view import TradeoffView


class SweepPanel(QWidget):
    run_activated = Signal(int)

    def __init__(self, store, sweep_id: int, parent=None):
        super().__init__(parent)
        group_stats.preload_in_background()  # the group tests' scipy, off the GUI thread
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

    def refresh(self) -> None:
        self.live.refresh()

    def stop(self) -> None:
        self.live.stop()
