"""Sweep points on a Ray cluster (`tradeoff run SWEEP --backend ray [--address ADDR]`).

Points run on long-lived Ray actors (`PointRunner`), at most one per slot, each asking
for what its points need (`hardware.threads` CPUs, or the backend's default; one GPU for
a CUDA device) and running one point at a time, as a pool worker does: torch and the
catalogue are imported once per actor, not per point, and a point is a direct call on an
actor that is already there, made while the actor still runs the point before (AHEAD), so
that the call's trip is not between the two. The call runs `runner.execute` on a `runner.Outbox`: exactly
the local run, with each store write turned into a message that it yields as it goes (a
Ray streaming generator), so records reach the driver while the point runs. The driver,
this process, is the store's only writer: it creates the run's row when the point
begins, applies every message (`runner.apply_message`), beats for the run, and writes
its end. Rows carry the driver's pid and host, so a killed driver leaves its runs judged
ended, its points `interrupted` and the sweep resumable (Ray ends its actors with it).

Only plain data crosses Ray: the point's spec as a dict (the actor validates it again
as a RunSpec) and the messages (tuples, lists, numpy arrays). An actor that dies during a
point ends that run `failed` with Ray's reason, and a fresh actor takes its slot; a
cancelled point (`tradeoff cancel`, Ctrl-C) has its actor killed and its run ends
`cancelled` (a cancelled point still waiting behind another: once that one has ended). Actors are never restarted and points never retried once they began (a retry
would write a run's records twice); a point whose actor had died before it began (killed
while idle, its node gone) is given once to a fresh actor. The driver lets its actors go
when it closes.

Ray is imported here only, and only when this backend is asked for; a local instance
binds to 127.0.0.1 with no dashboard.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
import traceback

from engine import sweep_store
from engine.scheduler import CANCEL_POLL_SECONDS, Backend, Event, SchedulerError
from engine.store import HEARTBEAT_SECONDS, RunLost, Store

_NOTHING = object()
GPUS_SECONDS = 5.0  # how long the cluster's GPU count is taken as known (points on "auto")
MESSAGES_AHEAD = 8  # yields (each at most one batch) a point may be ahead of the driver
AHEAD = 1  # points called on a runner behind the one it runs (the next begins at once)
CONNECT_SECONDS = 5.0


class RayUnavailable(SchedulerError):
    pass


def ray_module():
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "--backend ray needs Ray: pip install 'tradeoff-studio[ray]' (ray==2.60.0)"
        ) from None
    return ray


def check_address(address: str) -> None:
    """Refuse an address no Ray head answers at, quickly and before anything is written
    (ray.init would retry for a long time). Only a connection to it is tried."""
    where = address.split("://", 1)[-1]
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--address {address!r}: expected HOST:PORT of a Ray head")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as err:
        raise RayUnavailable(f"cannot reach a Ray cluster at {address}: {err}") from None


def connect(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray instance (loopback only, no dashboard, `num_cpus` CPUs) or connect
    to the cluster at `address`. Returns whether this call did (False: Ray was already
    initialised in this process, and is left as it is)."""
    ray = ray_module()
    _keep_stdout_clean(ray)
    if ray.is_initialized():
        return False
    if address:
        check_address(address)
        try:
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
            )
        except Exception as err:  # noqa: BLE001 - Ray's own reason, in one line
            raise RayUnavailable(f"cannot connect to the Ray cluster at {address}: {err}") from None
        return True
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    return True


def _keep_stdout_clean(ray) -> None:
    """Ray prints the cluster's error messages (a worker died, ...) on the driver's standard
    output, where `--json` writes its lines: they go to standard error instead."""
    worker = getattr(getattr(ray, "_private", None), "worker", None)
    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "to_stderr", False):
        return

    def to_stderr(data, ignore_prefix):
        return printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.to_stderr = True
    worker.print_to_stdstream = to_stderr


# -- the point runner (a Ray actor) -------------------------------------------------------
_catalogue = None


def _run_point(spec_dict: dict, source: str, threads: int):
    """Run one point; yield lists of messages: ("node", {...}) first, then the run's Outbox
    messages (`_bundles`)."""
    import ray
    import torch

    from engine import registry, runner
    from engine.hardware import HardwareError
    from engine.spec import RunSpec, SpecError

    global _catalogue
    if _catalogue is None:
        _catalogue = registry.Catalogue.live()
    node = (
        "node",
        {
            "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        },
    )
    try:
        spec = RunSpec.from_dict(spec_dict, _catalogue, source)
        torch.set_num_threads(spec.threads or threads)
        device = runner.prepare(spec)
    except (SpecError, HardwareError, ValueError) as err:
        yield [node, ("refused", str(err))]
        return
    messages: queue.Queue = queue.Queue(maxsize=2)

    def work():
        try:
            runner.execute(spec, runner.Outbox(messages.put), device)
        except BaseException:  # noqa: BLE001 - outside the run's own handling: reported
            messages.put(("crashed", traceback.format_exc()))
        messages.put(None)

    threading.Thread(target=work, daemon=True, name="point").start()
    first = True
    for bundle in _bundles(messages):
        yield [node, *bundle] if first else bundle
        first = False


def _bundles(messages: queue.Queue):
    """The messages of `messages` (until None) as lists: each list is what is waiting when
    it is taken, at most one batch, so that messages written one after another (the run's
    row, its start and objectives; its last batch and its end) reach the driver in one
    trip rather than one each, while a yield still holds at most one batch's values."""
    held = messages.get()  # the next message, in no list yet
    while held is not None:
        bundle, batches, held = [held], held[0] == "batch", _NOTHING
        while True:
            try:
                message = messages.get_nowait()
            except queue.Empty:
                break
            if message is None or (batches and message[0] == "batch"):
                held = message
                break
            batches = batches or message[0] == "batch"
            bundle.append(message)
        yield bundle
        if held is _NOTHING:
            held = messages.get()


class PointRunner:
    """A Ray actor that runs points one after another, as a pool worker does: torch and the
    catalogue are imported once, when it starts, not for each point. The driver keeps one
    per slot and kills it to stop its point (a cancel, a lost run)."""

    def __init__(self):
        import torch  # noqa: F401 - imported here, once, rather than by the first point

        global _catalogue
        from engine import registry

        if _catalogue is None:
            _catalogue = registry.Catalogue.live()

    def run(self, spec_dict: dict, source: str, threads: int):
        yield from _run_point(spec_dict, source, threads)


# -- the driver's side ------------------------------------------------------------------
class _Runner:
    """The driver's handle on one `PointRunner` actor, and what it asked Ray for."""

    def __init__(self, handle, shape: tuple[int, int]):
        self.handle, self.shape = handle, shape  # shape: (CPUs, GPUs)
        self.task: _Task | None = None  # the point it runs now
        self.queued: _Task | None = None  # the point called behind it (AHEAD)
        self.points = 0  # points it has ended: a runner that did has started well


class _Task:
    def __init__(self, point: dict, spec, gen, runner: _Runner | None = None):
        self.point, self.spec, self.gen, self.runner = point, spec, gen, runner
        self.run_id: int | None = None
        self.node: dict = {}
        self.steps_done = 0
        self.ended = False
        self.retried = False
        self.behind = False  # called on a runner behind another point
        self.cancelling: str | None = None  # the status it ends with once its call is stopped


class RayBackend(Backend):
    """Runs points on long-lived Ray actors (`PointRunner`, at most one per slot, each running
    one point at a time); this process writes the store.

    address: a Ray head's HOST:PORT, or None for a local instance of `num_cpus` CPUs.
    threads: the CPUs (torch threads) of a point whose spec sets no `hardware.threads`.
    slots: points in flight at once (default: the cluster's CPUs // threads)."""

    def __init__(
        self,
        db_path,
        address: str | None = None,
        num_cpus: int | None = None,
        threads: int = 1,
        slots: int | None = None,
    ):
        self.db_path = str(db_path)
        self.address, self.num_cpus, self.threads = address, num_cpus, max(1, threads)
        self.slots = slots
        self.owns_ray = False
        self.started = False
        self.tasks: list[_Task] = []  # running, called behind another, or waiting
        self.runners: list[_Runner] = []
        self.waiting: list[_Task] = []  # tasks no runner of their shape has room for yet
        self.closing = False
        self.pending: list[Event] = []
        self.store: Store | None = None
        self.catalogue = None
        self._actor = None
        self._gpus: tuple[float, float] | None = None  # (when asked, GPUs)
        self._last_beat = 0.0
        self._last_cancel_check = 0.0
        self.values_written = 0  # per-seed values and aggregate fields written (bench/)
        self.write_seconds = 0.0  # spent writing them

    # -- Backend ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect to Ray (or start a local instance); again: nothing more to do. Opens no
        store: a sweep refused after this writes nothing."""
        if self.started:
            return
        self.owns_ray = connect(self.address, self.num_cpus)
        ray = ray_module()
        self.started = True
        self._actor = ray.remote(PointRunner)
        if self.slots is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self.slots = max(1, cpus // self.threads)

    def gpus(self) -> float:
        """The cluster's GPUs. Asked of Ray (a request to its head) at most every few
        seconds: every point on `device = "auto"` needs it, on the way to its actor."""
        now = time.monotonic()
        if self._gpus is None or now - self._gpus[0] >= GPUS_SECONDS:
            self._gpus = (now, ray_module().cluster_resources().get("GPU", 0.0))
        return self._gpus[1]

    def _store(self) -> Store:
        if self.store is None:
            self.store = Store(self.db_path)
        return self.store

    def idle_slots(self) -> int:
        """Points this backend takes now: one per slot, and AHEAD more per slot, called on
        a busy runner so that the actor begins the next point as soon as it ends one (the
        call's trip and the point's setup are then not between the two)."""
        return max(0, self.slots * (1 + AHEAD) - len(self.tasks))

    def busy(self) -> int:
        return len(self.tasks)

    def submit(self, point: dict) -> None:
        from engine import registry
        from engine.spec import RunSpec, SpecError

        if self.catalogue is None:
            self.catalogue = registry.Catalogue.live()
        source = f"sweep {point['sweep_id']} point {point['idx']}"
        try:
            spec = RunSpec.from_dict(point["spec"], self.catalogue, source)
        except (SpecError, ValueError) as err:
            self._end_point(point, None, "failed", str(err))
            return
        task = _Task(point, spec, None)
        self._call(task)
        self.tasks.append(task)

    def _call(self, task: _Task) -> None:
        """Give `task` to an idle runner of its shape (a new one if a slot is free), else
        call it behind the point of a busy runner of its shape; else it waits here (its
        shape has no runner with room) until a runner ends a point (`_place_waiting`)."""
        spec = task.spec
        cuda = spec.device.startswith("cuda") or (spec.device == "auto" and self.gpus() > 0)
        shape = (spec.threads or self.threads, 1 if cuda else 0)
        runner = self._runner(shape)
        task.behind = False
        if runner is not None:
            runner.task = task
        else:
            runner = next((r for r in self.runners if r.shape == shape and r.queued is None), None)
            if runner is None:
                task.runner, task.gen = None, None
                self.waiting.append(task)
                return
            runner.queued, task.behind = task, True
        task.runner = runner
        source = f"sweep {task.point['sweep_id']} point {task.point['idx']}"
        task.gen = runner.handle.run.options(
            num_returns="streaming", _generator_backpressure_num_objects=MESSAGES_AHEAD
        ).remote(task.point["spec"], source, self.threads)

    def _runner(self, shape: tuple[int, int]) -> _Runner | None:
        """An idle runner of `shape`, a new one, or None where every slot's runner is busy."""
        idle = [r for r in self.runners if r.task is None and r.queued is None]
        for runner in idle:
            if runner.shape == shape:
                return runner
        if len(self.runners) >= self.slots:
            if not idle:
                return None
            # a slot's runner of another shape goes, so that Ray has its CPUs (GPU) again
            self._drop(idle[0])
        # Never restarted nor retried: a retry would write a run's records twice.
        handle = self._actor.options(
            num_cpus=shape[0], num_gpus=shape[1], max_restarts=0, max_task_retries=0
        ).remote()
        self.runners.append(_Runner(handle, shape))
        return self.runners[-1]

    def _drop(self, runner: _Runner) -> None:
        """Kill a runner's actor (and the point it runs, if any) and forget it. A point
        called behind that one had not begun: its call fails, and it is called once more
        on a fresh runner (`_call_again`)."""
        with contextlib.suppress(Exception):
            ray_module().kill(runner.handle, no_restart=True)
        if runner in self.runners:
            self.runners.remove(runner)
        runner.task = None

    def poll(self, timeout: float) -> list[Event]:
        ray = ray_module()
        deadline = time.monotonic() + timeout
        while True:
            live = [t for t in self.tasks if not t.ended and t.gen is not None]
            if live:
                left = max(0.0, deadline - time.monotonic())
                ready, _ = ray.wait(
                    [t.gen for t in live], num_returns=1, timeout=left, fetch_local=False
                )
                ready_ids = {id(g) for g in ready}
                for task in live:
                    if id(task.gen) in ready_ids:
                        self._drain(task)
            elif deadline > time.monotonic():
                time.sleep(max(0.0, min(deadline - time.monotonic(), 0.05)))
            self.tasks = [t for t in self.tasks if not t.ended]
            self._housekeeping()
            if self.pending or time.monotonic() >= deadline:
                break
        events, self.pending = self.pending, []
        return events

    def close(self, cancel: bool = False) -> None:
        self.closing = True
        for task in self.tasks:
            self._stop(task, "cancelled" if cancel else "interrupted", None, at_once=True)
        self.tasks = []
        for runner in list(self.runners):  # idle ones: their CPUs go back to the cluster
            self._drop(runner)
        if self.store is not None:
            self.store.close()
            self.store = None
        if self.owns_ray and self.started:
            ray_module().shutdown()
        self.started = self.owns_ray = self.closing = False

    def discard(self) -> None:
        """A backend that was never given a point (its sweep was refused)."""
        self.close()

    # -- the messages of one task ------------------------------------------------------
    def _drain(self, task: _Task) -> None:
        ray = ray_module()
        while not task.ended:
            ready, _ = ray.wait([task.gen], num_returns=1, timeout=0, fetch_local=False)
            if not ready:
                return
            try:
                ref = next(task.gen)
            except StopIteration:
                if task.cancelling:
                    self._end(task, task.cancelling, None)
                    return
                self._end(task, "failed", "the point's Ray task ended without a final status")
                return
            try:
                bundle = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                self._end(task, task.cancelling or "cancelled", None)
                return
            except ray.exceptions.RayError as err:
                if task.cancelling:
                    self._end(task, task.cancelling, None)
                    return
                if self._call_again(task, err):
                    return
                self._worker_lost(task, err)
                return
            if task.cancelling:
                continue  # its call began all the same: nothing of it is written
            try:
                for message in bundle:
                    if task.ended:  # a message ended it (the rest is nothing of it)
                        break
                    self._apply(task, message)
            except RunLost as lost:
                self._stop(task, "interrupted", str(lost), write_run=False)
                return

    def _apply(self, task: _Task, message) -> None:
        from engine import runner

        store = self._store()
        kind = message[0]
        if kind == "node":
            task.node = dict(message[1])
        elif kind == "refused":
            self._end(task, "failed", message[1])
        elif kind == "create":
            point = task.point
            task.run_id = store.create_run(task.spec, family=message[1], plot=message[2])
            sweep_store.set_point_run(store.conn, point["sweep_id"], point["idx"], task.run_id)
            self.pending.append(Event("started", point["sweep_id"], point["idx"], task.run_id))
        elif kind == "start":
            hardware = {**message[1], "ray": task.node}
            runner.apply_message(store, task.run_id, ("start", hardware))
        elif kind == "crashed":
            self._end(task, "failed", message[1])
        elif kind == "end":
            runner.apply_message(store, task.run_id, message)
            task.run_id, run_id = None, task.run_id  # written: nothing more for the run
            self._finish(task, run_id, message[1], message[2])
        else:
            t0 = time.perf_counter()
            self.values_written += runner.apply_message(store, task.run_id, message)
            self.write_seconds += time.perf_counter() - t0
            if kind == "batch" and message[1]["steps_done"] is not None:
                task.steps_done = message[1]["steps_done"]

    def _call_again(self, task: _Task, err) -> bool:
        """A runner that had ended points before died before this point began (its node
        went, it was killed while idle): nothing of the point was sent, so it is given
        once to a fresh runner rather than failed. True when it was."""
        runner = task.runner
        if task.node or task.retried or runner is None or not (runner.points or task.behind):
            return False
        if not isinstance(err, ray_module().exceptions.ActorDiedError):
            return False
        self._drop(runner)
        task.retried = True
        self._call(task)
        return True

    def _worker_lost(self, task: _Task, err) -> None:
        if task.runner is not None:  # dead, or in a state not to be trusted with a point
            self._drop(task.runner)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        where = f" on node {task.node.get('node_id', '?')[:12]} ({task.node.get('host', '?')})"
        reason = (
            f"the Ray worker{where if task.node else ''} running this point died "
            f"({type(err).__name__}: {first}); the sweep went on without it"
        )
        self._end(task, "failed", reason)

    def _end(self, task: _Task, status: str, error: str | None) -> None:
        """End a task's point (and its run, if it has one) with `status`, written here."""
        store = self._store()
        run_id = task.run_id
        if run_id is not None:
            if status == "failed":
                store.fail_run_of_dead_engine(run_id, error or "failed")
            else:
                with contextlib.suppress(RunLost):
                    store.finish_run(run_id, status, error)
        self._finish(task, run_id, status, error)

    def _finish(self, task: _Task, run_id, status: str, error) -> None:
        point = task.point
        task.ended = True
        runner, promoted = task.runner, None
        if runner is not None and runner.task is task:
            # the point called behind it (if any) is what the actor runs now
            runner.task, runner.queued = runner.queued, None
            runner.points += 1
            promoted = runner.task
        elif runner is not None and runner.queued is task:
            runner.queued = None
        if task in self.waiting:
            self.waiting.remove(task)
        if error and run_id is not None:
            error = (error.strip().splitlines() or [None])[-1]
        sweep_store.finish_point(self._store().conn, point["sweep_id"], point["idx"], status)
        self.pending.append(Event("ended", point["sweep_id"], point["idx"], run_id, status, error))
        if promoted is not None and promoted.cancelling:
            self._stop(promoted, promoted.cancelling, None)  # marked while it waited
        if self.waiting and runner is not None and not self.closing:
            self._place_waiting()

    def _place_waiting(self) -> None:
        """Call the waiting tasks that a runner has room for now, in their order."""
        waiting, self.waiting = self.waiting, []
        for task in waiting:
            self._call(task)

    def _end_point(self, point: dict, run_id, status: str, error) -> None:
        task = _Task(point, None, None)
        self._finish(task, run_id, status, error)

    def _stop(
        self, task: _Task, status: str, error, write_run: bool = True, at_once: bool = False
    ) -> None:
        """Stop a task (its runner is killed) and end its point with `status`. A task
        called behind another runner's point is only marked: the point before it goes on,
        and once that one has ended (`_finish`) the runner, which begins the marked one
        then, is killed and the marked one ends with `status`; nothing of it is written.
        (`ray.cancel` of the waiting call would spare the runner, but reading a cancelled
        streaming call with backpressure blocks in Ray 2.60.) A waiting task just ends.
        `at_once`: the runner is killed now whatever it runs (the driver is closing)."""
        if task.ended:
            return
        runner = task.runner
        if not at_once and runner is not None and runner.queued is task and runner.task:
            task.cancelling = status
            return
        if runner is not None:
            self._drop(runner)
        if not write_run:
            task.run_id = None
        self._end(task, status, error)

    # -- heartbeats and cancels ---------------------------------------------------------
    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            for task in self.tasks:
                if task.run_id is not None:
                    try:
                        self._store().heartbeat(task.run_id, task.steps_done)
                    except RunLost as lost:
                        self._stop(task, "interrupted", str(lost), write_run=False)
        if now - self._last_cancel_check >= CANCEL_POLL_SECONDS:
            self._last_cancel_check = now
            conn = self._store().conn
            for task in self.tasks:
                p = task.point
                if sweep_store.point_status(conn, p["sweep_id"], p["idx"]) == "cancelled":
                    self._stop(task, "cancelled", None)
        self.tasks = [t for t in self.tasks if not t.ended]
