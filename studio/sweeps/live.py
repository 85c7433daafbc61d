"""What the sweep views share: the sweep read live from the store (`LiveSweep`) and the choice
of a metric and its summary (`SummaryChoice`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from engine.metrics.run_summary import KIND_LABELS, SUMMARY_KINDS, Summary
from engine.store import StoreReader
from studio.sweeps.data import SweepData, SweepRuns
from studio.sweeps.worker import run_yielding

POLL_MS = 1000  # runs of a sweep take seconds to minutes: a second is live enough
# A view draws what a poll brought at most this often, and only while it is shown: a panel
# holds several views (tabs) on one `LiveSweep`, and drawing a hidden one, or twice for one
# poll, held the event loop for nothing (bench/sweep_stall.py).
REDRAW_MS = 250


class Redraws(QObject):
    """When a view draws what is new: `request()` after new data schedules one draw within
    REDRAW_MS (several requests in that time make one draw), deferred while the view is
    hidden until `shown()`; `flush()` draws now if a draw is owed; the draw calls `done()`."""

    def __init__(self, view: QWidget, draw):
        super().__init__(view)
        self.view = view
        self.draw = draw
        self.owed = False
        self.streaming = False  # True during a draw of what a poll brought (not a user's choice)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._due)

    def request(self) -> None:
        self.owed = True
        if not self.timer.isActive():
            self.timer.start()

    def _due(self) -> None:
        if self.owed and self.view.isVisible():
            self._draw_streamed()

    def shown(self) -> None:
        if self.owed:
            self._draw_streamed()

    def _draw_streamed(self) -> None:
        self.streaming = True
        try:
            self.draw()
        finally:
            self.streaming = False

    def flush(self) -> None:
        if self.owed:
            self.draw()

    def done(self) -> None:
        self.owed = False
        self.timer.stop()


def set_text(label: QLabel, text: str) -> None:
    """Set a label's text only when it changes (a new text lays the window out again)."""
    if label.text() != text:
        label.setText(text)


class LiveSweep(QObject):
    """A sweep and its runs, re-read every POLL_MS while anything may change.

    `updated(changed_run_ids)` after each refresh that brought something new. A poll costs
    one `PRAGMA data_version` when no other connection wrote; otherwise the sweep's points
    (`StoreReader.sweep`, a small read on the GUI thread) and the rows written after each
    unsettled run's cursors, which a thread of this sweep's own reads through a connection of
    its own (`StoreReader` on the same file) and the GUI thread then adds: the reads took
    about a tenth of a second a poll on a loaded machine (bench/sweep_stall.py). `refresh()`
    reads at once, on the caller's thread. `seeds`: read the kept seeds' values too (AUC
    bands, tests between groups).
    """

    updated = Signal(object)  # set of run ids whose data changed (empty: only statuses did)
    _read_done = Signal(object, object, object)  # sweep, statuses before, future of the read

    def __init__(self, store, sweep_id: int, parent=None, seeds: bool = False):
        super().__init__(parent)
        self.store = store
        self.sweep_id = sweep_id
        self.seeds = seeds
        self.sweep = SweepData.from_store(store, sweep_id)
        self.runs = SweepRuns(store)
        self.runs.refresh(self.sweep, seeds)
        self._version = store.data_version()
        self._reading = None  # the read under way in the thread
        self._refreshes = 0  # reads done at once (`refresh`) since the start
        self._executor: ThreadPoolExecutor | None = None
        self._thread_store = None  # the reading thread's own connection
        self._read_done.connect(self._apply)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def want_seeds(self) -> None:
        """From now on read the kept seeds too (at once, for what is there already)."""
        if not self.seeds:
            self.seeds = True
            self.updated.emit(self.runs.refresh(self.sweep, True))

    def poll(self) -> None:
        if self._reading is not None:
            return  # one read at a time: the next poll looks again
        version = self.store.data_version()
        if version != self._version:
            self._version = version
            if getattr(self.store, "path", None) is None:
                self.refresh()  # no file to open a second connection on
            else:
                self._read_in_thread()

    def _read_in_thread(self) -> None:
        before = self._statuses()
        sweep = SweepData.from_store(self.store, self.sweep_id)
        plans = self.runs.plan(sweep, self.seeds)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-read")
        self._reading = self._executor.submit(run_yielding, self._read, plans)
        refreshes = self._refreshes
        self._reading.add_done_callback(lambda f: self._relay((sweep, refreshes), before, f))

    def _read(self, plans):
        """On the reading thread: its own connection, opened on first use."""
        if self._thread_store is None:
            self._thread_store = StoreReader(self.store.path)
        return SweepRuns.read(self._thread_store, plans)

    def _relay(self, sweep, before, future) -> None:
        try:
            self._read_done.emit(sweep, before, future)  # queued to the GUI thread
        except RuntimeError:  # closed meanwhile
            pass

    def _apply(self, read_sweep, before, future) -> None:
        self._reading = None
        if not self.timer.isActive():
            return  # stopped meanwhile
        sweep, refreshes = read_sweep
        if refreshes != self._refreshes:
            return  # `refresh` read newer points and runs meanwhile; the next poll goes on
        self.sweep = sweep
        changed = self.runs.apply(future.result())
        if changed or before != self._statuses():
            self.updated.emit(changed)

    def _statuses(self) -> list:
        return [(p.run_id, p.status) for p in self.sweep.points]

    def refresh(self) -> set[int]:
        """Read the sweep again and what is new of its runs, now; emits `updated`."""
        before = self._statuses()
        self._refreshes += 1
        self.sweep = SweepData.from_store(self.store, self.sweep_id)
        changed = self.runs.refresh(self.sweep, self.seeds)
        if changed or before != self._statuses():
            self.updated.emit(changed)
        return changed

    def stop(self) -> None:
        self.timer.stop()
        if self._executor is not None:
            self._executor.submit(self._close_thread_store)
            self._executor.shutdown(wait=False)
            self._executor = None

    def _close_thread_store(self) -> None:
        if self._thread_store is not None:
            self._thread_store.close()
            self._thread_store = None


class SummaryChoice(QWidget):
    """A metric and which number of each run to take: final, at step s, best (max/min), AUC.

    `changed` whenever any part changes; `metric()` and `summary()` say what is chosen."""

    changed = Signal()

    def __init__(self, parent=None, label: str = "metric:"):
        super().__init__(parent)
        self.metric_combo = QComboBox()
        self.metric_combo.setMinimumContentsLength(12)
        self.kind_combo = QComboBox()
        for kind in SUMMARY_KINDS:
            self.kind_combo.addItem(KIND_LABELS[kind], kind)
        self.kind_combo.setToolTip(
            "final: the last checkpoint's mean over seeds, 95% t-band from its n and variance;\n"
            "at step: the same at the last checkpoint at or before the step;\n"
            "best: the checkpoint where the mean curve is largest (max) or smallest (min);\n"
            "AUC: the area under the mean curve (trapezoids over steps); its band comes from\n"
            "the kept seeds' own areas (n = kept seeds)."
        )
        self.step_spin = QSpinBox()
        self.step_spin.setRange(0, 2_000_000_000)
        self.step_spin.setPrefix("step ")
        self.best_combo = QComboBox()
        self.best_combo.addItems(["max", "min"])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if label:
            layout.addWidget(QLabel(label))
        layout.addWidget(self.metric_combo, 1)
        layout.addWidget(self.kind_combo)
        layout.addWidget(self.step_spin)
        layout.addWidget(self.best_combo)
        self.metric_combo.currentIndexChanged.connect(self.changed)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.step_spin.valueChanged.connect(self.changed)
        self.best_combo.currentIndexChanged.connect(self.changed)
        self._kind_changed()

    def _kind_changed(self, *_):
        kind = self.kind_combo.currentData()
        self.step_spin.setVisible(kind == "at_step")
        self.best_combo.setVisible(kind == "best")
        self.changed.emit()

    def set_metrics(self, metrics: list[str]) -> None:
        """Offer these metrics; the chosen one stays when it is still there."""
        current = self.metric_combo.currentText()
        if [self.metric_combo.itemText(i) for i in range(self.metric_combo.count())] == metrics:
            return
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        self.metric_combo.addItems(metrics)
        if current in metrics:
            self.metric_combo.setCurrentText(current)
        self.metric_combo.blockSignals(False)
        if self.metric_combo.currentText() != current:
            self.changed.emit()

    def metric(self) -> str:
        return self.metric_combo.currentText()

    def summary(self) -> Summary:
        kind = self.kind_combo.currentData()
        return Summary(
            kind,
            step=self.step_spin.value() if kind == "at_step" else None,
            best=self.best_combo.currentText(),
        )

    def set_choice(self, metric: str, summary: Summary) -> None:
        """Choose a metric and a summary (as a user would)."""
        self.blockSignals(True)
        self.metric_combo.setCurrentText(metric)
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(summary.kind))
        if summary.step is not None:
            self.step_spin.setValue(summary.step)
        self.best_combo.setCurrentText(summary.best)
        self.blockSignals(False)
        self._kind_changed()
