"""What the studio has read of one run so far: series per metric and seed, Pareto points.

Rows arrive by cursor, a batch at a time, and are appended; nothing is ever re-read.
Pure numpy (no Qt) so the accumulation and the seed statistics are tested on their own.
"""

from __future__ import annotations

import math

import numpy as np

from engine.metrics import seed_summary
from engine.store import BOUND_SEED

INITIAL_ROWS = 256


class SeedTable:
    """One metric's values as a steps x seeds table, with the seed summary kept current.

    Rows are steps in the order they first arrive (the engine records in step order);
    a cell is NaN until its seed's value arrives, and seed_summary ignores NaN, so a
    step some seeds have not reached yet still has a mean over those that have.
    The summary is recomputed only from the first row touched since the last call.
    """

    def __init__(self):
        self._values = np.full((INITIAL_ROWS, 1), np.nan)
        self._steps = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self._row_of_step: dict[int, int] = {}
        self.rows = 0
        self._summary = {key: np.zeros(INITIAL_ROWS) for key in ("mean", "lo", "hi")}
        self._summary_n = np.zeros(INITIAL_ROWS, dtype=np.int64)
        self._stale_from = 0

    def add(self, step: int, seed: int, value: float) -> None:
        row = self._row_of_step.get(step)
        if row is None:
            row = self.rows
            if row == len(self._steps):
                self._grow_rows()
            self._steps[row] = step
            self._row_of_step[step] = row
            self.rows += 1
        if seed >= self._values.shape[1]:
            extra = np.full((self._values.shape[0], seed + 1 - self._values.shape[1]), np.nan)
            self._values = np.hstack([self._values, extra])
        self._values[row, seed] = value
        self._stale_from = min(self._stale_from, row)

    def _grow_rows(self) -> None:
        size = 2 * len(self._steps)
        values = np.full((size, self._values.shape[1]), np.nan)
        values[: self.rows] = self._values[: self.rows]
        self._values = values
        self._steps = np.resize(self._steps, size)
        for key, column in self._summary.items():
            self._summary[key] = np.resize(column, size)
        self._summary_n = np.resize(self._summary_n, size)

    @property
    def seeds(self) -> int:
        return self._values.shape[1]

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self.rows]

    @property
    def values(self) -> np.ndarray:
        """The [steps, seeds] table read so far (a view; do not modify)."""
        return self._values[: self.rows]

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


class RunData:
    """Everything read of one run; `version` changes whenever something new arrives."""

    def __init__(self):
        self.tables: dict[str, SeedTable] = {}
        self.bounds: dict[str, tuple[list[int], list[float]]] = {}
        self.objectives: dict | None = None
        self.pareto_step: int | None = None
        self.pareto_points: list[list[float]] = []
        self.pareto_seeds: list[int] = []
        self.version = 0

    def add_series(self, rows) -> None:
        """Append rows (metric, step, seed, value, wall_time) as `Store.series_since` gives them."""
        for metric, step, seed, value, _wall_time in rows:
            if seed == BOUND_SEED:
                steps, values = self.bounds.setdefault(metric, ([], []))
                steps.append(step)
                values.append(math.nan if value is None else value)
            else:
                table = self.tables.get(metric)
                if table is None:
                    table = self.tables[metric] = SeedTable()
                table.add(step, seed, value)
        if rows:
            self.version += 1

    def add_pareto(self, points) -> None:
        """Keep the points of the latest recorded step (dicts as `Store.pareto_since` gives them)."""
        for p in points:
            if self.pareto_step is None or p["step"] > self.pareto_step:
                self.pareto_step = p["step"]
                self.pareto_points, self.pareto_seeds = [], []
            if p["step"] == self.pareto_step:
                self.pareto_points.append(p["objectives"])
                self.pareto_seeds.append(p["seed"])
        if points:
            self.version += 1

    def set_objectives(self, objectives: dict) -> None:
        self.objectives = objectives
        self.version += 1

    def metrics(self) -> list[str]:
        """Metrics with per-seed values, in the order they were first seen."""
        return list(self.tables)

    def bound_curve(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        steps, values = self.bounds[metric]
        return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=float)
