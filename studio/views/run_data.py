"""What the studio has read of one run: aggregates over seeds, kept seeds' series, Pareto points.

The engine aggregates every metric over all of a run's seeds at each checkpoint (count,
mean, variance, min, max, quantiles: the store's `series_aggregates`) and keeps the
per-seed values of only the first `kept_seeds` seeds. The mean and band the views draw
come from the aggregates (`AggregateTable`), so opening a run of a million seeds reads
as much as opening one of ten; the per-seed values (`SeedTable`) draw the per-seed
lines. A run with no aggregates for a metric (data built in memory, or written without
them) falls back to the statistics of its per-seed values.

Rows arrive by cursor, a batch at a time, and are appended to growing numpy buffers;
nothing is ever re-read. A finished run loads in one bulk read (`RunData.from_store`),
and a live one continues from the cursors that read ended at (`read_new`). Pure numpy
(no Qt), so the accumulation and the seed statistics are tested on their own.
"""

from __future__ import annotations

import json

import numpy as np

from engine import blocks as series_blocks
from engine.metrics import seed_summary
from engine.metrics.aggregate import band_from_aggregate
from engine.store import BOUND_SEED
from studio.views import store_reader
from studio.views.store_reader import SeriesColumns

INITIAL_ROWS = 256
ROWS_PER_READ = 20_000  # values per live read; whole blocks, so a read may bring more
CHANGE_LOG = 256  # versions a table remembers the first changed row of
# The statistics of one checkpoint in `series_aggregates`, in the order
# `StoreReader.aggregates_since` gives them after (metric, step).
AGGREGATE_STATS = ("n", "mean", "var", "min", "max", "q05", "q25", "q50", "q75", "q95", "wall_time")


def _grown(array: np.ndarray, size: int, used: int, fill=None) -> np.ndarray:
    """`array` with room for `size` rows, its first `used` rows kept and the rest `fill`
    (left unset when None: for rows always written before they are read)."""
    if fill is None:
        out = np.empty((size,) + array.shape[1:], dtype=array.dtype)
    else:
        out = np.full((size,) + array.shape[1:], fill, dtype=array.dtype)
    out[:used] = array[:used]
    return out


class StepTable:
    """Rows by step, ascending (`_steps`, `_steps_float`, `rows`, kept by the subclass), with
    a version and, for the last CHANGE_LOG versions, the first row each changed: what a
    plot needs to redraw only the rows after it."""

    def __init__(self):
        self.version = 0
        self._change_log: list[tuple[int, int]] = []  # (version, first row it changed)

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self.rows]

    @property
    def steps_float(self) -> np.ndarray:
        """The steps as floats, ready to plot (a view)."""
        return self._steps_float[: self.rows]

    def _changed(self, first_row: int) -> None:
        self.version += 1
        self._change_log.append((self.version, first_row))
        del self._change_log[:-CHANGE_LOG]

    def changed_since(self, version: int) -> int | None:
        """The first row that changed after `version` (0 when that is too long ago); None if none did."""
        if version >= self.version:
            return None
        if not self._change_log or self._change_log[0][0] > version + 1:
            return 0
        return min(row for v, row in self._change_log if v > version)


class SeedTable(StepTable):
    """One metric's values as a steps x seeds table, with the seed summary kept current.

    Rows are the steps in ascending order; a cell is NaN until its seed's value
    arrives, and seed_summary ignores NaN, so a step some seeds have not reached yet
    still has a mean over those that have. Each row also keeps the wall time (seconds
    since the run started) its step was recorded at. The summary is recomputed only
    from the first row touched since the last call; `version` counts changes, so a
    view redraws a table only when it has changed.
    """

    def __init__(self):
        self._values = np.full((INITIAL_ROWS, 1), np.nan)
        self._steps = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self._steps_float = np.zeros(INITIAL_ROWS)
        self._wall = np.full(INITIAL_ROWS, np.nan)
        self.rows = 0
        self._summary = {key: np.zeros(INITIAL_ROWS) for key in ("mean", "lo", "hi")}
        self._summary_n = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self._stale_from = 0
        super().__init__()
        self._moved_from: int | None = None

    def add(self, step: int, seed: int, value: float, wall_time: float = np.nan) -> None:
        self.add_many(
            np.array([step]),
            np.array([seed]),
            np.array([value], dtype=float),
            np.array([wall_time]),
        )

    def add_many(self, steps, seeds, values, wall_times=None) -> None:
        """Set the cells (step, seed) to values; a later row for the same cell wins."""
        steps = np.asarray(steps, dtype=np.int64)
        if len(steps) == 0:
            return
        seeds = np.asarray(seeds, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        if seeds.min() < 0:
            raise ValueError(f"seed indices must be >= 0; got {int(seeds.min())}")
        self._ensure_seeds(int(seeds.max()) + 1)
        in_order = bool(np.all(steps[1:] >= steps[:-1]))
        if in_order:
            # The usual case (the engine records in step order): no sort needed.
            first_of_step = np.empty(len(steps), dtype=bool)
            first_of_step[0] = True
            np.not_equal(steps[1:], steps[:-1], out=first_of_step[1:])
            unique_steps = steps[first_of_step]
        else:
            unique_steps = np.unique(steps)
        rows_before = self.rows
        self._moved_from = None
        if self._insert_steps(unique_steps) and in_order:
            rows = rows_before - 1 + np.cumsum(first_of_step)
        else:
            rows = np.searchsorted(self._steps[: self.rows], steps)
        self._values[rows, seeds] = values
        if wall_times is not None:
            wall_times = np.asarray(wall_times, dtype=float)
            known = ~np.isnan(wall_times)
            self._wall[rows[known]] = wall_times[known]
        first_changed = (
            int(rows.min()) if self._moved_from is None else min(int(rows.min()), self._moved_from)
        )
        self._stale_from = min(self._stale_from, first_changed)
        self._changed(first_changed)

    def add_block(self, steps, seed0: int, values, wall_times=None) -> None:
        """Set a block of cells: `values[i, j]` is seed `seed0 + j` at `steps[i]` (a store block).

        Whole rows at once, so a block of many seeds costs no per-value bookkeeping; a block
        whose steps are not strictly increasing goes through `add_many`.
        """
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=float).reshape(len(steps), -1)
        if len(steps) == 0:
            return
        width = values.shape[1]
        if seed0 < 0 or not bool(np.all(steps[1:] > steps[:-1])):
            n = len(steps)
            self.add_many(
                np.repeat(steps, width),
                np.tile(np.arange(seed0, seed0 + width), n),
                values.reshape(-1),
                None
                if wall_times is None
                else np.repeat(np.asarray(wall_times, dtype=float), width),
            )
            return
        self._ensure_seeds(seed0 + width)
        rows_before = self.rows
        self._moved_from = None
        if self._insert_steps(steps):
            rows = slice(rows_before, rows_before + len(steps))
            first_changed = rows_before
        else:
            rows = np.searchsorted(self._steps[: self.rows], steps)
            first_changed = (
                int(rows[0]) if self._moved_from is None else min(int(rows[0]), self._moved_from)
            )
        self._values[rows, seed0 : seed0 + width] = values
        if wall_times is not None:
            wall_times = np.asarray(wall_times, dtype=float)
            known = ~np.isnan(wall_times)
            if known.all():
                self._wall[rows] = wall_times
            else:
                self._wall[np.arange(self.rows)[rows][known]] = wall_times[known]
        self._stale_from = min(self._stale_from, first_changed)
        self._changed(first_changed)

    def reserve(self, rows: int, seeds: int) -> None:
        """Make room for `rows` steps of `seeds` seeds now, so that filling them does not regrow the table."""
        self._ensure_seeds(seeds)
        self._reserve(rows)

    def _ensure_seeds(self, count: int) -> None:
        if count > self._values.shape[1]:
            extra = np.full((self._values.shape[0], count - self._values.shape[1]), np.nan)
            self._values = np.hstack([self._values, extra])

    def _insert_steps(self, unique_steps: np.ndarray) -> bool:
        """Add rows for the sorted `unique_steps` not known yet; True when all of them were
        new and went after the last known step (then their rows are simply the next ones)."""
        known = self._steps[: self.rows]
        if self.rows == 0 or unique_steps[0] > known[-1]:
            self._append_steps(unique_steps)
            return True
        new = unique_steps[~np.isin(unique_steps, known, assume_unique=True)]
        if len(new) == 0:
            return False
        if new[0] > known[-1]:
            self._append_steps(new)
            return False
        self._reserve(self.rows + len(new))
        merged = np.union1d(known, new)
        old_rows = np.searchsorted(merged, known)
        for array in (self._values, self._wall):
            moved = array[: self.rows].copy()
            array[: len(merged)] = np.nan
            array[old_rows] = moved
        self._steps[: len(merged)] = merged
        self._steps_float[: len(merged)] = merged
        self._moved_from = int(np.searchsorted(merged, new[0]))
        self.rows = len(merged)
        return False

    def _append_steps(self, steps: np.ndarray) -> None:
        self._reserve(self.rows + len(steps))
        self._steps[self.rows : self.rows + len(steps)] = steps
        self._steps_float[self.rows : self.rows + len(steps)] = steps
        self.rows += len(steps)

    def _reserve(self, rows: int) -> None:
        size = len(self._steps)
        if rows <= size:
            return
        while size < rows:
            size *= 2
        self._values = _grown(self._values, size, self.rows, np.nan)
        self._wall = _grown(self._wall, size, self.rows, np.nan)
        self._steps = _grown(self._steps, size, self.rows)
        self._steps_float = _grown(self._steps_float, size, self.rows)
        for key, column in self._summary.items():
            self._summary[key] = _grown(column, size, self.rows)
        self._summary_n = _grown(self._summary_n, size, self.rows)

    @property
    def seeds(self) -> int:
        return self._values.shape[1]

    @property
    def values(self) -> np.ndarray:
        """The [steps, seeds] table read so far (a view; do not modify)."""
        return self._values[: self.rows]

    @property
    def wall_times(self) -> np.ndarray:
        """Seconds since the run started at which each step was recorded (a view)."""
        return self._wall[: self.rows]

    def summary(self) -> dict[str, np.ndarray]:
        """steps, mean, lo, hi (95% band of the mean) and n (seeds present) per step."""
        start = self._stale_from
        if start < self.rows:
            fresh = seed_summary(self._values[start : self.rows], axis=1)
            for key in ("mean", "lo", "hi"):
                self._summary[key][start : self.rows] = fresh[key]
            self._summary_n[start : self.rows] = fresh["n"]
            self._stale_from = self.rows
        out = {key: column[: self.rows] for key, column in self._summary.items()}
        out["n"] = self._summary_n[: self.rows]
        out["steps"] = self.steps
        return out


class AggregateTable(StepTable):
    """One metric's statistics over all of a run's seeds: a row per checkpoint, steps ascending.

    Rows are `series_aggregates` rows (see AGGREGATE_STATS). It reads as a SeedTable
    does (rows, steps, steps_float, wall_times, version, changed_since, summary, seeds),
    so a view draws its mean and band from either. `seeds` is the most seeds any
    checkpoint aggregated: the run's seed count once every seed has reported. A
    checkpoint that arrives again replaces the earlier row.
    """

    def __init__(self):
        self._steps = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self._steps_float = np.zeros(INITIAL_ROWS)
        self._stats = {name: np.full(INITIAL_ROWS, np.nan) for name in AGGREGATE_STATS}
        self._band = {key: np.full(INITIAL_ROWS, np.nan) for key in ("lo", "hi")}
        self._n = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self.rows = 0
        self.seeds = 0
        self._stale_from = 0
        super().__init__()

    def add_many(self, steps, stats: dict) -> None:
        """Add checkpoints: `stats` maps names of AGGREGATE_STATS to columns (missing ones are NaN)."""
        steps = np.asarray(steps, dtype=np.int64)
        if len(steps) == 0:
            return
        columns = {
            name: (
                np.asarray(stats[name], dtype=float)
                if name in stats
                else np.full(len(steps), np.nan)
            )
            for name in AGGREGATE_STATS
        }
        rows = self.rows
        if (rows == 0 or steps[0] > self._steps[rows - 1]) and bool(np.all(steps[1:] > steps[:-1])):
            first = rows  # the usual case: later checkpoints, in order
            self._reserve(rows + len(steps))
            self._steps[rows : rows + len(steps)] = steps
            for name in AGGREGATE_STATS:
                self._stats[name][rows : rows + len(steps)] = columns[name]
            self.rows = rows + len(steps)
        else:
            every = np.concatenate([self._steps[:rows], steps])
            order = np.argsort(every, kind="stable")  # a step's later row after its earlier one
            ordered = every[order]
            last = np.ones(len(order), dtype=bool)
            last[:-1] = ordered[1:] != ordered[:-1]
            keep = order[last]
            merged = every[keep]
            self._reserve(len(merged))
            for name in AGGREGATE_STATS:
                self._stats[name][: len(merged)] = np.concatenate(
                    [self._stats[name][:rows], columns[name]]
                )[keep]
            self._steps[: len(merged)] = merged
            self.rows = len(merged)
            first = int(np.searchsorted(merged, steps.min()))
        self._steps_float[first : self.rows] = self._steps[first : self.rows]
        n = self._stats["n"][first : self.rows]
        self._n[first : self.rows] = np.where(np.isfinite(n), n, 0)
        self.seeds = int(self._n[: self.rows].max())
        self._stale_from = min(self._stale_from, first)
        self._changed(first)

    def _reserve(self, rows: int) -> None:
        size = len(self._steps)
        if rows <= size:
            return
        while size < rows:
            size *= 2
        self._steps = _grown(self._steps, size, self.rows)
        self._steps_float = _grown(self._steps_float, size, self.rows)
        self._n = _grown(self._n, size, self.rows)
        for group in (self._stats, self._band):
            for key, column in group.items():
                group[key] = _grown(column, size, self.rows, np.nan)

    @property
    def wall_times(self) -> np.ndarray:
        return self._stats["wall_time"][: self.rows]

    def column(self, name: str) -> np.ndarray:
        """One statistic per checkpoint (a view): a name of AGGREGATE_STATS."""
        return self._stats[name][: self.rows]

    def arrays(self) -> dict[str, np.ndarray]:
        """step and every statistic, as `StoreReader.aggregate_arrays` gives them (copies)."""
        out = {"step": self.steps.copy()}
        out.update({name: self.column(name).copy() for name in AGGREGATE_STATS})
        return out

    def summary(self) -> dict[str, np.ndarray]:
        """steps, mean, lo, hi (the 95% t-band of the mean over all n seeds) and n per checkpoint."""
        start = self._stale_from
        if start < self.rows:
            lo, hi = band_from_aggregate(
                self._n[start : self.rows],
                self._stats["mean"][start : self.rows],
                self._stats["var"][start : self.rows],
            )
            self._band["lo"][start : self.rows] = lo
            self._band["hi"][start : self.rows] = hi
            self._stale_from = self.rows
        return {
            "mean": self._stats["mean"][: self.rows],
            "lo": self._band["lo"][: self.rows],
            "hi": self._band["hi"][: self.rows],
            "n": self._n[: self.rows],
            "steps": self.steps,
        }


def seed_table_aggregate(table: SeedTable) -> dict[str, np.ndarray]:
    """A SeedTable's values as the aggregates the engine would have stored for them
    (`StoreReader.aggregate_arrays`' keys): for metrics recorded without aggregates."""
    values = table.values
    summary = seed_summary(values, axis=1)
    n = np.atleast_1d(summary["n"]).astype(np.int64)
    present = n > 0
    out = {
        "step": table.steps.copy(),
        "n": n,
        "mean": np.atleast_1d(summary["mean"]).astype(float),
        "var": np.where(n > 1, np.atleast_1d(summary["std"]) ** 2, np.nan),
        "wall_time": table.wall_times.copy(),
    }
    for name, levels in (
        ("min", 0.0),
        ("q05", 0.05),
        ("q25", 0.25),
        ("q50", 0.5),
        ("q75", 0.75),
        ("q95", 0.95),
        ("max", 1.0),
    ):
        column = np.full(len(n), np.nan)
        if present.any():
            column[present] = np.nanquantile(values[present], levels, axis=1)
        out[name] = column
    return out


class ParetoPoints:
    """Every Pareto point a run recorded, at every step: objectives [n, d], step, seed, label."""

    def __init__(self):
        self.objectives = np.empty((0, 0))
        self.steps = np.empty(0, dtype=np.int64)
        self.seeds = np.empty(0, dtype=np.int64)
        self.labels: list[dict] = []

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, points: list[dict]) -> None:
        if not points:
            return
        rows = np.array([p["objectives"] for p in points], dtype=float)
        if rows.ndim != 2:
            raise ValueError("every Pareto point of a run must have the same number of objectives")
        if len(self.steps) and rows.shape[1] != self.objectives.shape[1]:
            raise ValueError(
                f"Pareto points with {rows.shape[1]} objectives after ones with "
                f"{self.objectives.shape[1]}"
            )
        self.objectives = rows if not len(self.steps) else np.vstack([self.objectives, rows])
        self.steps = np.append(self.steps, [p["step"] for p in points])
        self.seeds = np.append(self.seeds, [p["seed"] for p in points])
        self.labels.extend(p.get("label") or {} for p in points)

    def recorded_steps(self) -> np.ndarray:
        return np.unique(self.steps)

    def at_step(self, step: int) -> np.ndarray:
        """Indices of the points recorded at `step`."""
        return np.flatnonzero(self.steps == step)


class RunData:
    """Everything read of one run; `version` changes whenever something new arrives.

    `aggregates` holds each metric's statistics over all seeds (what means and bands are
    drawn from), `tables` the per-seed values of the seeds the run kept, `bounds` the
    curves that belong to no seed (theory bounds, stored with seed -1) as one-column
    tables, `pareto` every Pareto point. `pareto_step`, `pareto_points`, `pareto_seeds` and `pareto_labels` describe
    the latest recorded step, which is what the Pareto view draws.
    """

    def __init__(self):
        self.tables: dict[str, SeedTable] = {}
        self.aggregates: dict[str, AggregateTable] = {}
        self.bounds: dict[str, SeedTable] = {}
        self.objectives: dict | None = None
        self.pareto = ParetoPoints()
        self.version = 0
        self.series_cursor = 0
        self.aggregate_cursor = 0
        self.pareto_cursor = 0

    # -- reading the store ----------------------------------------------------------------
    @classmethod
    def from_store(cls, store, run_id: int) -> RunData:
        """Everything the store holds of a run now, in one bulk read; `read_new` continues it."""
        data = cls()
        columns = store_reader.series_all(store, run_id)
        data.add_columns(columns)
        data.series_cursor = columns.cursor
        rows, data.aggregate_cursor = store.aggregates_since(run_id, 0)
        data.add_aggregates(rows)
        data.read_new(store, run_id, series=False)
        return data

    def read_new(self, store, run_id: int, series: bool = True, limit: int = ROWS_PER_READ) -> bool:
        """Read what arrived after the cursors (whole blocks, until `limit` values); True if more may wait."""
        more = False
        if series:
            rows, self.aggregate_cursor = store.aggregates_since(run_id, self.aggregate_cursor)
            self.add_aggregates(rows)
            columns = store_reader.series_since(store, run_id, self.series_cursor, limit)
            self.add_columns(columns)
            self.series_cursor = columns.cursor
            more = columns.more
        points, self.pareto_cursor = store.pareto_since(run_id, self.pareto_cursor)
        self.add_pareto(points)
        if self.objectives is None:
            row = store.get_run(run_id)
            if row is not None and row.get("objectives_json"):
                self.set_objectives(json.loads(row["objectives_json"]))
        return more

    # -- appending ------------------------------------------------------------------------
    def add_series(self, rows) -> None:
        """Append rows (metric, step, seed, value, wall_time) as `StoreReader.series_since` gives them."""
        if rows:
            self.add_columns(SeriesColumns.from_blocks(series_blocks.from_rows(rows), 0))

    def add_columns(self, columns: SeriesColumns) -> None:
        """Append what a `store_reader` read brought, block by block."""
        if not len(columns):
            return
        self._reserve_for(columns.blocks)
        for block in columns.blocks:
            if not len(block):
                continue
            if block.seed0 == BOUND_SEED and block.width == 1:
                table = self.bounds.setdefault(block.metric, SeedTable())
                table.add_block(block.steps, 0, block.values)
            elif block.seed0 >= 0:
                table = self.tables.setdefault(block.metric, SeedTable())
                table.add_block(block.steps, block.seed0, block.values, block.wall_times)
            else:  # a block that would straddle the bound's seed: value by value
                self._add_values(SeriesColumns.from_blocks([block], 0))
        self.version += 1

    def _reserve_for(self, blocks) -> None:
        """Room in each table for what `blocks` may add, made at once: a bulk read of many
        blocks would otherwise regrow the tables (steps x seeds) a dozen times."""
        rows: dict[str, dict[int, int]] = {}
        seeds: dict[str, int] = {}
        for block in blocks:
            if block.seed0 >= 0 and len(block):
                per_group = rows.setdefault(block.metric, {})
                per_group[block.seed0] = per_group.get(block.seed0, 0) + len(block)
                seeds[block.metric] = max(seeds.get(block.metric, 0), block.seed0 + block.width)
        for metric, per_group in rows.items():
            table = self.tables.setdefault(metric, SeedTable())
            table.reserve(table.rows + max(per_group.values()), seeds[metric])

    def _add_values(self, columns: SeriesColumns) -> None:
        for index, metric in enumerate(columns.metrics):
            steps, seeds, values, wall = columns.of_metric(index)
            bound = seeds == BOUND_SEED
            if bound.any():
                table = self.bounds.setdefault(metric, SeedTable())
                table.add_many(
                    steps[bound], np.zeros(int(bound.sum()), dtype=np.int64), values[bound]
                )
            if not bound.all():
                keep = ~bound
                table = self.tables.setdefault(metric, SeedTable())
                table.add_many(steps[keep], seeds[keep], values[keep], wall[keep])

    def add_aggregates(self, rows) -> None:
        """Append rows (metric, step, n, mean, var, min, max, q05, q25, q50, q75, q95, wall_time)
        as `StoreReader.aggregates_since` gives them; NULL (None) statistics become NaN."""
        if not rows:
            return
        metric_column, step_column, *stat_columns = zip(*rows)
        if len(stat_columns) != len(AGGREGATE_STATS):
            raise ValueError(
                f"aggregate rows need {2 + len(AGGREGATE_STATS)} fields "
                f"(metric, step, {', '.join(AGGREGATE_STATS)}); got {2 + len(stat_columns)}"
            )
        steps = np.array(step_column, dtype=np.int64)
        stats = {
            name: np.array(column, dtype=float)
            for name, column in zip(AGGREGATE_STATS, stat_columns)
        }
        metrics = np.array(metric_column, dtype=object)
        for metric in dict.fromkeys(metric_column):
            rows_of = metrics == metric
            table = self.aggregates.setdefault(metric, AggregateTable())
            table.add_many(
                steps[rows_of], {name: column[rows_of] for name, column in stats.items()}
            )
        self.version += 1

    def add_pareto(self, points) -> None:
        """Append points (dicts as `StoreReader.pareto_since` gives them)."""
        if points:
            self.pareto.add(points)
            self.version += 1

    def set_objectives(self, objectives: dict) -> None:
        self.objectives = objectives
        self.version += 1

    # -- what the views ask -----------------------------------------------------------------
    def metrics(self) -> list[str]:
        """Metrics with values of seeds (aggregated, or per seed), in the order they were first seen."""
        return list(dict.fromkeys([*self.tables, *self.aggregates]))

    def statistics(self, metric: str) -> AggregateTable | SeedTable | None:
        """What `metric`'s mean and band are drawn from: its aggregates over all seeds, or, for a
        metric recorded without them, its per-seed values; None when the run has neither."""
        aggregate = self.aggregates.get(metric)
        if aggregate is not None and aggregate.rows:
            return aggregate
        return self.tables.get(metric)

    def aggregate_arrays(self, metric: str) -> dict[str, np.ndarray] | None:
        """`metric`'s statistics per checkpoint (`StoreReader.aggregate_arrays`' keys), from the
        aggregates or computed from the per-seed values; None when there is nothing."""
        statistics = self.statistics(metric)
        if statistics is None or not statistics.rows:
            return None
        if isinstance(statistics, AggregateTable):
            return statistics.arrays()
        return seed_table_aggregate(statistics)

    def seed_count(self, metric: str) -> int:
        """How many seeds stand behind `metric` (all of them, kept or not)."""
        statistics = self.statistics(metric)
        return 0 if statistics is None else statistics.seeds

    def bound_curve(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        table = self.bounds[metric]
        return table.steps.copy(), table.values[:, 0].copy()

    @property
    def pareto_step(self) -> int | None:
        return int(self.pareto.steps.max()) if len(self.pareto) else None

    def _latest(self) -> np.ndarray:
        step = self.pareto_step
        return np.empty(0, dtype=np.int64) if step is None else self.pareto.at_step(step)

    @property
    def pareto_points(self) -> np.ndarray:
        """Objective vectors [n, d] of the latest recorded step (all seeds)."""
        return self.pareto.objectives[self._latest()] if len(self.pareto) else np.empty((0, 2))

    @property
    def pareto_seeds(self) -> np.ndarray:
        return self.pareto.seeds[self._latest()]

    @property
    def pareto_labels(self) -> list[dict]:
        return [self.pareto.labels[i] for i in self._latest()]
