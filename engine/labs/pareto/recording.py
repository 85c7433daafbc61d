"""What every Lab 3 run emits: its points, the objectives' directions, hypervolume over
training and, where the problem knows its true front, the hypervolume ratio."""

from __future__ import annotations

import numpy as np

from engine.labs.pareto.true_front import simplex_grid
from engine.metrics import hypervolume

# Pareto points are written at about this many log-spaced checkpoints (plus the last):
# a front every checkpoint would be ~560 x seeds x preferences rows, while a log-spaced
# subset still shows both the early sweep and the converged front.
PARETO_SNAPSHOTS = 30
FRONT_METRICS = ("hypervolume", "hypervolume_ratio")


def pareto_snapshot_steps(checkpoints: np.ndarray, count: int = PARETO_SNAPSHOTS) -> np.ndarray:
    """A log-spaced subset of the runner's checkpoints: the nearest checkpoint (in log
    step) to each of `count` geometric targets between the first and the last, plus the last."""
    checkpoints = np.asarray(checkpoints, dtype=np.int64)
    targets = np.log(np.geomspace(checkpoints[0], checkpoints[-1], num=count))
    nearest = np.abs(np.log(checkpoints)[None, :] - targets[:, None]).argmin(axis=1)
    return np.union1d(checkpoints[nearest], checkpoints[-1:])


def thinned_checkpoints(checkpoints: np.ndarray, count: int) -> set[int]:
    """About `count` of the runner's checkpoints, half log-spaced and half evenly spaced, and
    the last: for algorithms whose evaluation costs much more than a training step."""
    checkpoints = np.asarray(checkpoints, dtype=np.int64)
    even = checkpoints[:: max(1, len(checkpoints) // max(1, count // 2))]
    return set(np.union1d(pareto_snapshot_steps(checkpoints, max(2, count // 2)), even).tolist())


def preference_grid(tasks: int, count: int) -> tuple[np.ndarray, list[dict]]:
    """Evenly spaced preferences on the simplex and a label for each.

    Two tasks: the `count` points w_1 = p / (count - 1), p = 0..count-1. Three tasks: the
    count (count + 1) / 2 points of the triangular grid with step 1 / (count - 1). Labels
    are built from integer ratios, so each label's weights are exact complements
    (0.3 and 0.7, not 0.30000001).
    """
    divisions = count - 1
    weights = simplex_grid(tasks, divisions)
    integers = np.rint(weights * divisions).astype(int)
    labels = [
        {f"weight_task{k + 1}": int(i) / divisions for k, i in enumerate(row)} for row in integers
    ]
    return weights, labels


class FrontRecorder:
    """Declares a run's objectives and records, for every seed, the hypervolume of its
    points at each checkpoint, the ratio to the true front's hypervolume where the problem
    gives one (`true_front_hypervolume`), and the points themselves at ~30 log-spaced
    snapshot steps and the last.

    The problem supplies ``objective_names``, ``objective_directions`` and
    ``reference_point()``; the hypervolume respects the directions.
    """

    def __init__(self, rec, problem, labels: list[dict]):
        self.rec = rec
        self.labels = labels
        self.names = list(problem.objective_names)
        self.directions = list(problem.objective_directions)
        self.reference_point = problem.reference_point()
        rec.objectives(self.names, self.directions, self.reference_point)
        true_volume = getattr(problem, "true_front_hypervolume", None)
        self.true_volume = (
            None if true_volume is None else np.asarray(true_volume(self.reference_point))
        )
        self.snapshot_steps = set(pareto_snapshot_steps(rec.checkpoints).tolist())

    def volumes(self, points: np.ndarray) -> np.ndarray:
        """Hypervolume of each seed's points [seeds, P, objectives]; [seeds]."""
        return np.array([hypervolume(p, self.reference_point, self.directions) for p in points])

    def record(self, step: int, points, metrics: dict | None = None) -> np.ndarray:
        """Record the points [seeds, P, objectives] produced at `step` (labels in the order given
        at construction) and any further per-seed metrics; returns the hypervolumes."""
        points = np.asarray(points, dtype=np.float64)
        volumes = self.volumes(points)
        values = {"hypervolume": volumes}
        if self.true_volume is not None:
            values["hypervolume_ratio"] = volumes / self.true_volume
        self.rec.metrics(step, {**values, **(metrics or {})})
        if step in self.snapshot_steps:
            seeds, count, dims = points.shape
            self.rec.pareto(
                step,
                points.reshape(-1, dims),
                np.repeat(np.arange(seeds), count),
                self.labels * seeds,
            )
        return volumes
