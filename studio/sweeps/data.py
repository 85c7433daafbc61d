"""A sweep as the studio reads it: its points (`SweepData`, from `StoreReader.sweep`), the runs behind
them read so far (`SweepRuns`, only what changed on each refresh), and each run's summary at a
metric (`engine.metrics.run_summary`). Pure numpy: no Qt.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

import numpy as np

from engine.metrics.run_summary import RunSummary, Summary, summarise
from engine.store import LIVE_STATUSES
from engine.sweep_store import shown_status
from studio.views import store_reader
from studio.views.run_data import AGGREGATE_STATS, ROWS_PER_READ, RunData

# A swept key with more distinct values than this is a continuum (a random sweep): the views
# do not offer to fix it at one value.
FEW_VALUES = 12


def value_text(value) -> str:
    """A swept value as a label: 0.5, 1e-05, bandits.ucb1, [1, 2]."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class SweepPoint:
    idx: int
    values: dict
    run_id: int | None
    status: str


@dataclass
class SweepData:
    """A sweep's keys (dotted spec keys, in spec order), which of them are log-spaced, and its
    points in index order."""

    id: int
    name: str
    status: str
    keys: list[str]
    log_keys: list[str]
    points: list[SweepPoint] = field(default_factory=list)

    @classmethod
    def from_dict(cls, doc: dict) -> SweepData:
        """From the dict `StoreReader.sweep(id)` returns."""
        return cls(
            int(doc["id"]),
            doc.get("name") or f"sweep {doc['id']}",
            doc["status"],
            list(doc["keys"]),
            list(doc.get("log_keys", [])),
            [
                SweepPoint(int(p["idx"]), dict(p["values"]), p.get("run_id"), p["status"])
                for p in sorted(doc["points"], key=lambda p: p["idx"])
            ],
        )

    @classmethod
    def from_store(cls, store, sweep_id: int) -> SweepData:
        """Read the sweep (KeyError for an unknown id, as `StoreReader.sweep` raises)."""
        return cls.from_dict(store.sweep(sweep_id))

    @property
    def run_ids(self) -> list[int]:
        return [p.run_id for p in self.points if p.run_id is not None]

    def values_of(self, key: str) -> list:
        """The distinct values of a key over the points: sorted when all are numbers, else in
        first-seen order."""
        seen = []
        for point in self.points:
            value = point.values.get(key)
            if value not in seen:
                seen.append(value)
        if seen and all(is_number(v) for v in seen):
            return sorted(seen)
        return seen

    def is_numeric(self, key: str) -> bool:
        values = self.values_of(key)
        return bool(values) and all(is_number(v) for v in values)

    def is_log(self, key: str) -> bool:
        """Log-spaced and all positive: what a log axis can show."""
        return key in self.log_keys and all(v > 0 for v in self.values_of(key) if is_number(v))

    def progress(self) -> str:
        """ "7 of 12 points finished, 2 running, 1 starting, 1 failed"."""
        counts: dict[str, int] = {}
        for point in self.points:
            status = shown_status(point.status, point.run_id)
            counts[status] = counts.get(status, 0) + 1
        text = f"{counts.pop('finished', 0)} of {len(self.points)} points finished"
        return ", ".join([text, *(f"{n} {status}" for status, n in counts.items())])


@dataclass
class RunRead:
    """One run's part of a read: what to read (from the reader's cursors) and what was read."""

    run_id: int
    settled: bool  # the point is no longer queued or running
    new: bool  # not read before: a settled run is then read whole through the indexes
    aggregates: bool  # read its aggregates after `aggregate_cursor`
    aggregate_cursor: int
    seeds: bool  # read its kept seeds' values after `series_cursor`
    series_cursor: int
    whole: list | None = None
    rows: list = field(default_factory=list)
    aggregate_cursor_after: int = 0
    columns: list = field(default_factory=list)
    series_cursor_after: int = 0


class SweepRuns:
    """What has been read of a sweep's runs: each run's aggregates (all metrics) and, when
    asked, its kept seeds' values. `refresh` reads only rows written after each run's cursors
    and stops reading a run once its point has settled (not queued or running) and been read
    after that."""

    def __init__(self, store):
        self.store = store
        self.datas: dict[int, RunData] = {}
        self._settled: set[int] = set()  # aggregates read after the point settled
        self._seeds_settled: set[int] = set()

    def refresh(self, sweep: SweepData, seeds: bool = False) -> set[int]:
        """Read what is new for every run of the sweep; the ids of the runs that changed.

        A run already settled when first seen is read whole through the store's indexes (by
        run and metric); a live run by cursor, as the Watch view reads it: a cursor read
        scans the rows written after it, all runs', which for a new cursor is the whole
        table. The same as `apply(read(store, plan(sweep, seeds)))`, which `LiveSweep` splits
        between a reading thread and the GUI thread."""
        return self.apply(self.read(self.store, self.plan(sweep, seeds)))

    def plan(self, sweep: SweepData, seeds: bool = False) -> list[RunRead]:
        """What to read of each run, from where this reader has got to."""
        plans = []
        for point in sweep.points:
            run_id = point.run_id
            if run_id is None:
                continue
            data = self.datas.get(run_id)
            plans.append(
                RunRead(
                    run_id,
                    point.status not in LIVE_STATUSES,
                    data is None,
                    run_id not in self._settled,
                    0 if data is None else data.aggregate_cursor,
                    seeds and run_id not in self._seeds_settled,
                    0 if data is None else data.series_cursor,
                )
            )
        return plans

    @staticmethod
    def read(store, plans: list[RunRead]) -> list[RunRead]:
        """Read what the plans say from `store` (any thread's own connection): only SQL and
        numpy, no state of this reader is touched. Fills each plan's read fields."""
        for plan in plans:
            run_id = plan.run_id
            if plan.new and plan.settled:
                plan.whole = []
                for metric in store.metrics_of(run_id):
                    arrays = store.aggregate_arrays(run_id, metric)
                    if len(arrays["step"]):
                        columns = [arrays[name] for name in ("step", *AGGREGATE_STATS)]
                        plan.whole.extend((metric, *row) for row in zip(*columns))
            elif plan.aggregates:
                plan.rows, plan.aggregate_cursor_after = store.aggregates_since(
                    run_id, plan.aggregate_cursor
                )
            if plan.seeds:
                if plan.settled and plan.series_cursor == 0:
                    columns = store_reader.series_all(store, run_id)
                    plan.columns.append(columns)
                    plan.series_cursor_after = columns.cursor
                else:
                    cursor, more = plan.series_cursor, True
                    while more:
                        columns = store_reader.series_since(store, run_id, cursor, ROWS_PER_READ)
                        plan.columns.append(columns)
                        cursor, more = columns.cursor, columns.more
                    plan.series_cursor_after = cursor
        return plans

    def apply(self, plans: list[RunRead]) -> set[int]:
        """Add what `read` brought; the ids of the runs that changed. A plan made before a
        read that has been applied since (its cursors are no longer this reader's) is
        dropped: what it read is already here."""
        changed = set()
        for plan in plans:
            run_id = plan.run_id
            data = self.datas.get(run_id)
            if plan.new != (data is None):
                continue
            if not plan.new and (
                data.aggregate_cursor != plan.aggregate_cursor
                or data.series_cursor != plan.series_cursor
            ):
                continue
            if data is None:
                data = self.datas[run_id] = RunData()
                changed.add(run_id)
            before = data.version
            if plan.whole is not None:
                data.add_aggregates(plan.whole)
                self._settled.add(run_id)
            elif plan.aggregates:
                data.add_aggregates(plan.rows)
                data.aggregate_cursor = plan.aggregate_cursor_after
                if plan.settled:
                    self._settled.add(run_id)
            if plan.seeds:
                for columns in plan.columns:
                    data.add_columns(columns)
                data.series_cursor = plan.series_cursor_after
                if plan.settled:
                    self._seeds_settled.add(run_id)
            if data.version != before:
                changed.add(run_id)
        return changed

    def metrics(self) -> list[str]:
        """Every metric some run recorded, in the order first seen."""
        seen: dict[str, None] = {}
        for data in self.datas.values():
            seen.update(dict.fromkeys(data.metrics()))
        return list(seen)

    def summary(self, run_id: int, metric: str, summary: Summary) -> RunSummary | None:
        """The run's summary at `metric` from what has been read (seeds included where read);
        None when the run recorded nothing of it yet."""
        data = self.datas.get(run_id)
        if data is None:
            return None
        aggregates = data.aggregate_arrays(metric)
        if aggregates is None:
            return None
        table = data.tables.get(metric)
        kept = (table.steps, table.values) if table is not None and table.rows else None
        result = summarise(aggregates, summary, kept)
        return result if result.has_value else None

    def summaries(self, sweep: SweepData, metric: str, summary: Summary) -> dict[int, RunSummary]:
        out = {}
        for run_id in sweep.run_ids:
            result = self.summary(run_id, metric, summary)
            if result is not None:
                out[run_id] = result
        return out


def finite_or(value: float, fallback: float) -> float:
    return value if math.isfinite(value) else fallback


def point_label(sweep: SweepData, point: SweepPoint) -> str:
    """ "run 12: c = 2, lr = 0.1"."""
    values = ", ".join(f"{k} = {value_text(point.values.get(k))}" for k in sweep.keys)
    return f"run {point.run_id}: {values}" if point.run_id is not None else values


def seed_values_by_group(
    sweep: SweepData,
    summaries: dict[int, RunSummary],
    key: str,
    fixed: dict | None = None,
) -> dict[str, np.ndarray]:
    """Kept seeds' summary values pooled per value of `key` ("key = value" -> values), over
    the points that match `fixed` ({key: value}); groups in the key's value order."""
    fixed = fixed or {}
    groups: dict[str, list] = {f"{key} = {value_text(v)}": [] for v in sweep.values_of(key)}
    for point in sweep.points:
        if point.run_id not in summaries:
            continue
        if any(point.values.get(k) != v for k, v in fixed.items()):
            continue
        label = f"{key} = {value_text(point.values.get(key))}"
        groups[label].append(summaries[point.run_id].seed_values)
    return {
        label: np.concatenate(parts) if parts else np.zeros(0)
        for label, parts in groups.items()
        if parts
    }


SUMMARY_COLUMNS = ("mean", "lo", "hi", "n", "step", "band_n_is_kept_seeds")


def summaries_csv(
    sweep: SweepData, summaries: dict[int, RunSummary], header_lines=(), label: str = ""
) -> str:
    """One row per point of the sweep: idx, run_id, status, one column per swept key, then the
    run's summary (mean, lo, hi, n, the checkpoint's step; empty where it has none yet),
    after `# `-prefixed lines saying what the summary is."""
    out = io.StringIO()
    for line in header_lines:
        out.write(f"# {line}\n")
    if label:
        out.write(f"# summary: {label}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["idx", "run_id", "status", *sweep.keys, *SUMMARY_COLUMNS])
    for point in sweep.points:
        values = [point.values.get(k) for k in sweep.keys]
        cells = [
            v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else json.dumps(v)
            for v in values
        ]
        found = summaries.get(point.run_id)
        numbers = (
            [found.mean, found.lo, found.hi, found.n, found.step, found.band_from_kept]
            if found is not None
            else []
        )
        numbers = ["" if isinstance(x, float) and not math.isfinite(x) else x for x in numbers]
        numbers = ["" if x is None else x for x in numbers]
        writer.writerow(
            [
                point.idx,
                "" if point.run_id is None else point.run_id,
                point.status,
                *cells,
                *numbers,
            ]
        )
    return out.getvalue()
