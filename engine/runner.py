"""Run one spec in this process and record what it emits into the store.

The algorithm owns its loop (all seeds at once) and hands records to a `Recorder`,
which buffers them and writes batched transactions a few times a second, from a writer
thread of its own, so that the loop goes on while SQLite writes; values on a CUDA device
come to the host by copies that do not stop the device (`HostCopies`). A heartbeat
thread marks the run alive. SIGTERM (the studio's Stop) cancels cleanly at the next
`progress` call; an exception marks the run failed with its traceback.

Every write checks that the run is still this process's live run (`Store._check_owned`).
If it was deleted or marked ended meanwhile (the engine was paused, say, and taken for
dead by time alone), the write raises `RunLost`: the engine stops at once, writes nothing
more, and `execute` raises RunLost to its caller.
"""

from __future__ import annotations

import collections
import itertools
import math
import queue
import signal
import sys
import threading
import time
import traceback

import numpy as np

from engine import hardware, registry
from engine.blocks import Block
from engine.metrics.aggregate import (
    AGGREGATE_FIELDS,
    QUANTILES,
    SORT_UP_TO,
    seed_aggregate_rows,
)
from engine.params import ParamError
from engine.spec import RunSpec, SpecError
from engine.store import BOUND_SEED, HEARTBEAT_SECONDS, RunLost, Store, _real

FLUSH_SECONDS = 0.2
FLUSH_ROWS = 50_000
MAX_COPIES_IN_FLIGHT = 8  # checkpoints whose device-to-host copies may be under way at once
WRITES_QUEUED = 2  # batches waiting for the writer thread before the loop waits for it
BATCH_VALUES = 1 << 16  # per-seed values held on the host before their checkpoints are aggregated
SPARE_TABLES = 4  # emptied tables of checkpoints kept for reuse
HELD_VALUES = 1 << 20  # values of full tables held before the recorder writes them
ROW_VIEWS = 1024  # a table of at most this many checkpoints has a tensor view of each row
DENSE_STEPS = 10  # every step up to this one is recorded
LOG_POINTS_PER_DECADE = 20
AUTO_STRIDE_POINTS = 500


class RunCancelled(Exception):
    pass


def record_steps(steps: int, record_every: int = 0) -> np.ndarray:
    """Steps at which series are recorded: every step up to DENSE_STEPS, LOG_POINTS_PER_DECADE
    log-spaced points in every decade after that, every `record_every`, and the last.

    The dense start and the log-spaced points make a run of any length plot well on log
    axes, with points in every decade from the first step; the stride (automatic: about
    AUTO_STRIDE_POINTS points) makes it plot well on linear axes. Without an explicit
    stride the count stays below DENSE_STEPS + LOG_POINTS_PER_DECADE * decades + 1 +
    AUTO_STRIDE_POINTS + 1 (about 630 at 10^6 steps).
    """
    stride = record_every or max(1, steps // AUTO_STRIDE_POINTS)
    dense = np.arange(1, min(DENSE_STEPS, steps) + 1, dtype=np.int64)
    decades = math.log10(steps) if steps > 1 else 0.0
    count = max(1, math.ceil(LOG_POINTS_PER_DECADE * decades) + 1)
    log_spaced = np.unique(np.round(np.geomspace(1, steps, num=count)).astype(np.int64))
    strided = np.arange(stride, steps + 1, stride, dtype=np.int64)
    return np.union1d(np.union1d(np.union1d(dense, log_spaced), strided), [steps])


def _numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().to("cpu").double().numpy()
    return np.atleast_1d(np.asarray(value, dtype=float))


def _on_cuda(value) -> bool:
    return getattr(value, "is_cuda", False)


def device_aggregates(values):
    """`seed_aggregates` of a tensor, computed where the tensor lives, as a float64 tensor of
    AGGREGATE_FIELDS (n first), without a host synchronisation.

    Quantiles by sorting (NaN sorts last) and interpolating between the order statistics
    at q (n - 1) — numpy's "linear" method — with the indices computed on the device from
    the count of non-NaN values; torch.quantile is not used because it checks its
    probabilities on the host and refuses inputs of more than 2^24 values.
    """
    import torch

    x = values.detach().reshape(-1).to(torch.float64)
    if x.numel() == 0:  # the shape is known on the host
        return torch.cat(
            [
                torch.zeros(1, dtype=torch.float64, device=x.device),
                torch.full(
                    (len(AGGREGATE_FIELDS) - 1,), torch.nan, dtype=torch.float64, device=x.device
                ),
            ]
        )
    present = ~torch.isnan(x)
    n = present.sum().to(torch.float64)
    mean = torch.where(present, x, 0.0).sum() / n
    deviation = torch.where(present, x - mean, 0.0)
    var = torch.where(n > 1, (deviation * deviation).sum() / (n - 1), torch.nan)
    ordered = torch.sort(x).values
    last = (n - 1).clamp(min=0)
    # Python floats times device scalars, and index_select with 1-D index tensors: a tensor
    # made from a list, or indexing by a 0-d tensor, would wait for the device.
    positions = torch.stack([last * q for q in QUANTILES])
    below = positions.floor()
    above = torch.minimum(below + 1, last)
    lo, hi = ordered.index_select(0, below.long()), ordered.index_select(0, above.long())
    t = positions - below
    diff = hi - lo
    quantiles = torch.where(lo == hi, lo, torch.where(t >= 0.5, hi - diff * (1 - t), lo + diff * t))
    ends = ordered.index_select(0, torch.stack([last * 0, last]).long())
    out = torch.cat([torch.stack([n, mean, var]), ends, quantiles])
    return torch.where(
        (n > 0) | (torch.arange(len(AGGREGATE_FIELDS), device=x.device) == 0), out, torch.nan
    )


def _host_values(value) -> np.ndarray:
    """A value on the host (a CPU tensor, an array, a number) as a 1-D array over seeds:
    float32 and float64 tensors and arrays are read in place, not copied (the order
    statistics of float32 values are those of their float64 conversions); other dtypes are
    converted to float64. (Called per metric and checkpoint: the checks are the cheap ones.)"""
    if not isinstance(value, np.ndarray):
        if hasattr(value, "detach"):
            value = value.detach()
            if not value.is_floating_point() or value.element_size() == 2:
                value = value.double()
            value = value.numpy()
        else:
            value = np.asarray(value)
    if value.dtype.char not in "fd":
        value = value.astype(np.float64)
    return value.reshape(-1)


def _host_aggregates(value) -> np.ndarray:
    """`seed_aggregates` of a value on the host (a CPU tensor, an array, a number), as an
    array of AGGREGATE_FIELDS."""
    return seed_aggregate_rows(_host_values(value)[None])[0]


class _Checkpoints:
    """Copies of one metric's values at successive checkpoints (one width, one dtype), held
    until the table is full (BATCH_VALUES values) and aggregated, with the other tables of
    its width and dtype, by one `seed_aggregate_rows` call (`_empty_tables`): at a few
    thousand seeds numpy's overhead per call, not the arithmetic, is most of what an
    aggregate costs, and a table of checkpoints pays it once. The kept seeds' values are
    taken from the same table, as one block."""

    def __init__(self, width: int, dtype):
        self.values = np.empty((max(1, BATCH_VALUES // max(width, 1)), width), dtype)
        self.keys: list[tuple[int, float]] = []  # (step, wall time) of each row held
        self._rows = None  # tensor views of the rows, made when a tensor is first added

    def add(self, key, values) -> bool:
        """Copy a checkpoint's values in (the algorithm may update its tensors in place):
        an array, or a 1-D CPU tensor of the table's width and dtype, which torch copies
        into a view of the row (one call; ROW_VIEWS bounds the views a table keeps). True
        once the table is full."""
        row = len(self.keys)
        if isinstance(values, np.ndarray):
            self.values[row] = values
        else:
            rows = self._rows
            if rows is None:
                rows = self._rows = self._row_views()
            if rows:
                rows[row].copy_(values)
            else:
                self.values[row] = values.numpy()
        self.keys.append(key)
        return row + 1 == len(self.values)

    def _row_views(self) -> tuple:
        if len(self.values) > ROW_VIEWS:
            return ()
        import torch

        # Normal tensors even when made in inference mode (the loop may run in it): an
        # inference tensor would refuse the copies made outside it.
        with torch.inference_mode(False):
            return torch.from_numpy(self.values).unbind(0)


def _empty_tables(keep: int | None, tables) -> list[tuple]:
    """(metric, keys, aggregates, kept values) of each of `tables`, [(metric, _Checkpoints)],
    in their order: the aggregates as columns (lists) of AGGREGATE_FIELDS, the values of
    seeds 0..keep-1 (every seed for None) as a float64 array of checkpoints x seeds. The
    tables are empty afterwards.

    Tables of one width and dtype (up to SORT_UP_TO seeds) are aggregated together, by one
    `seed_aggregate_rows` call on their rows stacked: numpy's calls release the GIL and
    take it back, each time a hand-over between this thread and the loop's, so that their
    number, not only their arithmetic, slows the loop."""
    groups: dict = {}
    for i, (_, table) in enumerate(tables):
        width = table.values.shape[1]
        group = (width, table.values.dtype.char) if 0 < width <= SORT_UP_TO else i
        groups.setdefault(group, []).append(i)
    out: list = [None] * len(tables)
    for members in groups.values():
        parts = [tables[i][1].values[: len(tables[i][1].keys)] for i in members]
        values = parts[0] if len(parts) == 1 else np.concatenate(parts)
        columns = seed_aggregate_rows(values).T.tolist()
        kept = (values if keep is None else values[:, :keep]).astype(np.float64)  # a copy
        start = 0
        for i, part in zip(members, parts):
            name, table = tables[i]
            end = start + len(part)
            out[i] = (name, table.keys, [c[start:end] for c in columns], kept[start:end])
            table.keys = []
            start = end
    return out


def resolve_held(batch: dict) -> dict:
    """A batch as `Store.append` takes it: its `held` checkpoint tables, (keep_seeds,
    [(metric, _Checkpoints)] in the order they were filled, a deque for the emptied tables
    or None), become aggregate rows and blocks of the kept seeds' values (one block per
    metric and width). The writer calls this, in its own thread for a `StoreWriter`, so
    that the loop does not wait for the sorts and the rows."""
    keep, tables, spare = batch.pop("held", (None, (), None))
    if not tables:
        return batch
    aggregates = list(batch.get("aggregate_rows", ()))
    kept: dict[tuple[str, int], list] = {}
    for name, keys, columns, values in _empty_tables(keep, tables):
        # rows of (name, step, n, *fields, wall time), made by zip (in C): no Python per row
        steps, walls = zip(*keys) if keys else ((), ())
        aggregates.extend(
            zip(itertools.repeat(name), steps, map(int, columns[0]), *columns[1:], walls)
        )
        if values.shape[1]:
            kept.setdefault((name, values.shape[1]), []).append((keys, values))
    if spare is not None:  # for the recorder's next tables: their pages are touched already
        spare.extend(table for _, table in tables)
    blocks = list(batch.get("blocks", ()))
    for (name, _), parts in kept.items():
        keys = [key for part_keys, _ in parts for key in part_keys]
        blocks.append(
            Block(
                name,
                0,
                np.fromiter((step for step, _ in keys), dtype=np.int64, count=len(keys)),
                np.concatenate([values for _, values in parts]),
                np.fromiter((wall for _, wall in keys), dtype=np.float64, count=len(keys)),
            )
        )
    return {**batch, "aggregate_rows": aggregates, "blocks": blocks}


class HostCopies:
    """Recorded values brought to the host without stopping the device, in the order given.

    `put(key, values)` takes one checkpoint's values. A CUDA tensor is copied, on the loop's
    stream, into a fresh float64 buffer on the device (so the algorithm's later in-place
    updates do not reach the record), and that buffer is copied into pinned host memory on
    a side stream, which waits for the copy and nothing after it; one event per checkpoint
    marks its copies done. The loop's stream goes on meanwhile: no synchronisation, where
    `tensor.cpu()` would wait for every kernel queued before it and leave the device idle
    while the host refills its queue. Everything else converts at once.

    `ready()` returns, oldest first, the checkpoints whose copies have landed, as
    (key, {name: float64 array}); `ready(wait=True)` waits for all of them. At most
    MAX_COPIES_IN_FLIGHT checkpoints are under way: `put` waits for the oldest beyond that,
    which bounds the pinned memory held.
    """

    def __init__(self):
        self._queue: collections.deque = collections.deque()  # (key, event or None, {name: value})
        self._side: dict = {}  # device -> side stream

    def put(self, key, values: dict) -> None:
        held, copies = {}, []
        for name, value in values.items():
            if _on_cuda(value):
                copies.append((name, value.detach()))
            else:
                held[name] = _numpy(value).copy()  # the algorithm may update its tensor in place
        event = self._copy_to_host(copies, held) if copies else None
        self._queue.append((key, event, held))
        if len(self._queue) > MAX_COPIES_IN_FLIGHT and self._queue[0][1] is not None:
            self._queue[0][1].synchronize()  # the next ready() takes it

    def _copy_to_host(self, copies, held: dict):
        import torch

        device = copies[0][1].device
        main = torch.cuda.current_stream(device)
        side = self._side.get(device)
        if side is None:
            side = self._side[device] = torch.cuda.Stream(device)
        snapshots = [
            (name, torch.empty(value.shape, dtype=torch.float64, device=value.device).copy_(value))
            for name, value in copies
        ]
        side.wait_stream(main)
        with torch.cuda.stream(side):
            for name, snapshot in snapshots:
                host = torch.empty(snapshot.shape, dtype=torch.float64, pin_memory=True)
                host.copy_(snapshot, non_blocking=True)
                snapshot.record_stream(side)  # not reused by the loop before the copy has read it
                held[name] = host
            return side.record_event()

    def ready(self, wait: bool = False) -> list:
        out = []
        while self._queue:
            key, event, held = self._queue[0]
            if event is not None and not event.query():
                if not wait:
                    break
                event.synchronize()
            self._queue.popleft()
            out.append(
                (
                    key,
                    {
                        name: v if isinstance(v, np.ndarray) else np.atleast_1d(v.numpy())
                        for name, v in held.items()
                    },
                )
            )
        return out

    def __len__(self) -> int:
        return len(self._queue)


class StoreWriter(threading.Thread):
    """Appends batches to a run's store from a thread of its own, with its own connection,
    in the order they were queued; the queue holds WRITES_QUEUED batches, so a loop that
    records faster than SQLite writes waits rather than holding ever more in memory.
    The first failure is kept in `error`, later batches are dropped, and `check()` raises
    it in the recording thread (a RunLost as itself, anything else as a RuntimeError)."""

    def __init__(self, path, run_id: int):
        super().__init__(daemon=True, name="store-writer")
        self.path, self.run_id = path, run_id
        self.batches: queue.Queue = queue.Queue(maxsize=WRITES_QUEUED)
        self.error: BaseException | None = None
        self.start()

    def run(self):
        try:
            store = Store(self.path)
        except Exception as err:  # noqa: BLE001 - the store would not open: batches are drained
            store, self.error = None, err
        try:
            while (batch := self.batches.get()) is not None:
                try:
                    if self.error is None:
                        store.append(self.run_id, **resolve_held(batch))
                except Exception as err:  # noqa: BLE001 - handed to the recording thread
                    self.error = err
                finally:
                    self.batches.task_done()
            self.batches.task_done()
        finally:
            if store is not None:
                store.close()

    def check(self) -> None:
        if isinstance(self.error, RunLost):
            raise RunLost(self.error.run_id, str(self.error))
        if self.error is not None:
            raise RuntimeError(f"writing to the store failed: {self.error}") from self.error

    def put(self, **batch) -> None:
        self.check()
        self.batches.put(batch)

    def wait(self) -> None:
        """Return once every queued batch is written."""
        self.batches.join()
        self.check()

    def stop(self) -> None:
        self.batches.put(None)
        self.join()


def batch_writer(store, run_id: int):
    """Where a run's batches go: a `StoreWriter` thread for a store file, or what a store-like
    `Outbox` gives (a run recorded for a driver that writes the store, engine/ray_backend.py).
    Either has put(**batch), wait(), stop() and check()."""
    own = getattr(store, "batch_writer", None)
    return own(run_id) if own is not None else StoreWriter(store.path, run_id)


class Outbox:
    """Stands in for the store of a run recorded in one process and written by another (a
    Ray task's run, written by the sweep's driver, which is its store's only writer).

    `execute(spec, Outbox(send), ...)` runs exactly as it does on a store, and each write
    becomes a message handed to `send`, in order, as plain data (tuples, lists, dicts,
    numpy arrays): ("create", family, plot), ("start", hardware), ("objectives", names,
    directions, reference_point), ("batch", {...}: `store.append`'s arguments with blocks as
    (metric, seed0, steps, values, wall_times) tuples), ("end", status, error). The driver
    applies them to its store with `apply_message`. `send` may block: a loop that records
    faster than the driver writes then waits, as it waits for a `StoreWriter`. No heartbeat
    thread runs here (`path` is None): the driver beats for the run while messages come."""

    path = None

    def __init__(self, send):
        self.send = send

    def create_run(self, spec, family: str, plot: str) -> int:
        self.send(("create", family, plot))
        return 0  # the driver's store gives the run its id

    def start_run(self, run_id: int, hardware: dict) -> None:
        self.send(("start", dict(hardware)))

    def set_objectives(self, run_id: int, names, directions, reference_point) -> None:
        self.send(
            ("objectives", list(names), list(directions), [float(v) for v in reference_point])
        )

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        self.send(("end", status, error))

    def batch_writer(self, run_id: int) -> _OutboxWriter:
        return _OutboxWriter(self.send)


class _OutboxWriter:
    def __init__(self, send):
        self.send = send

    def put(self, **batch) -> None:
        self._send(**resolve_held(batch))

    def _send(self, pareto_rows=(), steps_done=None, blocks=(), aggregate_rows=()) -> None:
        self.send(
            (
                "batch",
                {
                    "pareto_rows": list(pareto_rows),
                    "steps_done": steps_done,
                    "blocks": [
                        (b.metric, int(b.seed0), b.steps, b.values, b.wall_times) for b in blocks
                    ],
                    "aggregate_rows": list(aggregate_rows),
                },
            )
        )

    def check(self) -> None:
        pass

    def wait(self) -> None:
        pass

    def stop(self) -> None:
        pass


def apply_message(store: Store, run_id: int, message) -> int:
    """Write one `Outbox` message to `store` for `run_id` (the driver's side); returns the
    values it carried (per-seed values and aggregate fields), for throughput accounting."""
    kind = message[0]
    if kind == "start":
        store.start_run(run_id, message[1])
    elif kind == "objectives":
        store.set_objectives(run_id, *message[1:4])
    elif kind == "batch":
        batch = message[1]
        blocks = [
            Block(
                str(metric),
                int(seed0),
                np.asarray(steps, dtype=np.int64),
                np.asarray(values, dtype=float),
                np.asarray(walls, dtype=float),
            )
            for metric, seed0, steps, values, walls in batch["blocks"]
        ]
        store.append(
            run_id,
            pareto_rows=batch["pareto_rows"],
            steps_done=batch["steps_done"],
            blocks=blocks,
            aggregate_rows=batch["aggregate_rows"],
        )
        return sum(b.values.size for b in blocks) + len(batch["aggregate_rows"]) * len(
            AGGREGATE_FIELDS
        )
    elif kind == "end":
        store.finish_run(run_id, message[1], message[2])
    else:
        raise ValueError(f"unknown outbox message {kind!r}")
    return 0


class Recorder:
    """What an algorithm talks to while it runs."""

    def __init__(
        self,
        store: Store,
        run_id: int,
        steps: int,
        record_every: int = 0,
        on_progress=None,
        keep_seeds: int | str = "all",
    ):
        """keep_seeds: per-seed values are written for seeds 0..keep_seeds-1 ("all": every
        seed); the aggregates over seeds of every checkpoint always use every seed."""
        self.store = store
        self.keep_seeds = None if keep_seeds == "all" else int(keep_seeds)
        self.run_id = run_id
        self.steps = steps
        self.checkpoints = record_steps(steps, record_every)
        self._checkpoint_set = set(self.checkpoints.tolist())
        # metric and width -> (steps, value rows, wall times) waiting for the next flush
        self._series: dict[tuple[str, int], tuple[list, list, list]] = {}
        self._copies = HostCopies()
        self._writer: StoreWriter | None = None
        self._bounds: list[Block] = []
        self._aggregates: list[tuple] = []
        # metric, width and dtype -> values of checkpoints waiting to be aggregated together
        self._checkpoints: dict[tuple[str, int, str], _Checkpoints] = {}
        self._full: list[tuple[str, _Checkpoints]] = []  # tables filled since the last write
        self._held_values = 0  # their size
        # tables the writer has emptied, for reuse (a fresh one costs a page fault a 4 KiB)
        self._spare: collections.deque = collections.deque(maxlen=SPARE_TABLES)
        # CPU float tensors go into the tables without numpy's conversion (`_Checkpoints.add`)
        torch = sys.modules.get("torch")
        self._tensor = torch.Tensor if torch is not None else None
        self._tensor_chars = {torch.float64: "d", torch.float32: "f"} if torch is not None else {}
        self._buffered = 0
        self._pareto: list[tuple] = []
        self._last_flush = time.monotonic()
        self._t0 = time.monotonic()
        self._on_progress = on_progress
        self._last_report = 0.0
        self.step_done = 0
        self.cancel_requested = threading.Event()
        self.lost: RunLost | None = (
            None  # set by the heartbeat thread when the run is no longer ours
        )

    def should_record(self, step: int) -> bool:
        return step in self._checkpoint_set

    def metrics(self, step: int, values: dict) -> None:
        """Record metric values at a step: each value a tensor/array over seeds, or a scalar.

        Per metric, the aggregates over seeds are computed where the value lives (on a CUDA
        device, by `device_aggregates`, so that a small row travels, not every seed) and the
        values of the kept seeds are copied; both reach the host through `HostCopies`. On the
        host the values are copied into a table of checkpoints (of one checkpoint beyond
        BATCH_VALUES seeds), which the writer aggregates, in its thread, once the table is
        full or the recorder writes (`_Checkpoints`, `resolve_held`).
        """
        keep = self.keep_seeds
        key = (int(step), time.monotonic() - self._t0)
        held = {}
        for name, value in values.items():
            if _on_cuda(value):
                held[("aggregate", name)] = device_aggregates(value)
                if keep != 0:
                    held[("values", name)] = (
                        value.reshape(-1) if keep is None else value.reshape(-1)[:keep]
                    )
                continue
            char = (
                self._tensor_chars.get(value.dtype)
                if type(value) is self._tensor and value.dim() == 1 and not value.requires_grad
                else None
            )
            if char is None:
                seeds = _host_values(value)
                width, char = seeds.size, seeds.dtype.char
            else:  # a 1-D float32 or float64 CPU tensor, copied as it is
                seeds, width = value, value.shape[0]
            table_key = (name, width, char)
            table = self._checkpoints.get(table_key)
            if table is None:
                table = self._checkpoints[table_key] = self._table(width, np.dtype(char))
            self._buffered += 1 + (width if keep is None else min(width, keep))
            if table.add(key, seeds):
                # full: the writer takes it (the loop never touches it again)
                self._full.append((name, table))
                self._held_values += table.values.size
                del self._checkpoints[table_key]
        if held:
            self._copies.put(key, held)
        if self._copies:
            self._take_copies()

    def _table(self, width: int, dtype) -> _Checkpoints:
        """An empty table of checkpoints: one the writer emptied if it fits, else a new one."""
        while self._spare:
            table = self._spare.pop()
            if table.values.shape[1] == width and table.values.dtype == dtype:
                return table
        return _Checkpoints(width, dtype)

    def _take_copies(self, wait: bool = False) -> None:
        for (step, wall), values in self._copies.ready(wait):
            for (kind, name), row in values.items():
                if kind == "aggregate":
                    self._aggregates.append(
                        (
                            name,
                            step,
                            *(
                                _real(int(v)) if i == 0 else _real(v)
                                for i, v in enumerate(row.tolist())
                            ),
                            wall,
                        )
                    )
                    self._buffered += 1
                    continue
                steps, rows, walls = self._series.setdefault((name, len(row)), ([], [], []))
                steps.append(step)
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
        if self.lost is not None:
            raise self.lost
        if self.cancel_requested.is_set():
            raise RunCancelled()
        if self._copies:
            self._take_copies()
        if (
            now - self._last_flush >= FLUSH_SECONDS
            or self._buffered + len(self._pareto) >= FLUSH_ROWS
            or self._held_values >= HELD_VALUES
        ):
            self._write()
        if self._on_progress and (now - self._last_report >= 0.1 or step == self.steps):
            self._last_report = now
            self._on_progress(step, self.steps, now - self._t0)

    def _write(self) -> None:
        """Hand what is buffered to the writer thread (started on the first write), with the
        tables of the checkpoints held until now, which the writer aggregates
        (`resolve_held`)."""
        held = self._full + [
            (name, table) for (name, _, _), table in self._checkpoints.items() if table.keys
        ]
        # Fresh tables after each write: the writer owns the ones handed over, and a metric
        # whose width changes from checkpoint to checkpoint would otherwise keep a table
        # (and the memory it touched) per width.
        self._checkpoints, self._full, self._held_values = {}, [], 0
        blocks = [
            Block(name, 0, np.asarray(steps, dtype=np.int64), np.stack(rows), np.asarray(walls))
            for (name, _), (steps, rows, walls) in self._series.items()
        ]
        blocks += self._bounds
        pareto, aggregates = self._pareto, self._aggregates
        self._series, self._bounds, self._pareto, self._aggregates, self._buffered = (
            {},
            [],
            [],
            [],
            0,
        )
        if self._writer is None:
            self._writer = batch_writer(self.store, self.run_id)
        self._writer.put(
            pareto_rows=pareto,
            steps_done=self.step_done,
            blocks=blocks,
            aggregate_rows=aggregates,
            held=(self.keep_seeds, held, self._spare),
        )
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        """Write everything recorded so far, and return once it is in the store."""
        self._take_copies(wait=True)
        self._write()
        self._writer.wait()

    def close(self) -> None:
        """Flush, then stop the writer thread; raises if a write failed."""
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.stop()


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
        except RunLost as lost:
            self.recorder.lost = lost  # the loop stops at its next progress() call
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


def execute(
    spec: RunSpec, store: Store, device: str, on_progress=None, on_start=None
) -> tuple[int, str]:
    """Run a validated spec; return (run_id, final status). `store` is a Store, or an `Outbox`
    for a run whose records another process writes."""
    import torch

    alg_cls = registry.algorithm(spec.algorithm)
    prob_cls = registry.problem(spec.problem)
    run_id = store.create_run(spec, family=alg_cls.family, plot=alg_cls.plot)
    if on_start:
        on_start(run_id)
    recorder = Recorder(
        store, run_id, spec.steps, spec.record_every, on_progress, keep_seeds=spec.keep_seeds
    )
    # Only the main thread may set a handler: a run recorded into an `Outbox` runs in a
    # thread of a Ray task, which its driver stops by cancelling the task.
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, lambda *_: recorder.cancel_requested.set())
    beat = None
    status, error, lost = "finished", None, None
    try:
        if spec.threads:
            torch.set_num_threads(spec.threads)
        dtype = getattr(torch, spec.dtype)
        # Algorithms that sample through torch's global generator stay reproducible.
        torch.manual_seed(spec.seed)
        store.start_run(run_id, hardware.used(device, spec.threads, spec.dtype))
        if store.path is not None:  # an Outbox's driver beats for its run
            beat = _Heartbeat(store.path, run_id, recorder)
            beat.start()
        problem = prob_cls(spec.problem_params, spec.seeds, torch.device(device), dtype, spec.seed)
        algorithm = alg_cls(
            spec.algorithm_params, problem, spec.seeds, torch.device(device), dtype, spec.seed
        )
        algorithm.run(spec.steps, recorder)
        recorder.step_done = max(recorder.step_done, spec.steps)
    except RunLost as err:
        lost = err
    except (RunCancelled, KeyboardInterrupt):
        status = "cancelled"
    except Exception:
        status, error = "failed", traceback.format_exc()
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        if beat is not None:
            beat.stop.set()
            beat.join()
        try:
            recorder.close()
        except RunLost as err:
            lost = lost or err
        except Exception:  # noqa: BLE001 - the records did not all reach the store
            if status == "finished":
                status, error = "failed", traceback.format_exc()
        if lost is None:
            try:
                store.finish_run(run_id, status, error)
            except RunLost as err:
                lost = err
    if lost is not None:
        raise lost
    return run_id, status
