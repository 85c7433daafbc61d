"""The run queue: runs wait for a worker; up to `workers` engine processes go side by side.

The store is the source of truth for progress: the row of every live run (steps_done,
started_at, the hardware it uses) is read on a timer. Runs this window did not start
(from the CLI, or from a studio closed earlier while its runs went on) are adopted
from the store, so they show here and can be stopped here too. The worker limit
counts only the runs this window started: a user's own CLI sweep never blocks the
queue, and the queue never stops it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from engine.spec import RunSpec
from engine.store import LIVE_STATUSES, StoreReader
from studio.queue import engine_command
from studio.queue.run_process import RunProcess
from studio.views import kinds

LIVE_STATES = ("queued", "starting", "running")
POLL_MS = 250
ADOPT_EVERY_TICKS = 4  # look for runs started elsewhere about once a second
RATE_WINDOW_SECONDS = 10.0  # the rate is measured over the last few seconds, not since the start


def last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


@dataclass(eq=False)
class QueueEntry:
    """One run as the queue knows it; `state` is queued (waiting for a worker), starting
    (the engine is loading), running, or the store's final status."""

    title: str
    plot_kind: str
    steps: int
    seeds: int
    spec: RunSpec | None = None
    state: str = "queued"
    run_id: int | None = None
    error: str = ""
    steps_done: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    hardware: dict = field(default_factory=dict)
    adopted: bool = False
    pid: int | None = None
    host: str = ""
    stop_requested: bool = False
    process: RunProcess | None = None
    samples: deque = field(default_factory=lambda: deque(maxlen=200))  # (Unix time, steps_done)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def rate(self, now: float | None = None) -> float | None:
        """Steps per second over the last RATE_WINDOW_SECONDS, else since the run started."""
        if self.samples:
            newest_time, newest_steps = self.samples[-1]
            recent = [(t, s) for t, s in self.samples if newest_time - t <= RATE_WINDOW_SECONDS]
            oldest_time, oldest_steps = recent[0]
            if newest_time - oldest_time >= 1.0 and newest_steps > oldest_steps:
                return (newest_steps - oldest_steps) / (newest_time - oldest_time)
        now = time.time() if now is None else now
        end = self.finished_at or now
        if self.started_at and self.steps_done and end > self.started_at:
            return self.steps_done / (end - self.started_at)
        return None

    def seconds_left(self) -> float | None:
        rate = self.rate()
        if not rate or not self.live:
            return None
        return max(0.0, (self.steps - self.steps_done) / rate)

    def device_text(self) -> str:
        """Where the run goes, from what the engine recorded ("cpu, float32, 2 threads")."""
        hw = self.hardware
        if not hw:
            return ""
        threads = hw.get("threads")
        parts = [str(hw.get("device", "?")), str(hw.get("dtype", ""))]
        if threads:
            parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
        return ", ".join(p for p in parts if p)


class RunQueue(QObject):
    entry_added = Signal(object)
    entry_changed = Signal(object)
    entry_removed = Signal(object)
    run_started = Signal(object)  # an entry whose run id just became known (ours or adopted)
    run_ended = Signal(object)  # an entry that reached a final state
    counts_changed = Signal()

    def __init__(self, store: StoreReader, workers: int = 2, parent=None):
        super().__init__(parent)
        self.store = store
        self.workers = max(1, workers)
        self.entries: list[QueueEntry] = []
        self.host = socket.gethostname()
        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    # -- what is in the queue ------------------------------------------------------------
    def in_flight(self) -> list[QueueEntry]:
        """This window's runs that are not over: waiting, starting or running."""
        return [e for e in self.entries if e.live and not e.adopted]

    def running(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state in ("starting", "running")]

    def waiting(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state == "queued"]

    def entry_for(self, run_id: int) -> QueueEntry | None:
        return next((e for e in self.entries if e.run_id == run_id), None)

    # -- commands ------------------------------------------------------------------------
    def submit(self, spec: RunSpec, plot_kind: str) -> QueueEntry:
        entry = QueueEntry(
            title=spec.title, plot_kind=plot_kind, steps=spec.steps, seeds=spec.seeds, spec=spec
        )
        self.entries.append(entry)
        self.entry_added.emit(entry)
        self._fill_slots()
        self.counts_changed.emit()
        return entry

    def set_workers(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._fill_slots()
        self.counts_changed.emit()

    def stop(self, entry: QueueEntry) -> str | None:
        """Cancel a run (a waiting one never starts); None, or why it cannot be stopped from here."""
        if not entry.live:
            return None
        if entry.state == "queued":
            entry.state, entry.error = "cancelled", "removed from the queue before it started"
            self._changed(entry)
            self.run_ended.emit(entry)
            self.counts_changed.emit()
            return None
        if entry.process is not None:
            entry.stop_requested = True
            entry.process.stop()
            self._changed(entry)
            return None
        if entry.adopted:
            return self._stop_adopted(entry)
        return None

    def _stop_adopted(self, entry: QueueEntry) -> str | None:
        if self.store.sweep_of_run(entry.run_id) is not None:
            # A sweep's run: its engine process may be a pool worker or a Ray driver that
            # serves other points too, so the scheduler stops this point alone.
            self._cancel_sweep_run(entry)
            return None
        if entry.host != self.host:
            return f"run {entry.run_id} runs on {entry.host}; stop it there"
        if not entry.pid:
            return f"run {entry.run_id} has no engine process id in the store"
        try:
            os.kill(entry.pid, signal.SIGTERM)
        except ProcessLookupError:
            return None  # it has just ended; the next read shows how
        except PermissionError:
            return f"run {entry.run_id}'s engine (process {entry.pid}) belongs to another user"
        entry.stop_requested = True
        self._changed(entry)
        return None

    def _cancel_sweep_run(self, entry: QueueEntry) -> None:
        process = engine_command.engine_process(
            self, "cancel", "--db", str(self.store.path), "--run", str(entry.run_id), "--json"
        )
        process.finished.connect(process.deleteLater)
        process.start()
        entry.stop_requested = True
        self._changed(entry)

    def stop_all(self) -> None:
        for entry in self.in_flight():
            self.stop(entry)

    def release_all(self) -> int:
        """Closing with runs that go on alone: the engines are left to finish and record
        their outcome; runs still waiting for a worker have no record and are dropped.
        Returns how many were dropped."""
        dropped = 0
        for entry in self.in_flight():
            if entry.state == "queued":
                entry.state, entry.error = "cancelled", "dropped when the window closed"
                dropped += 1
            elif entry.process is not None:
                entry.process.release()
                entry.process = None
                entry.adopted = True  # from now on only the store speaks for it
        self._timer.stop()
        return dropped

    def clear_finished(self) -> None:
        for entry in [e for e in self.entries if not e.live]:
            self.entries.remove(entry)
            self.entry_removed.emit(entry)

    def set_store(self, store: StoreReader) -> None:
        """Follow another store; refused (ValueError) while this window's runs go."""
        if self.in_flight():
            raise ValueError("runs of this window are still going")
        for entry in list(self.entries):
            self.entries.remove(entry)
            self.entry_removed.emit(entry)
        self.store = store
        self.counts_changed.emit()
        self.adopt_live_runs()

    def stop_polling(self) -> None:
        """No more reads of the store, from the queue or its processes (the window is going)."""
        self._timer.stop()
        for entry in self.entries:
            if entry.process is not None:
                entry.process.release()
                entry.process = None

    # -- starting -----------------------------------------------------------------------
    def _fill_slots(self) -> None:
        while True:
            own_running = [e for e in self.running() if not e.adopted]
            waiting = self.waiting()
            if len(own_running) >= self.workers or not waiting:
                return
            self._launch(waiting[0])

    def _launch(self, entry: QueueEntry) -> None:
        process = RunProcess(self.store.path, self)
        entry.process, entry.state = process, "starting"
        process.run_started.connect(lambda run_id, e=entry: self._started(e, run_id))
        process.run_ended.connect(lambda status, error, e=entry: self._ended(e, status, error))
        process.start(entry.spec)
        entry.pid, entry.host = process.pid, self.host
        self._changed(entry)

    def _started(self, entry: QueueEntry, run_id: int) -> None:
        entry.run_id, entry.state = run_id, "running"
        self._read_row(entry)
        self._changed(entry)
        self.run_started.emit(entry)
        self.counts_changed.emit()

    def _ended(self, entry: QueueEntry, status: str, error: str) -> None:
        """The engine process ended with `status` (from its exit code). The store's final
        status wins: a Stop that arrives as the run completes makes the process exit as
        "cancelled" after the engine has recorded the run as finished."""
        row = self._read_row(entry) if entry.run_id is not None else None
        if row is not None and row["status"] not in LIVE_STATUSES:
            status, error = (
                row["status"],
                last_line(row["error"]) or (error if row["status"] == status else ""),
            )
        entry.state, entry.error = status, error
        entry.finished_at = entry.finished_at or time.time()
        if entry.process is not None:
            entry.process.deleteLater()
            entry.process = None
        self._changed(entry)
        self.run_ended.emit(entry)
        self._fill_slots()
        self.counts_changed.emit()

    # -- reading the store ----------------------------------------------------------------
    def poll(self) -> None:
        self._ticks += 1
        for entry in list(self.entries):
            if not entry.live or entry.run_id is None:
                continue
            row = self._read_row(entry)
            if entry.adopted and (row is None or row["status"] not in LIVE_STATUSES):
                self._adopted_ended(entry, row)
            else:
                self._changed(entry)
        if self._ticks % ADOPT_EVERY_TICKS == 1:
            self.adopt_live_runs()

    def _read_row(self, entry: QueueEntry) -> dict | None:
        row = self.store.get_run(entry.run_id)
        if row is None:
            return None
        entry.steps = row["steps"] or entry.steps
        entry.steps_done = row["steps_done"] or 0
        entry.started_at = row["started_at"]
        entry.finished_at = row["finished_at"]
        if row["hardware_json"] and not entry.hardware:
            entry.hardware = json.loads(row["hardware_json"])
        entry.samples.append((time.time(), entry.steps_done))
        return row

    def _adopted_ended(self, entry: QueueEntry, row: dict | None) -> None:
        if row is None:
            entry.state, entry.error = "interrupted", "the run is no longer in the store"
        else:
            entry.state, entry.error = row["status"], last_line(row["error"])
        self._changed(entry)
        self.run_ended.emit(entry)
        self.counts_changed.emit()

    def adopt_live_runs(self) -> list[QueueEntry]:
        """Add the store's live runs that this queue does not know yet."""
        known = {e.run_id for e in self.entries if e.run_id is not None}
        # A run of ours whose "started" line has not been read yet is claimed by its
        # process in a moment; the engine's pid tells it apart from a stranger's.
        own_pids = {e.pid for e in self.entries if not e.adopted and e.live and e.pid}
        adopted = []
        live_ids = self.store.live_run_ids()
        for run_id in live_ids:
            if run_id in known:
                continue
            row = self.store.get_run(run_id)
            if row is None or row["status"] not in LIVE_STATUSES:
                continue  # its engine is gone: the history shows it as interrupted
            if row["host"] == self.host and row["pid"] in own_pids:
                continue
            entry = QueueEntry(
                title=row["name"] or f"{row['algorithm']} on {row['problem']}",
                plot_kind=row["plot"] or kinds.DEFAULT_KIND,
                steps=row["steps"],
                seeds=row["seeds"],
                state="running",
                run_id=run_id,
                adopted=True,
                pid=row["pid"],
                host=row["host"] or "",
            )
            self._read_row(entry)
            self.entries.append(entry)
            self.entry_added.emit(entry)
            self.run_started.emit(entry)
            adopted.append(entry)
        if adopted:
            self.counts_changed.emit()
        return adopted

    def _changed(self, entry: QueueEntry) -> None:
        self.entry_changed.emit(entry)
