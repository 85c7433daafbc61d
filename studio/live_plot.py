"""A live view of one run: polls the store by cursor, redraws at a fixed rate.

Two timers, never one per record: the poll timer (every POLL_MS) reads only the rows
after the last cursor and appends them to `RunData`; the redraw timer (REDRAW_MS)
pushes what has changed to pyqtgraph. A burst of records therefore costs one redraw,
and a poll reads at most ROWS_PER_POLL rows so the GUI thread never stalls on a big
backlog: the rest comes on the next tick.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from engine.store import Store
from studio.pareto_view import ParetoView
from studio.run_data import RunData
from studio.series_views import CurvesView, RegretView

POLL_MS = 100
REDRAW_MS = 100
ROWS_PER_POLL = 50_000
VIEWS = {"regret": RegretView, "curves": CurvesView, "pareto": ParetoView}


class LivePlot(QWidget):
    """Shows the run it is told to watch, in the view its plot kind calls for."""

    run_row_read = Signal(dict)  # the run's row, as `Store.get_run` gives it, once per poll

    def __init__(self, store: Store, parent=None):
        super().__init__(parent)
        self.store = store
        self.run_id: int | None = None
        self.plot_kind = ""
        self.data = RunData()
        self.view: QWidget | None = None
        self._series_cursor = 0
        self._pareto_cursor = 0
        self._drawn_version = -1
        self._placeholder = QLabel("Start a run to watch its plot here.")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("color: #707070; font-size: 12pt;")
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self._placeholder)
        self.poll_timer = QTimer(self)
        self.poll_timer.setInterval(POLL_MS)
        self.poll_timer.timeout.connect(self.poll)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)

    def watch(self, run_id: int, plot_kind: str) -> None:
        """Start following a run from its first record."""
        self.stop_timers()
        self.run_id, self.plot_kind = run_id, plot_kind
        self.data = RunData()
        self._series_cursor = self._pareto_cursor = 0
        self._drawn_version = -1
        if self.view is not None:
            self._stack.removeWidget(self.view)
            self.view.deleteLater()
        self.view = VIEWS.get(plot_kind, CurvesView)()
        self._stack.addWidget(self.view)
        self._stack.setCurrentWidget(self.view)
        self.poll_timer.start()
        self.redraw_timer.start()

    def finish(self) -> None:
        """The run's process has ended: read what is left, draw it, stop polling."""
        if self.run_id is None:
            return
        while self.poll():
            pass
        self.redraw()
        self.stop_timers()

    def stop_timers(self) -> None:
        self.poll_timer.stop()
        self.redraw_timer.stop()

    def poll(self) -> bool:
        """Read the rows after the cursors; True when a full batch suggests more are waiting."""
        if self.run_id is None:
            return False
        rows, self._series_cursor = self.store.series_since(self.run_id, self._series_cursor, ROWS_PER_POLL)
        self.data.add_series(rows)
        if self.plot_kind == "pareto":
            points, self._pareto_cursor = self.store.pareto_since(self.run_id, self._pareto_cursor)
            self.data.add_pareto(points)
        row = self.store.get_run(self.run_id)
        if row is not None:
            if self.data.objectives is None and row.get("objectives_json"):
                self.data.set_objectives(json.loads(row["objectives_json"]))
            self.run_row_read.emit(row)
        return len(rows) == ROWS_PER_POLL

    def redraw(self) -> None:
        if self.view is None or self.data.version == self._drawn_version:
            return
        self._drawn_version = self.data.version
        self.view.render(self.data)
