"""Summary columns of the history: one number per run from a metric's seed-mean curve.

The curve is the mean over all the run's seeds at each recorded step, read from the
run's aggregates (`StoreReader.aggregate_arrays`: one row per checkpoint, whatever the number
of seeds); only a metric recorded without aggregates is averaged from its per-seed
values. Statistics:
final (the last recorded step), best (min or max by the metric's direction), min,
max, at_step (linear interpolation between the recorded steps around the chosen
step; NaN outside the recorded range) and auc (area under the curve by the
trapezoid rule over the recorded steps). Pure numpy: no Qt.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from engine.metrics import seed_summary

STATISTICS = {
    "final": "final",
    "best": "best",
    "min": "min",
    "max": "max",
    "at_step": "at step",
    "auc": "area under curve",
}
# Metrics where smaller is better, by the words the field uses for them.
MINIMISED = re.compile(r"loss|regret|error|violation|distance|gap|time", re.IGNORECASE)


def default_direction(metric: str) -> str:
    return "min" if MINIMISED.search(metric) else "max"


@dataclass(frozen=True)
class SummarySpec:
    metric: str
    statistic: str  # a key of STATISTICS
    direction: str = "min"  # what "best" means: "min" or "max"
    step: int = 0  # for at_step

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(
                f"statistic: unknown {self.statistic!r} (known: {', '.join(STATISTICS)})"
            )
        if self.direction not in ("min", "max"):
            raise ValueError(f"direction: must be 'min' or 'max', got {self.direction!r}")

    @property
    def title(self) -> str:
        if self.statistic == "best":
            return f"{self.metric} best ({self.direction})"
        if self.statistic == "at_step":
            return f"{self.metric} @ {self.step}"
        return f"{self.metric} {STATISTICS[self.statistic]}"


def seed_mean(
    steps: np.ndarray, seeds: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Recorded steps and the mean over seeds, from rows as `StoreReader.series_arrays` gives them.

    Rows of no seed (theory bounds, seed < 0) are left out; a step some seeds lack
    averages those that have it.
    """
    keep = seeds >= 0
    steps, seeds, values = steps[keep], seeds[keep], values[keep]
    if len(steps) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    unique_steps, row = np.unique(steps, return_inverse=True)
    unique_seeds, column = np.unique(seeds, return_inverse=True)
    table = np.full((len(unique_steps), len(unique_seeds)), np.nan)
    table[row, column] = values
    return unique_steps, np.asarray(seed_summary(table, axis=1)["mean"], dtype=float).reshape(-1)


def run_mean_curve(store, run_id: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Recorded steps and the mean over all seeds of `metric` in a run: its aggregates when
    the run has them, else the mean of its per-seed values."""
    aggregates = store.aggregate_arrays(run_id, metric)
    if len(aggregates["step"]):
        return np.asarray(aggregates["step"], dtype=np.int64), np.asarray(
            aggregates["mean"], dtype=float
        )
    return seed_mean(*store.series_arrays(run_id, metric))


def summarise(steps: np.ndarray, mean: np.ndarray, spec: SummarySpec) -> float:
    """The statistic of one seed-mean curve; NaN when the curve has nothing to say."""
    keep = np.isfinite(mean)
    steps, mean = np.asarray(steps, dtype=float)[keep], mean[keep]
    if len(mean) == 0:
        return math.nan
    if spec.statistic == "final":
        return float(mean[-1])
    if spec.statistic == "min":
        return float(mean.min())
    if spec.statistic == "max":
        return float(mean.max())
    if spec.statistic == "best":
        return float(mean.min() if spec.direction == "min" else mean.max())
    if spec.statistic == "at_step":
        if not steps[0] <= spec.step <= steps[-1]:
            return math.nan
        return float(np.interp(spec.step, steps, mean))
    if len(mean) < 2:
        return 0.0
    return float(np.trapezoid(mean, steps))
