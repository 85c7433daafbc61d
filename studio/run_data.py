"""What the studio has read of one run: series per metric and seed, every Pareto point.

Rows arrive by cursor, a batch at a time, and are appended to growing numpy buffers;
nothing is ever re-read. A finished run loads in one bulk read (`RunData.from_store`),
and a live one continues from the cursor that read ended at (`read_new`). Pure numpy
(no Qt), so the accumulation and the seed statistics are tested on their own.
"""

from __future__ import annotations

import json

import numpy as np

from engine import blocks as series_blocks
from engine.metrics import seed_summary
from engine.store import BOUND_SEED
from studio import store_reader
from studio.store_reader import SeriesColumns

INITIAL_ROWS = 256
ROWS_PER_READ = 20_000  # values per live read; whole blocks, so a read may bring more
CHANGE_LOG = 256  # versions a table remembers the first changed row of


def _grown(array: np.ndarray, size: int, used: int, fill=None) -> np.ndarray:
    """`array` with room for `size` rows, its first `used` rows kept and the rest `fill`
    (left unset when None: for rows always written before they are read)."""
    if fill is None:
        out = np.empty((size,) + array.shape[1:], dtype=array.dtype)
    else:
        out = np.full((size,) + array.shape[1:], fill, dtype=array.dtype)
    out[:used] = array[:used]
    return out


class SeedTable:
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
        self.version = 0
        self._change_log: list[tuple[int, int]] = []  # (version, first row it changed)
        self._moved_from: int | None = None

    def add(self, step: int, seed: int, value: float, wall_time: float = np.nan) -> None:
        self.add_many(np.array([step]), np.array([seed]), np.array([value], dtype=float), np.array([wall_time]))

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
        first_changed = int(rows.min()) if self._moved_from is None else min(int(rows.min()), self._moved_from)
        self._stale_from = min(self._stale_from, first_changed)
        self.version += 1
        self._change_log.append((self.version, first_changed))
        del self._change_log[:-CHANGE_LOG]

    def changed_since(self, version: int) -> int | None:
        """The first row that changed after `version` (0 when that is too long ago); None if none did."""
        if version >= self.version:
            return None
        if not self._change_log or self._change_log[0][0] > version + 1:
            return 0
        return min(row for v, row in self._change_log if v > version)

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
    def steps(self) -> np.ndarray:
        return self._steps[: self.rows]

    @property
    def steps_float(self) -> np.ndarray:
        """The steps as floats, ready to plot (a view)."""
        return self._steps_float[: self.rows]

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
            raise ValueError(f"Pareto points with {rows.shape[1]} objectives after ones with "
                             f"{self.objectives.shape[1]}")
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

    `tables` holds the per-seed metrics, `bounds` the curves that belong to no seed
    (theory bounds, stored with seed -1) as one-column tables, `pareto` every Pareto
    point. `pareto_step`, `pareto_points`, `pareto_seeds` and `pareto_labels` describe
    the latest recorded step, which is what the Pareto view draws.
    """

    def __init__(self):
        self.tables: dict[str, SeedTable] = {}
        self.bounds: dict[str, SeedTable] = {}
        self.objectives: dict | None = None
        self.pareto = ParetoPoints()
        self.version = 0
        self.series_cursor = 0
        self.pareto_cursor = 0

    # -- reading the store ----------------------------------------------------------------
    @classmethod
    def from_store(cls, store, run_id: int) -> "RunData":
        """Everything the store holds of a run now, in one bulk read; `read_new` continues it."""
        data = cls()
        columns = store_reader.series_all(store, run_id)
        data.add_columns(columns)
        data.series_cursor = columns.cursor
        data.read_new(store, run_id, series=False)
        return data

    def read_new(self, store, run_id: int, series: bool = True, limit: int = ROWS_PER_READ) -> bool:
        """Read what arrived after the cursors (whole blocks, until `limit` values); True if more may wait."""
        more = False
        if series:
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
        """Append rows (metric, step, seed, value, wall_time) as `Store.series_since` gives them."""
        if rows:
            self.add_columns(SeriesColumns.from_blocks(series_blocks.from_rows(rows), 0))

    def add_columns(self, columns: SeriesColumns) -> None:
        """Append rows already split into numpy columns (see `store_reader`)."""
        if not len(columns):
            return
        for index, metric in enumerate(columns.metrics):
            steps, seeds, values, wall = columns.of_metric(index)
            bound = seeds == BOUND_SEED
            if bound.any():
                table = self.bounds.setdefault(metric, SeedTable())
                table.add_many(steps[bound], np.zeros(int(bound.sum()), dtype=np.int64), values[bound])
            if not bound.all():
                keep = ~bound
                table = self.tables.setdefault(metric, SeedTable())
                table.add_many(steps[keep], seeds[keep], values[keep], wall[keep])
        self.version += 1

    def add_pareto(self, points) -> None:
        """Append points (dicts as `Store.pareto_since` gives them)."""
        if points:
            self.pareto.add(points)
            self.version += 1

    def set_objectives(self, objectives: dict) -> None:
        self.objectives = objectives
        self.version += 1

    # -- what the views ask -----------------------------------------------------------------
    def metrics(self) -> list[str]:
        """Metrics with per-seed values, in the order they were first seen."""
        return list(self.tables)

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
