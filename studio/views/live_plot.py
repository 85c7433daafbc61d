"""A live view of one run: polls the store by cursor, redraws at a fixed rate.

Watching a run starts with one bulk read of what the store already holds
(`RunData.from_store`; a finished run of a million points takes a second or two),
then two timers, never one per record: the poll timer (every POLL_MS) reads only the
rows after the cursor and appends them to `RunData`; the redraw timer (REDRAW_MS)
pushes what has changed to pyqtgraph. A burst of records therefore costs one redraw,
and a poll reads at most ROWS_PER_POLL rows so the GUI thread never stalls on a big
backlog: the rest comes on the next tick. Several live plots (the watch area's tiles)
start their redraw timers out of phase, so their repaints fall in different turns of
the event loop instead of all in one.
"""

from __future__ import annotations

import gc
import itertools
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

from engine.store import StoreReader
from studio.views import kinds
from studio.views.run_data import RunData

POLL_MS = 100
REDRAW_MS = 50
ROWS_PER_POLL = 5_000
PHASES = 4  # live plots spread their redraws over this many slots of REDRAW_MS
SPREAD_MS = REDRAW_MS // PHASES
_next_phase = itertools.count()
_last_render_end = [float("-inf")]  # when any live plot last finished a render (monotonic s)


_refreeze_timer: QTimer | None = None


def _refreeze() -> None:
    """Collect once, then keep everything alive now out of the collector's generations.

    The studio freezes what its start-up built (studio/app.py); a view opened later adds
    thousands of objects, and Python's full collections, which scan every object not
    frozen, would then pause the streaming plots for 50-150 ms at a time. Unfreezing first
    lets this collection free what closed views left behind, so nothing leaks.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _schedule_refreeze() -> None:
    """Refreeze once the event loop is back, however many plots were opened meanwhile."""
    global _refreeze_timer
    if _refreeze_timer is None:
        _refreeze_timer = QTimer()
        _refreeze_timer.setSingleShot(True)
        _refreeze_timer.setInterval(0)
        _refreeze_timer.timeout.connect(_refreeze)
    _refreeze_timer.start()


class LivePlot(QWidget):
    """Shows the run it is told to watch, in the view its plot kind calls for."""

    run_row_read = Signal(dict)  # the run's row, as `StoreReader.get_run` gives it, once per poll

    def __init__(self, store: StoreReader, parent=None):
        super().__init__(parent)
        self.store = store
        self.run_id: int | None = None
        self.plot_kind = ""
        self.data = RunData()
        self.view: QWidget | None = None
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
        # Precise, or Qt aligns the coarse timers of all plots to one wake-up and every plot
        # redraws (and then paints) in the same pass of the event loop: one long stall.
        self.redraw_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)
        self._phase_timer = QTimer(self)
        self._phase_timer.setSingleShot(True)
        self._phase_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._phase_timer.setInterval(REDRAW_MS * (next(_next_phase) % PHASES) // PHASES)
        self._phase_timer.timeout.connect(self.redraw_timer.start)

    def watch(self, run_id: int, plot_kind: str) -> None:
        """Show what the store holds of a run, then follow it as it grows."""
        self.stop_timers()
        self.run_id, self.plot_kind = run_id, plot_kind
        self.data = RunData.from_store(self.store, run_id)
        self._drawn_version = -1
        if self.view is not None:
            self._stack.removeWidget(self.view)
            self.view.deleteLater()
        self.view = kinds.kind_of(plot_kind).view()
        self._stack.addWidget(self.view)
        self._stack.setCurrentWidget(self.view)
        self.redraw(spread=False)
        self.poll_timer.start()
        self._phase_timer.start()
        _schedule_refreeze()

    def finish(self) -> None:
        """The run's process has ended: read what is left, draw it, stop polling."""
        if self.run_id is None:
            return
        while self.poll():
            pass
        self.redraw(spread=False)
        self.stop_timers()

    def stop_timers(self) -> None:
        self.poll_timer.stop()
        self._phase_timer.stop()
        self.redraw_timer.stop()

    def poll(self) -> bool:
        """Read the rows after the cursors; True when a full batch suggests more are waiting."""
        if self.run_id is None:
            return False
        more = self.data.read_new(self.store, self.run_id, limit=ROWS_PER_POLL)
        row = self.store.get_run(self.run_id)
        if row is not None:
            self.run_row_read.emit(row)
        return more

    def redraw(self, spread: bool = True) -> None:
        """Draw what changed since the last redraw. With `spread`, a plot does not draw right
        after another one has: it retries a slot later, so that the plots' renders and paints
        never pile up in one pass of the event loop (one long stall) when their timers fire
        together, as they do once the loop has been late."""
        if self.view is None or self.data.version == self._drawn_version:
            return
        if spread and time.monotonic() - _last_render_end[0] < SPREAD_MS / 1000:
            self.redraw_timer.start(SPREAD_MS)
            return
        if self.redraw_timer.isActive() and self.redraw_timer.interval() != REDRAW_MS:
            self.redraw_timer.start(REDRAW_MS)
        self._drawn_version = self.data.version
        self.view.render(self.data)
        _last_render_end[0] = time.monotonic()
