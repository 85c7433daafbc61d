"""Run one spec in this process and record what it emits into the store.

The algorithm owns its loop (all seeds at once) and hands records to a `Recorder`,
which buffers them and writes batched transactions a few times a second; a heartbeat
thread marks the run alive. SIGTERM (the studio's Stop) cancels cleanly at the next
`progress` call; an exception marks the run failed with its traceback.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback

import numpy as np

from engine import hardware, registry
from engine.params import ParamError
from engine.spec import RunSpec, SpecError
from engine.blocks import Block
from engine.store import HEARTBEAT_SECONDS, BOUND_SEED, Store

FLUSH_SECONDS = 0.2
FLUSH_ROWS = 50_000
LOG_POINTS = 60
AUTO_STRIDE_POINTS = 500


class RunCancelled(Exception):
    pass


def record_steps(steps: int, record_every: int = 0) -> np.ndarray:
    """Steps at which series are recorded: log-spaced points, every `record_every`, and the last.

    The log-spaced points make a long run plot well on log axes; the stride (automatic:
    about AUTO_STRIDE_POINTS points) makes it plot well on linear axes.
    """
    stride = record_every or max(1, steps // AUTO_STRIDE_POINTS)
    log_spaced = np.unique(np.round(np.geomspace(1, steps, num=min(LOG_POINTS, steps))).astype(np.int64))
    strided = np.arange(stride, steps + 1, stride, dtype=np.int64)
    return np.union1d(np.union1d(log_spaced, strided), [steps])


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").double().numpy()
    return np.atleast_1d(np.asarray(value, dtype=float))


class Recorder:
    """What an algorithm talks to while it runs."""

    def __init__(self, store: Store, run_id: int, steps: int, record_every: int = 0, on_progress=None):
        self.store = store
        self.run_id = run_id
        self.steps = steps
        self.checkpoints = record_steps(steps, record_every)
        self._checkpoint_set = set(self.checkpoints.tolist())
        # metric and width -> (steps, value rows, wall times) waiting for the next flush
        self._series: dict[tuple[str, int], tuple[list, list, list]] = {}
        self._bounds: list[Block] = []
        self._buffered = 0
        self._pareto: list[tuple] = []
        self._last_flush = time.monotonic()
        self._t0 = time.monotonic()
        self._on_progress = on_progress
        self._last_report = 0.0
        self.step_done = 0
        self.cancel_requested = threading.Event()

    def should_record(self, step: int) -> bool:
        return step in self._checkpoint_set

    def metrics(self, step: int, values: dict) -> None:
        """Record metric values at a step: each value a tensor/array over seeds, or a scalar."""
        wall = time.monotonic() - self._t0
        for name, value in values.items():
            row = _numpy(value).copy()  # the algorithm may update its tensor in place
            steps, rows, walls = self._series.setdefault((name, len(row)), ([], [], []))
            steps.append(int(step))
            rows.append(row)
            walls.append(wall)
            self._buffered += len(row)

    def bound(self, name: str, steps, values) -> None:
        """Record a curve that belongs to no seed, e.g. a theoretical regret bound."""
        steps = np.atleast_1d(np.asarray(steps, dtype=np.int64))
        values = _numpy(values)
        values = np.where(np.isfinite(values), values, np.nan).reshape(-1, 1)
        self._bounds.append(Block(name, BOUND_SEED, steps, values, np.zeros(len(steps))))
        self._buffered += len(steps)

    def objectives(self, names, directions, reference_point) -> None:
        """Declare the objectives of the Pareto points this run records."""
        self.store.set_objectives(self.run_id, names, directions, reference_point)

    def pareto(self, step: int, points, seeds, labels) -> None:
        """Record objective vectors: points [n, d], the seed of each, a label dict for each."""
        pts = np.asarray(_numpy(points)).reshape(len(labels), -1)
        seed_list = np.broadcast_to(np.asarray(seeds), (len(labels),)).tolist()
        for i, (row, seed, label) in enumerate(zip(pts.tolist(), seed_list, labels)):
            self._pareto.append((int(step), int(seed), i, row, label))

    def progress(self, step: int) -> None:
        """Called by the algorithm as it goes; flushes, reports, and honours Stop."""
        self.step_done = step
        now = time.monotonic()
        if self.cancel_requested.is_set():
            raise RunCancelled()
        if now - self._last_flush >= FLUSH_SECONDS or self._buffered + len(self._pareto) >= FLUSH_ROWS:
            self.flush()
        if self._on_progress and (now - self._last_report >= 0.1 or step == self.steps):
            self._last_report = now
            self._on_progress(step, self.steps, now - self._t0)

    def flush(self) -> None:
        blocks = [Block(name, 0, np.asarray(steps, dtype=np.int64), np.stack(rows), np.asarray(walls))
                  for (name, _), (steps, rows, walls) in self._series.items()]
        blocks += self._bounds
        pareto = self._pareto
        self._series, self._bounds, self._pareto, self._buffered = {}, [], [], 0
        self.store.append(self.run_id, pareto_rows=pareto, steps_done=self.step_done, blocks=blocks)
        self._last_flush = time.monotonic()


class _Heartbeat(threading.Thread):
    def __init__(self, path, run_id: int, recorder: Recorder):
        super().__init__(daemon=True, name="heartbeat")
        self.path, self.run_id, self.recorder = path, run_id, recorder
        self.stop = threading.Event()

    def run(self):
        store = Store(self.path)
        try:
            while not self.stop.wait(HEARTBEAT_SECONDS):
                store.heartbeat(self.run_id, self.recorder.step_done)
        finally:
            store.close()


def prepare(spec: RunSpec) -> str:
    """Checks that need the engine but write nothing; returns the device to run on.

    The device must exist. Then the problem and the algorithm are built once for a
    single seed on the CPU: a rule that ties several keys together (a matrix whose
    size must match another parameter, a lower bound below an upper one) is checked
    where the class builds itself, and its ParamError becomes a SpecError here, before
    any run row is written. Other exceptions are left for the real run to record.
    """
    import torch

    device = hardware.resolve(spec.device)
    try:
        dtype = getattr(torch, spec.dtype)
        cpu = torch.device("cpu")
        problem = registry.problem(spec.problem)(spec.problem_params, 1, cpu, dtype, spec.seed)
        registry.algorithm(spec.algorithm)(spec.algorithm_params, problem, 1, cpu, dtype, spec.seed)
    except ParamError as err:
        raise SpecError(spec.source, err.name, err.reason) from None
    except Exception:  # noqa: BLE001 - a fault of the run, recorded as such when it runs
        pass
    return device


def execute(spec: RunSpec, store: Store, device: str, on_progress=None, on_start=None) -> tuple[int, str]:
    """Run a validated spec; return (run_id, final status)."""
    import torch

    alg_cls = registry.algorithm(spec.algorithm)
    prob_cls = registry.problem(spec.problem)
    run_id = store.create_run(spec, family=alg_cls.family, plot=alg_cls.plot)
    if on_start:
        on_start(run_id)
    recorder = Recorder(store, run_id, spec.steps, spec.record_every, on_progress)
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: recorder.cancel_requested.set())
    beat = None
    status, error = "finished", None
    try:
        if spec.threads:
            torch.set_num_threads(spec.threads)
        dtype = getattr(torch, spec.dtype)
        # Algorithms that sample through torch's global generator stay reproducible.
        torch.manual_seed(spec.seed)
        store.start_run(run_id, hardware.used(device, spec.threads, spec.dtype))
        beat = _Heartbeat(store.path, run_id, recorder)
        beat.start()
        problem = prob_cls(spec.problem_params, spec.seeds, torch.device(device), dtype, spec.seed)
        algorithm = alg_cls(spec.algorithm_params, problem, spec.seeds, torch.device(device), dtype, spec.seed)
        algorithm.run(spec.steps, recorder)
        recorder.step_done = max(recorder.step_done, spec.steps)
    except (RunCancelled, KeyboardInterrupt):
        status = "cancelled"
    except Exception:
        status, error = "failed", traceback.format_exc()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if beat is not None:
            beat.stop.set()
            beat.join()
        recorder.flush()
        store.finish_run(run_id, status, error)
    return run_id, status
