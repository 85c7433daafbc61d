"""The scheduler: runs the store's queued sweep points on a backend, one scheduler per store.

The queue is the store (`sweep_points` with status `queued`, engine/sweep_store.py), so
it survives any process: `tradeoff submit` queues, `tradeoff scheduler` (or `tradeoff
run SWEEP`) serves. A scheduler holds the store's lock (pid and process start time,
judged alive as runs are); a second one finds it alive and waits, or, when it is gone,
takes over, marking the points the dead one left running `interrupted` (`tradeoff
resume` queues them again).

A `Backend` runs points. `LocalPool` keeps long-lived worker processes on this machine
(spawned once, torch imported once), each running one point at a time with
`engine.runner.execute`, so each point is an ordinary run written by its own engine
process. Cancelling is a store write (`sweep_store.cancel`): the worker running a
cancelled point sees it and stops its run, which ends `cancelled`. A worker that dies
(killed, out of memory) leaves its run `failed` with the reason, and is replaced.

`engine.ray_backend.RayBackend` implements `Backend` on a Ray cluster: there the
scheduler's process is also the only writer of the points' runs (their tasks send their
records to it), and it ends the runs of tasks that died or were cancelled.
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass

from engine import sweep_store
from engine.store import HEARTBEAT_SECONDS, Store

POLL_SECONDS = 0.2
CANCEL_POLL_SECONDS = 0.3


class SchedulerError(RuntimeError):
    pass


# -- how many workers ---------------------------------------------------------------------
def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class PoolPlan:
    workers: int
    threads: int  # torch threads of a point whose spec says 0 (torch's default)
    cores: int


def plan_workers(
    spec_threads, workers: int | None = None, oversubscribe: bool = False, cores: int | None = None
) -> PoolPlan:
    """Workers and threads so that workers x threads <= cores (unless `oversubscribe`).

    spec_threads: the points' `hardware.threads` (0: unset). The threads of a point are its
    own where set, else cores // workers (at least 1). Default workers: cores // threads
    (threads the largest a point sets, else 1), at most one per point.
    """
    cores = cores or cpu_cores()
    spec_threads = list(spec_threads) or [0]
    explicit = max(spec_threads)
    points = len(spec_threads)
    if workers is None:
        workers = max(1, min(points, cores // max(explicit, 1)))
    if workers < 1:
        raise SchedulerError(f"--workers must be at least 1, got {workers}")
    threads = explicit or max(1, cores // workers)
    if workers * threads > cores and not oversubscribe:
        raise SchedulerError(
            f"{workers} workers x {threads} torch threads = {workers * threads} threads on "
            f"{cores} cores; give fewer workers or hardware.threads, or --oversubscribe"
        )
    return PoolPlan(workers, threads, cores)


# -- backends ---------------------------------------------------------------------------
@dataclass
class Event:
    """What a backend reports: a point `started` (its run exists) or `ended`."""

    kind: str  # "started" | "ended"
    sweep_id: int
    idx: int
    run_id: int | None = None
    status: str | None = None  # ended: the run's final status
    error: str | None = None


class Backend(abc.ABC):
    """Runs points. The scheduler gives it a point when `idle_slots()` > 0 and collects
    events with `poll`. A point (a dict: sweep_id, idx, values, spec) is claimed in the store
    (status running) before it is given; the backend's engine process writes its run and
    the point's final status (`sweep_store.finish_point`), or the backend does when that
    process died."""

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def idle_slots(self) -> int: ...

    @abc.abstractmethod
    def submit(self, point: dict) -> None: ...

    @abc.abstractmethod
    def poll(self, timeout: float) -> list[Event]: ...

    @abc.abstractmethod
    def busy(self) -> int:
        """How many points are running."""

    @abc.abstractmethod
    def close(self, cancel: bool = False) -> None:
        """Stop the workers (with `cancel`, their running runs end cancelled first)."""


def _die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the scheduler dies, so that a killed scheduler
    leaves no worker running on (its run is then found ended and shown interrupted)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(db_path: str, tasks, results, threads: int, parent: int) -> None:
    """A pool worker: import torch once, then run the points it is given, one at a time."""
    _die_with_parent()
    if os.getppid() != parent:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scheduler's to handle
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # between runs; runner.execute sets its own
    import torch

    from engine import registry, runner
    from engine.spec import RunSpec, SpecError
    from engine.store import RunLost

    catalogue = registry.Catalogue.live()
    # The store is opened on the first point: a pool started while its sweep is still
    # being validated (see `LocalPool`) writes nothing if the sweep is refused.
    store = None
    current: dict = {}  # the point this worker runs: sweep_id, idx, run_id
    guard = threading.Lock()
    results.put(("ready", os.getpid()))
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if task is None:
            return
        if store is None:
            store = Store(db_path)
            threading.Thread(
                target=_watch_cancel, args=(db_path, current, guard), daemon=True
            ).start()
        sweep_id, idx = task["sweep_id"], task["idx"]
        if sweep_store.point_status(store.conn, sweep_id, idx) != "running":
            results.put(("ended", sweep_id, idx, None, None, None))  # cancelled before it began
            continue

        def on_start(run_id, sweep_id=sweep_id, idx=idx, store=store):
            with guard:
                current.update(sweep_id=sweep_id, idx=idx, run_id=run_id)
            sweep_store.set_point_run(store.conn, sweep_id, idx, run_id)
            results.put(("started", sweep_id, idx, run_id, None, None))

        run_id, status, error = None, "failed", None
        try:
            spec = RunSpec.from_dict(task["spec"], catalogue, f"sweep {sweep_id} point {idx}")
            torch.set_num_threads(spec.threads or threads)
            device = runner.prepare(spec)
            run_id, status = runner.execute(spec, store, device, on_start=on_start)
        except RunLost as lost:
            run_id, status, error = lost.run_id, "interrupted", str(lost)
        except (SpecError, ValueError) as err:
            error = str(err)
        finally:
            with guard:
                current.clear()
        if run_id is not None and error is None:
            row = store.conn.execute("SELECT error FROM runs WHERE id=?", (run_id,)).fetchone()
            error = ((row[0] or "").strip().splitlines() or [None])[-1] if row else None
        sweep_store.finish_point(store.conn, sweep_id, idx, status)
        results.put(("ended", sweep_id, idx, run_id, status, error))


def _watch_cancel(db_path: str, current: dict, guard: threading.Lock) -> None:
    """Stop this worker's run when its point is marked cancelled in the store: SIGTERM to
    this process, which `runner.execute` turns into a clean `cancelled` end. Repeated until
    the run ends (a signal before execute's handler is in place is ignored)."""
    store = Store(db_path)
    while True:
        time.sleep(CANCEL_POLL_SECONDS)
        with guard:
            if not current.get("run_id"):
                continue
            status = sweep_store.point_status(store.conn, current["sweep_id"], current["idx"])
            if status == "cancelled":
                os.kill(os.getpid(), signal.SIGTERM)


class _Worker:
    def __init__(self, ctx, db_path: str, results, threads: int):
        self.tasks = ctx.Queue()
        self.process = ctx.Process(
            target=_worker_main,
            args=(db_path, self.tasks, results, threads, os.getpid()),
            daemon=True,
            name="tradeoff-worker",
        )
        self.process.start()
        self.point: dict | None = None  # what it runs now
        self.run_id: int | None = None


class LocalPool(Backend):
    """A bounded pool of long-lived worker processes on this machine (spawn context)."""

    def __init__(self, db_path, workers: int, threads: int):
        self.db_path = str(db_path)
        self.size, self.threads = workers, threads
        self.ctx = multiprocessing.get_context("spawn")
        self.results = None
        self.workers: list[_Worker] = []
        self.store: Store | None = None

    def start(self) -> None:
        """Start the workers (they import torch, then wait); again: nothing more to do.

        A pool may be started before its store is written to (while the sweep is being
        validated, so that the workers' start overlaps it): neither the pool nor its
        workers open the store before the first point."""
        if self.results is not None:
            return
        self.results = self.ctx.Queue()
        self.workers = [self._spawn() for _ in range(self.size)]

    def shrink(self, workers: int) -> None:
        """Keep at most `workers` workers (idle ones are let go)."""
        while len(self.workers) > max(workers, 1):
            w = self.workers.pop()
            w.tasks.put(None)
        self.size = len(self.workers) or self.size

    def discard(self) -> None:
        """Stop a pool that has not been given a point (a sweep refused while its workers
        started): they have written nothing, so they are killed rather than waited for."""
        for w in self.workers:
            w.process.kill()
        for w in self.workers:
            w.process.join(5.0)
        self.workers = []

    def _store(self) -> Store:
        if self.store is None:
            self.store = Store(self.db_path)
        return self.store

    def _spawn(self) -> _Worker:
        return _Worker(self.ctx, self.db_path, self.results, self.threads)

    def idle_slots(self) -> int:
        return sum(w.point is None for w in self.workers)

    def busy(self) -> int:
        return sum(w.point is not None for w in self.workers)

    def submit(self, point: dict) -> None:
        worker = next(w for w in self.workers if w.point is None)
        worker.point, worker.run_id = point, None
        worker.tasks.put(point)

    def _by_point(self, sweep_id: int, idx: int) -> _Worker | None:
        for w in self.workers:
            if w.point is not None and (w.point["sweep_id"], w.point["idx"]) == (sweep_id, idx):
                return w
        return None

    def _drain(self, timeout: float) -> list[Event]:
        events = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                msg = (
                    self.results.get(timeout=max(left, 0.0))
                    if left > 0
                    else self.results.get_nowait()
                )
            except queue.Empty:
                return events
            if msg[0] == "ready":
                continue
            kind, sweep_id, idx, run_id, status, error = msg
            worker = self._by_point(sweep_id, idx)
            if kind == "started":
                if worker is not None:
                    worker.run_id = run_id
            elif worker is not None:
                worker.point = worker.run_id = None
            events.append(Event(kind, sweep_id, idx, run_id, status, error))
            deadline = min(deadline, time.monotonic())  # having got one, take what is there

    def poll(self, timeout: float) -> list[Event]:
        events = self._drain(timeout)
        for i, w in enumerate(self.workers):
            if w.process.is_alive():
                continue
            events += self._drain(0.0)  # its last messages, if any, before judging it
            if w.point is not None:
                events.append(self._worker_died(w))
            self.workers[i] = self._spawn()
        return events

    def _worker_died(self, w: _Worker) -> Event:
        code = w.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        reason = (
            f"the worker process (pid {w.process.pid}) running this point died ({how}); "
            "the sweep went on without it"
        )
        point = w.point
        store = self._store()
        run_id = w.run_id or store.run_of_engine(w.process.pid)
        if run_id is not None:
            store.fail_run_of_dead_engine(run_id, reason)
            sweep_store.set_point_run(store.conn, point["sweep_id"], point["idx"], run_id)
        sweep_store.finish_point(store.conn, point["sweep_id"], point["idx"], "failed")
        w.point = w.run_id = None
        return Event("ended", point["sweep_id"], point["idx"], run_id, "failed", reason)

    def close(self, cancel: bool = False) -> None:
        for w in self.workers:
            if cancel and w.point is not None and w.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.process.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                w.tasks.put(None)
        deadline = time.monotonic() + 30.0
        for w in self.workers:
            w.process.join(max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5.0)
        if cancel:
            self.poll(0.0)  # records the points whose workers did not end their runs
        self.workers = []
        if self.store is not None:
            self.store.close()
            self.store = None


# -- the scheduler ----------------------------------------------------------------------
class Scheduler:
    """Serves a store's queue on a backend while it holds the store's scheduler lock."""

    def __init__(self, db_path, backend_factory):
        self.db_path = str(db_path)
        self.store = Store(db_path)
        self.backend_factory = backend_factory
        self.backend: Backend | None = None
        self.holding = False
        self._last_beat = 0.0

    def try_acquire(self) -> bool:
        """Become the store's scheduler if no live one is; True when this one is."""
        if self.holding:
            return True
        if not sweep_store.acquire_lock(self.store.conn):
            return False
        self.holding = True
        self._last_beat = time.monotonic()
        # Whatever a dead scheduler left running is not running any more.
        self.store.reap_stale()
        sweep_store.interrupt_running(self.store.conn)
        self.backend = self.backend_factory()
        self.backend.start()
        return True

    def step(self, timeout: float = POLL_SECONDS) -> list[Event]:
        """Give idle slots the next queued points, then collect events for up to `timeout`."""
        if not self.holding:
            raise SchedulerError("this scheduler does not hold the store's lock")
        if time.monotonic() - self._last_beat >= HEARTBEAT_SECONDS:
            sweep_store.beat_lock(self.store.conn)
            self._last_beat = time.monotonic()
        while self.backend.idle_slots():
            point = sweep_store.claim_next(self.store.conn)
            if point is None:
                break
            self.backend.submit(point)
        return self.backend.poll(timeout)

    def idle(self) -> bool:
        return not self.backend.busy() and sweep_store.queued_count(self.store.conn) == 0

    def serve(self, on_event=None, linger: float = 0.0) -> None:
        """Serve until the queue is empty and nothing runs, then give the lock back; with
        `linger`, once that has lasted `linger` seconds: meanwhile the idle workers (torch
        imported) take at once any point queued."""
        if not self.try_acquire():
            info = sweep_store.scheduler(self.store.conn) or {}
            raise SchedulerError(
                f"a scheduler (pid {info.get('pid')} on {info.get('host')}) already serves "
                f"{self.store.path}"
            )
        idle_since = None
        while True:
            for event in self.step():
                if on_event:
                    on_event(event)
            if self.backend.busy() or sweep_store.queued_count(self.store.conn):
                idle_since = None
                continue
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= linger and sweep_store.release_lock_if_idle(
                self.store.conn
            ):
                self.holding = False
                return

    def close(self, cancel: bool = False) -> None:
        if self.backend is not None:
            self.backend.close(cancel=cancel)
            self.backend = None
        if self.holding:
            sweep_store.release_lock(self.store.conn)
            self.holding = False
        self.store.close()
