"""One number per run at a metric, with its 95% band: what a sweep plots against a parameter.

A run stores, per metric and checkpoint, aggregates over all its seeds (n, mean, variance,
...: `Store.aggregate_arrays`) and the per-seed values of a bounded number of kept seeds.
Its summary at a metric is one of (`Summary.kind`):

- ``final``: the last checkpoint's mean, with the 95% t-band mean -/+ t_{0.975, n-1}
  sqrt(var / n) from that checkpoint's n and variance (`band_from_aggregate`);
- ``at_step``: the same at the last checkpoint at or before step s;
- ``best``: the checkpoint where the mean curve is largest (``best="max"``) or smallest
  (``"min"``), with that checkpoint's band. Each seed's own best would be biased towards
  the direction asked; the value of every seed at the mean's best checkpoint is not;
- ``auc``: the trapezoid of the mean over steps, sum_k (s_{k+1} - s_k)(m_k + m_{k+1}) / 2.
  Aggregates keep no covariance between checkpoints, so its band comes from the kept
  seeds: each kept seed's own trapezoid, half-width t_{0.975, k-1} sd / sqrt(k) over the
  k kept seeds, centred on the mean's AUC (n = k: the view says so). By linearity, the
  mean of the per-seed AUCs equals the AUC of the mean when every seed was kept.

Mean and band come from the aggregates alone, never from every seed; the kept seeds' values
at the summary (`kept_seed_values`) are what tests between groups compare. Numpy only; the
store is any object with `aggregate_arrays` and `series_arrays` (engine.store.Store).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.metrics.aggregate import band_from_aggregate, t_quantile_975
from engine.store import BOUND_SEED

SUMMARY_KINDS = ("final", "at_step", "best", "auc")
KIND_LABELS = {"final": "final", "at_step": "at step", "best": "best", "auc": "AUC"}


@dataclass(frozen=True)
class Summary:
    """Which number of a run: `kind` in SUMMARY_KINDS; `step` for at_step; `best` ("max" or
    "min") for best."""

    kind: str = "final"
    step: int | None = None
    best: str = "max"

    def __post_init__(self):
        if self.kind not in SUMMARY_KINDS:
            raise ValueError(
                f"summary must be one of {', '.join(SUMMARY_KINDS)}; got {self.kind!r}"
            )
        if self.kind == "at_step" and (self.step is None or self.step < 0):
            raise ValueError(f"'at step' needs a step >= 0; got {self.step!r}")
        if self.best not in ("max", "min"):
            raise ValueError(f"best must be 'max' or 'min'; got {self.best!r}")

    def label(self, metric: str) -> str:
        """How an axis or a table names it: "final loss", "loss at step 500", "max of loss", "AUC of loss"."""
        if self.kind == "final":
            return f"final {metric}"
        if self.kind == "at_step":
            return f"{metric} at step {self.step}"
        if self.kind == "best":
            return f"{self.best} of {metric}"
        return f"AUC of {metric}"


@dataclass
class RunSummary:
    mean: float
    lo: float
    hi: float
    n: int  # seeds behind the band: all seeds, or the kept seeds for AUC
    step: int | None  # the checkpoint read (None for AUC, or when there was none)
    band_from_kept: bool = False  # the band's n counts kept seeds only (AUC)
    seed_values: np.ndarray = field(default_factory=lambda: np.zeros(0))  # kept seeds' values

    @property
    def has_value(self) -> bool:
        return math.isfinite(self.mean)


def _nothing(step=None) -> RunSummary:
    return RunSummary(math.nan, math.nan, math.nan, 0, step)


def trapezoid(x, y) -> float:
    """Area under y(x) by the trapezoid rule over the finite points; 0 for fewer than two."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return 0.0
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def checkpoint_index(aggregates: dict, summary: Summary) -> int | None:
    """The row of `aggregates` (sorted by step) a final / at_step / best summary reads; None
    when no checkpoint qualifies (none recorded yet, or none at or before the step)."""
    steps = np.asarray(aggregates["step"])
    mean = np.asarray(aggregates["mean"], dtype=float)
    n = np.asarray(aggregates["n"])
    usable = np.flatnonzero((n > 0) & np.isfinite(mean))
    if summary.kind == "at_step":
        usable = usable[steps[usable] <= summary.step]
    if not len(usable):
        return None
    if summary.kind == "best":
        values = mean[usable]
        return int(usable[np.argmax(values) if summary.best == "max" else np.argmin(values)])
    return int(usable[-1])


def seed_table(steps, seeds, values) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed values as (steps [k], values [k, seeds]) with NaN where a seed has no value;
    theory bounds (seed -1) are left out. Input: `Store.series_arrays`' three arrays."""
    steps, seeds, values = (np.asarray(a) for a in (steps, seeds, values))
    own = seeds != BOUND_SEED
    steps, seeds, values = steps[own], seeds[own], np.asarray(values[own], dtype=float)
    unique_steps, rows = np.unique(steps, return_inverse=True)
    unique_seeds, columns = np.unique(seeds, return_inverse=True)
    table = np.full((len(unique_steps), len(unique_seeds)), np.nan)
    table[rows.reshape(-1), columns.reshape(-1)] = values
    return unique_steps.astype(np.int64), table


def kept_seed_values(aggregates: dict, steps, table, summary: Summary) -> np.ndarray:
    """Each kept seed's value at the summary (finite ones only): its value at the checkpoint
    the mean's summary reads, or its own AUC. `steps`, `table` as `seed_table` gives them."""
    steps = np.asarray(steps)
    table = np.asarray(table, dtype=float).reshape(len(steps), -1)
    if summary.kind == "auc":
        out = np.array([trapezoid(steps, table[:, j]) for j in range(table.shape[1])])
        has_two = np.isfinite(table).sum(axis=0) >= 2
        return out[has_two]
    index = checkpoint_index(aggregates, summary)
    if index is None:
        return np.zeros(0)
    rows = np.flatnonzero(steps == int(np.asarray(aggregates["step"])[index]))
    if not len(rows):
        return np.zeros(0)
    values = table[rows[0]]
    return values[np.isfinite(values)]


def summarise(aggregates: dict, summary: Summary, kept=None) -> RunSummary:
    """A run's summary from its aggregates of one metric (`Store.aggregate_arrays`' keys) and,
    optionally, its kept seeds (`seed_table`'s (steps, table)): needed for the AUC's band and
    for `seed_values`."""
    if not len(aggregates["step"]):
        return _nothing()
    seed_values = (
        kept_seed_values(aggregates, kept[0], kept[1], summary) if kept is not None else None
    )
    if summary.kind == "auc":
        usable = (np.asarray(aggregates["n"]) > 0) & np.isfinite(aggregates["mean"])
        if not usable.any():
            return _nothing()
        mean = trapezoid(np.asarray(aggregates["step"])[usable], aggregates["mean"][usable])
        k = 0 if seed_values is None else len(seed_values)
        if k >= 2:
            half = t_quantile_975(k - 1) * float(np.std(seed_values, ddof=1)) / math.sqrt(k)
            lo, hi = mean - half, mean + half
        elif k == 1:
            lo = hi = mean  # one seed: no spread to measure
        else:
            lo = hi = math.nan
        return RunSummary(
            mean, lo, hi, k, None, True, seed_values if seed_values is not None else np.zeros(0)
        )
    index = checkpoint_index(aggregates, summary)
    if index is None:
        return _nothing()
    n = int(aggregates["n"][index])
    mean = float(aggregates["mean"][index])
    lo, hi = band_from_aggregate(n, mean, aggregates["var"][index])
    return RunSummary(
        mean,
        float(lo),
        float(hi),
        n,
        int(aggregates["step"][index]),
        False,
        seed_values if seed_values is not None else np.zeros(0),
    )


def run_summary(store, run_id: int, metric: str, summary: Summary, per_seed: bool = False):
    """Read one run's summary at `metric` from the store: its aggregates of that metric, and
    its kept seeds' values only where asked (`per_seed`) or needed (AUC's band)."""
    aggregates = store.aggregate_arrays(run_id, metric)
    kept = None
    if per_seed or summary.kind == "auc":
        kept = seed_table(*store.series_arrays(run_id, metric))
    return summarise(aggregates, summary, kept)
