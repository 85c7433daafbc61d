"""The run queue: a view of the engine's queue in the store, and of the runs going on.

A run pressed in the studio is queued by the engine, never by the window: `tradeoff
submit SPEC` (through `SweepLauncher`) writes it to the store as a one-point sweep that
sweeps no key (`sweep_store.create_run_point`), and a `tradeoff scheduler` started
detached serves it (started alongside the submit, and waiting a few minutes once its
queue is empty, so that the next run finds its workers ready); where a scheduler already
serves the store, the run joins its queue. A scheduler is also started ahead of the
first Run, while the user sets one up (`warm`: the window calls it when a field of the
catalogue or the configure pane takes the focus, or the list is clicked), so that the
workers' import of torch is not paid between the press and the first record.
So a queued run survives the window: a studio opened later reads it from the store (and
starts a scheduler where none serves it), and the scheduler's bounded pool of workers
(the hardware panel's worker count when it started) runs it.

Everything shown is read from the store on a timer: each queued run's place in the
store's queue (which sweep points share), then its run (steps_done, started_at, the
hardware it uses) once a worker has started it, then its final status. Runs that are no
point of this queue (from `tradeoff run`, or a sweep's) are adopted from the store, so
they show here and can be stopped here too. Stop is the engine's `tradeoff cancel` for a
queued run or a sweep's run (the worker running it stops it), SIGTERM for a run that has
an engine process of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine import sweep_store
from engine.spec import RunSpec
from engine.store import LIVE_STATUSES, StoreReader
from studio.queue import engine_command
from studio.sweeps.launch import SweepLauncher, last_error_line
from studio.views import kinds

# submitting: `tradeoff submit` is checking it; queued: in the store's queue; starting: a
# worker has taken it and its run is being built; running: its run records.
LIVE_STATES = ("submitting", "queued", "starting", "running")
POLL_MS = 250
ADOPT_EVERY_TICKS = 4  # look for runs started elsewhere about once a second
RATE_WINDOW_SECONDS = 10.0  # the rate is measured over the last few seconds, not since the start
NAMING_SECONDS = 5.0  # how long a new run (or queued run) may be one of ours not named yet
# A scheduler the queue starts waits this long for the next run once its queue is empty,
# its workers idle with torch imported: a run pressed meanwhile starts about as fast as a
# `tradeoff run` of its own would, where a cold scheduler takes about three times as long
# on a small machine (bench/queue_start.py).
SCHEDULER_LINGER_SECONDS = 300.0
ALREADY_SERVED = "already serves"  # the scheduler's refusal when another one serves the store


def last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


@dataclass(eq=False)
class QueueEntry:
    """One run as the queue knows it: `state` is one of LIVE_STATES, or the final status
    of its run (of its point, where it ended before its run began)."""

    title: str
    plot_kind: str
    steps: int
    seeds: int
    spec: RunSpec | None = None
    state: str = "submitting"
    sweep_id: int | None = None  # the one-point sweep that queues it (None: adopted)
    priority: int = 0
    position: int = 0  # its place in the store's queue while queued (1: next)
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
    samples: deque = field(default_factory=lambda: deque(maxlen=200))  # (Unix time, steps_done)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def waiting(self) -> bool:
        return self.state in ("submitting", "queued")

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


def _entry_of_point(point: dict) -> QueueEntry:
    """An entry for a queued run read from the store (queued by another window, or by this
    one before a restart)."""
    spec = point["spec"]
    run, algorithm = spec.get("run", {}), spec.get("algorithm", {}).get("id", "?")
    problem = spec.get("problem", {}).get("id", "?")
    return QueueEntry(
        title=run.get("name") or f"{algorithm} on {problem}",
        plot_kind=kinds.DEFAULT_KIND,
        steps=int(run.get("steps") or 0),
        seeds=int(run.get("seeds") or 1),
        state="queued",
        sweep_id=point["sweep_id"],
        priority=point["priority"],
    )


class RunQueue(QObject):
    entry_added = Signal(object)
    entry_changed = Signal(object)
    entry_removed = Signal(object)
    run_started = Signal(object)  # an entry whose run id just became known (ours or adopted)
    run_ended = Signal(object)  # an entry that reached a final state
    counts_changed = Signal()
    problem = Signal(str)  # the engine refused something asked (a scheduler, a cancel)

    def __init__(self, store: StoreReader, workers: int = 2, parent=None):
        super().__init__(parent)
        self.store = store
        self.workers = max(1, workers)
        self.entries: list[QueueEntry] = []
        self.host = socket.gethostname()
        self._ticks = 0
        self._reading = True  # False once the window goes: late answers are not read
        self._launchers: dict[int, SweepLauncher] = {}  # id(entry) -> its submit in flight
        self._server = self._new_launcher()  # starts schedulers for runs queued earlier
        self._schedulers: list[tuple[subprocess.Popen, Path]] = []  # started here, not ended
        self._spent_folders: set[Path] = set()  # of submits answered, removed with their scheduler
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    def refresh(self) -> None:
        """Read the store's queue and its live runs now (a new window: its signals are
        connected), and start a scheduler where runs wait that none serves."""
        self._read_points()
        self._serve_if_unserved()
        self.adopt_live_runs()

    # -- what is in the queue ------------------------------------------------------------
    def in_flight(self) -> list[QueueEntry]:
        """The queue's own runs that are not over: queued, starting or running."""
        return [e for e in self.entries if e.live and not e.adopted]

    def running(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.state in ("starting", "running")]

    def waiting(self) -> list[QueueEntry]:
        return [e for e in self.entries if e.waiting]

    def entry_for(self, run_id: int) -> QueueEntry | None:
        return next((e for e in self.entries if e.run_id == run_id), None)

    def entry_of_sweep(self, sweep_id: int) -> QueueEntry | None:
        return next((e for e in self.entries if e.sweep_id == sweep_id), None)

    # -- commands ------------------------------------------------------------------------
    def submit(self, spec: RunSpec, plot_kind: str) -> QueueEntry:
        """Queue `spec` with the engine (`tradeoff submit`), then start a scheduler; the
        entry is `submitting` until the engine answers, then follows the store."""
        entry = QueueEntry(
            title=spec.title, plot_kind=plot_kind, steps=spec.steps, seeds=spec.seeds, spec=spec
        )
        launcher = self._new_launcher()
        launcher.submitted.connect(lambda sweep_id, _n, e=entry: self._submitted(e, sweep_id))
        launcher.failed.connect(lambda reason, e=entry: self._submit_refused(e, reason))
        self._launchers[id(entry)] = launcher
        self.entries.append(entry)
        self.entry_added.emit(entry)
        # Where none serves the store, a scheduler starts alongside the submit (both import
        # torch, at once rather than one after the other) and waits for the run; the one
        # the launcher starts after the submit then finds it serving and exits.
        if not self._scheduler_starting() and sweep_store.scheduler(self.store.conn) is None:
            self._server.serve(self.workers, linger=SCHEDULER_LINGER_SECONDS)
        launcher.launch(spec.to_dict(), self.workers)
        self.counts_changed.emit()
        return entry

    def warm(self) -> bool:
        """Start a scheduler, its workers importing torch, where none serves the store and
        none started here is up, so that the next Run finds workers ready (the user is
        setting one up). It lingers `SCHEDULER_LINGER_SECONDS` with nothing queued, then
        exits. True when one was started."""
        if self._scheduler_starting() or sweep_store.scheduler(self.store.conn) is not None:
            return False
        self._server.serve(self.workers, linger=SCHEDULER_LINGER_SECONDS)
        return True

    def stop_idle_schedulers(self) -> int:
        """Stop the schedulers started here while they serve nothing (one warmed ahead of a
        Run, or lingering after runs), so that a sweep sent to a Ray cluster is not taken
        by them: one scheduler serves a store, and a local one would run its points here.
        SIGINT: the scheduler gives the store's lock back as it exits. None is stopped while
        anything of the store's queue waits or runs. Returns how many were stopped."""
        conn = self.store.conn
        if self.in_flight() or sweep_store.queued_count(conn) or sweep_store.running_count(conn):
            return 0
        stopped = 0
        for popen, folder in list(self._schedulers):
            if popen.poll() is None:
                self._schedulers.remove((popen, folder))
                popen.send_signal(signal.SIGINT)
                try:
                    popen.wait(5)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait(5)
                shutil.rmtree(folder, ignore_errors=True)
                stopped += 1
        return stopped

    def set_workers(self, workers: int) -> None:
        """The pool size of the next scheduler started here (one serving keeps its own)."""
        self.workers = max(1, int(workers))
        self.counts_changed.emit()

    def stop(self, entry: QueueEntry) -> str | None:
        """Cancel a run (a queued one never starts); None, or why it cannot be stopped from here."""
        if not entry.live or entry.stop_requested:
            return None
        entry.stop_requested = True
        if entry.sweep_id is not None:
            self._engine_cancel("--sweep", str(entry.sweep_id), "--point", "0")
        elif entry.state == "submitting":
            pass  # cancelled as soon as the engine says where it queued it (_submitted)
        elif entry.adopted:
            entry.stop_requested = False
            return self._stop_adopted(entry)
        self._changed(entry)
        return None

    def _stop_adopted(self, entry: QueueEntry) -> str | None:
        if self.store.sweep_of_run(entry.run_id) is not None:
            # A sweep's run: its engine process may be a pool worker or a Ray driver that
            # serves other points too, so the scheduler stops this point alone.
            self._engine_cancel("--run", str(entry.run_id))
            entry.stop_requested = True
            self._changed(entry)
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

    def _engine_cancel(self, *named: str, then=None) -> None:
        """`tradeoff cancel NAMED`; `then()` once it has ended."""
        process = engine_command.engine_process(
            self, "cancel", "--db", str(self.store.path), *named, "--json"
        )

        def done(code, _status, p=process):
            if code != 0 and self._reading:
                err = bytes(p.readAllStandardError()).decode("utf-8", "replace")
                self.problem.emit(f"not cancelled: {last_error_line(err)}")
            p.deleteLater()
            if then is not None:
                then()

        process.finished.connect(done)
        process.start()

    def stop_all(self) -> None:
        """Stop every run of the queue: the queued ones first, so that no worker the running
        ones free takes one of them meanwhile."""
        queued = [e for e in self.in_flight() if e.state == "queued" and not e.stop_requested]
        going = [e for e in self.in_flight() if e not in queued]
        left = [len(queued)]

        def queued_cancelled():
            left[0] -= 1
            if not left[0]:
                for entry in going:
                    self.stop(entry)

        for entry in queued:
            entry.stop_requested = True
            self._changed(entry)
            self._engine_cancel(
                "--sweep", str(entry.sweep_id), "--point", "0", then=queued_cancelled
            )
        if not queued:
            for entry in going:
                self.stop(entry)

    def release_all(self) -> int:
        """The window closes and lets its runs go on: queued runs stay in the store's queue
        and the scheduler goes on serving it. Returns how many runs were dropped: none."""
        self.stop_polling()
        return 0

    def clear_finished(self) -> None:
        for entry in [e for e in self.entries if not e.live]:
            self.entries.remove(entry)
            self.entry_removed.emit(entry)

    def set_store(self, store: StoreReader) -> None:
        """Follow another store; refused (ValueError) while this queue's runs go."""
        if self.in_flight():
            raise ValueError("runs of this window are still going")
        for entry in list(self.entries):
            self.entries.remove(entry)
            self.entry_removed.emit(entry)
        self.store = store
        self._server.set_db(store.path)
        self.counts_changed.emit()
        self.refresh()

    def stop_polling(self) -> None:
        """No more reads of the store (the window is going). A submit still in flight goes
        on: the engine queues its run and starts a scheduler, unread here."""
        self._reading = False
        self._timer.stop()

    # -- the engine's answers --------------------------------------------------------------
    def _new_launcher(self) -> SweepLauncher:
        launcher = SweepLauncher(self.store.path, self)
        launcher.scheduler_started.connect(
            lambda popen, folder: self._schedulers.append((popen, Path(folder)))
        )
        return launcher

    def _submitted(self, entry: QueueEntry, sweep_id: int) -> None:
        launcher = self._launchers.pop(id(entry))
        # Its folder holds the spec and the output of the scheduler it started; it goes
        # with that scheduler's (_check_schedulers).
        self._spent_folders.add(launcher.workdir)
        launcher.deleteLater()
        if not self._reading:
            return
        entry.sweep_id, entry.state = sweep_id, "queued"
        if entry.stop_requested:
            self._engine_cancel("--sweep", str(sweep_id), "--point", "0")
        self._read_points()
        self._changed(entry)
        self.counts_changed.emit()

    def _submit_refused(self, entry: QueueEntry, reason: str) -> None:
        launcher = self._launchers.pop(id(entry))
        shutil.rmtree(launcher.workdir, ignore_errors=True)
        launcher.deleteLater()
        if not self._reading:
            return
        entry.state, entry.error = "failed", f"not queued: {reason}"
        entry.finished_at = time.time()
        self._ended(entry)

    def _serve_if_unserved(self) -> None:
        """Runs queued here earlier (before a restart) wait for a scheduler: start one
        where none serves the store and none started here is still starting."""
        if not any(e.state == "queued" for e in self.entries if not e.adopted):
            return
        if self._scheduler_starting() or sweep_store.scheduler(self.store.conn) is not None:
            return
        self._server.serve(self.workers, linger=SCHEDULER_LINGER_SECONDS)

    def _scheduler_starting(self) -> bool:
        """Whether a scheduler started here is still up (starting, serving or lingering)."""
        return any(popen.poll() is None for popen, _ in self._schedulers)

    def _check_schedulers(self) -> None:
        """A scheduler started here that exited with an error (not the refusal of one that
        found another serving) leaves the queued runs unserved: say why."""
        going = []
        for popen, folder in self._schedulers:
            code = popen.poll()
            if code is None:
                going.append((popen, folder))
                continue
            if code != 0:
                try:
                    text = (folder / "stderr.txt").read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = ""
                reason = last_error_line(text)
                if ALREADY_SERVED not in reason:
                    self.problem.emit(f"the engine's scheduler did not start: {reason}")
                    for entry in self.entries:
                        if entry.state == "queued" and not entry.adopted:
                            entry.error = f"no scheduler serves the queue: {reason}"
                            self._changed(entry)
            shutil.rmtree(folder, ignore_errors=True)
            if folder.parent in self._spent_folders:
                shutil.rmtree(folder.parent, ignore_errors=True)
                self._spent_folders.discard(folder.parent)
        self._schedulers = going

    # -- reading the store ----------------------------------------------------------------
    def poll(self) -> None:
        self._ticks += 1
        self._check_schedulers()
        self._read_points()
        for entry in list(self.entries):
            if not entry.adopted or not entry.live or entry.run_id is None:
                continue
            row = self._read_row(entry)
            if row is None or row["status"] not in LIVE_STATUSES:
                self._adopted_ended(entry, row)
            else:
                self._changed(entry)
        if self._ticks % ADOPT_EVERY_TICKS == 1:
            self.adopt_live_runs()

    def _read_points(self) -> None:
        """The queued runs of the store (new ones become entries) and where each of ours is."""
        known = {e.sweep_id: e for e in self.entries if e.sweep_id is not None}
        live_known = [s for s, e in known.items() if e.live]
        # The engine queues a run a moment before its submit's answer is read: while one of
        # ours is submitting, a new queued run may be it, and waits for that answer.
        submitting = any(e.state == "submitting" for e in self.entries)
        now = time.time()
        added = False
        for point in sweep_store.run_points(self.store.conn, live_known):
            entry = known.get(point["sweep_id"])
            if entry is None and submitting and now - point["created_at"] < NAMING_SECONDS:
                continue
            if entry is None:
                entry = _entry_of_point(point)
                self.entries.append(entry)
                self.entry_added.emit(entry)
                added = True
            if entry.live:
                self._follow_point(entry, point)
        if added:
            self.counts_changed.emit()

    def _follow_point(self, entry: QueueEntry, point: dict) -> None:
        status, run_id = point["status"], point["run_id"]
        entry.priority = point["priority"]
        if status == "cancelled" and run_id is None:
            entry.stop_requested = True  # cancelled as it was taken: its worker ends it
        if run_id is not None and entry.run_id is None:
            entry.run_id, entry.state = run_id, "running"
            row = self._read_row(entry)
            if row is not None:
                entry.plot_kind = row["plot"] or entry.plot_kind
                entry.pid, entry.host = row["pid"], row["host"] or ""
            self._changed(entry)
            self.run_started.emit(entry)
            self.counts_changed.emit()
        if entry.run_id is not None:
            row = self._read_row(entry)
            if row is not None and row["status"] not in LIVE_STATUSES:
                entry.state, entry.error = row["status"], last_line(row["error"])
                self._ended(entry)
                return
            if row is None and status not in ("queued", "running"):
                entry.state, entry.error = status, "its run was deleted from the store"
                self._ended(entry)
                return
            if status == "cancelled":
                entry.stop_requested = True
            self._changed(entry)
            return
        if status == "queued":
            place = sweep_store.queue_position(self.store.conn, entry.sweep_id) or 0
            changed = entry.state != "queued" or entry.position != place
            entry.state, entry.position = "queued", place
            if entry.error and sweep_store.scheduler(self.store.conn) is not None:
                entry.error, changed = "", True  # served after all (a scheduler started since)
            if changed:
                self._changed(entry)
                self.counts_changed.emit()
        elif status == "running":
            if entry.state != "starting":
                entry.state, entry.error = "starting", ""
                self._changed(entry)
                self.counts_changed.emit()
        else:  # ended before its run began: cancelled while queued, or refused by its worker
            entry.state = status
            entry.error = {
                "cancelled": "removed from the queue before it started",
                "interrupted": "its scheduler stopped before the run began",
            }.get(status, "its worker could not start it (see `tradeoff scheduler`)")
            self._ended(entry)

    def _ended(self, entry: QueueEntry) -> None:
        entry.finished_at = entry.finished_at or time.time()
        entry.position = 0
        self._changed(entry)
        self.run_ended.emit(entry)
        self.counts_changed.emit()

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
        # A worker records its run a moment before it names it as its point's: while one
        # of ours waits for its run, a new run of no point may be it, and waits for a look
        # after the worker has named it. One of ours that a worker has taken ("starting")
        # holds every run of no point back for as long as it is taken, however long the
        # naming takes (a worker at its lower priority on a busy machine can take seconds);
        # a queued one, not taken when last read, for NAMING_SECONDS.
        ours = [e for e in self.entries if not e.adopted and e.live and e.run_id is None]
        waiting = bool(ours)
        taken = any(e.state == "starting" for e in ours)
        now = time.time()
        adopted = []
        for run_id in self.store.live_run_ids():
            if run_id in known:
                continue
            row = self.store.get_run(run_id)
            if row is None or row["status"] not in LIVE_STATUSES:
                continue  # its engine is gone: the history shows it as interrupted
            sweep_id = self.store.sweep_of_run(run_id)
            if sweep_id is not None and self.entry_of_sweep(sweep_id) is not None:
                continue  # one of ours, followed by _read_points
            if sweep_id is None and (
                taken or (waiting and now - row["created_at"] < NAMING_SECONDS)
            ):
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
