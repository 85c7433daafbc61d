"""What the Pareto view computes from a run's stored points: the front, hypervolumes, a trace.

Pure numpy over `engine.metrics`, so every number the view shows is tested without Qt:
the front of the latest recorded step (all seeds pooled), its hypervolume at any
reference point, a default reference point when the run declared none, and the
hypervolume-over-time trace recomputed from the stored points, per seed and per
recorded step, for a reference point the user has moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.metrics import hypervolume, non_dominated_mask, to_minimisation
from studio.views.run_data import ParetoPoints, RunData, SeedTable

REFERENCE_MARGIN = (
    0.1  # a default reference point lies this fraction of the range beyond the worst point
)


def objective_axes(objectives: dict | None, count: int) -> tuple[list[str], list[str]]:
    """Names and directions of `count` objectives; undeclared ones are named by number and minimised."""
    names = list((objectives or {}).get("names") or [])
    directions = list((objectives or {}).get("directions") or [])
    names += [f"objective {i + 1}" for i in range(len(names), count)]
    directions += ["min"] * (count - len(directions))
    return names[:count], directions[:count]


def declared_reference(objectives: dict | None, count: int) -> list[float] | None:
    reference = (objectives or {}).get("reference_point")
    if reference is None or len(reference) != count:
        return None
    return [float(v) for v in reference]


def default_reference_point(points: np.ndarray, directions: list[str]) -> list[float]:
    """Beyond the worst value of each objective by REFERENCE_MARGIN of its range (1.0 where flat)."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    if len(finite) == 0:
        return [1.0] * len(directions)
    minimised = to_minimisation(finite, directions)
    worst, best = minimised.max(axis=0), minimised.min(axis=0)
    span = np.where(worst > best, worst - best, 1.0)
    reference = worst + REFERENCE_MARGIN * span
    sign = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    return (reference * sign).tolist()


@dataclass(eq=False)
class FrontSnapshot:
    """The points of one recorded step (every seed), with which of them are non-dominated."""

    label: str
    step: int | None
    points: np.ndarray  # [n, d]
    on_front: np.ndarray  # [n] bool
    seeds: np.ndarray
    labels: list[dict]
    names: list[str]
    directions: list[str]

    @property
    def dimensions(self) -> int:
        return self.points.shape[1] if self.points.ndim == 2 else 0

    def front_order(self, axis: int = 0) -> np.ndarray:
        """Indices of the front's points sorted along `axis` (how the front is joined)."""
        indices = np.flatnonzero(self.on_front)
        return indices[np.argsort(self.points[indices, axis], kind="stable")]

    def hypervolume(self, reference) -> float:
        if len(self.points) == 0:
            return 0.0
        return hypervolume(self.points, reference, self.directions)


def latest_front(data: RunData, label: str = "") -> FrontSnapshot:
    points = data.pareto_points
    count = (
        points.shape[1]
        if points.ndim == 2 and len(points)
        else len((data.objectives or {}).get("names", [])) or 2
    )
    names, directions = objective_axes(data.objectives, count)
    on_front = non_dominated_mask(points, directions) if len(points) else np.zeros(0, dtype=bool)
    return FrontSnapshot(
        label,
        data.pareto_step,
        points.reshape(-1, count),
        on_front,
        data.pareto_seeds,
        data.pareto_labels,
        names,
        directions,
    )


def hypervolume_trace(pareto: ParetoPoints, reference, directions: list[str]) -> SeedTable:
    """Hypervolume of each seed's points at each recorded step, as a steps x seeds table."""
    table = SeedTable()
    if len(pareto) == 0:
        return table
    steps, seeds, volumes = [], [], []
    keys = np.stack([pareto.steps, pareto.seeds], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    for index, (step, seed) in enumerate(groups.tolist()):
        members = pareto.objectives[inverse.reshape(-1) == index]
        steps.append(step)
        seeds.append(seed)
        volumes.append(hypervolume(members, reference, directions))
    table.add_many(np.array(steps), np.array(seeds), np.array(volumes))
    return table


def attainment_staircase(
    points: np.ndarray, directions: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The boundary of what two-objective `points` dominate: the front's attainment surface.

    Sorted by the first objective, each point is joined to the next by a step along the
    first objective, then one along the second, through the corner that both dominate; so
    the line bounds exactly the region the front dominates, and no line cuts a corner a
    straight segment would claim. Non-dominated points only, or the steps cross; fewer than
    two points have no staircase.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    finite = points[np.all(np.isfinite(points), axis=1)]
    if len(finite) < 2:
        return np.empty(0), np.empty(0)
    minimised = to_minimisation(finite, directions)
    order = np.lexsort((minimised[:, 1], minimised[:, 0]))
    ordered = minimised[order]
    x = np.repeat(ordered[:, 0], 2)[1:]  # x0, x1, x1, x2, x2, ...
    y = np.repeat(ordered[:, 1], 2)[:-1]  # y0, y0, y1, y1, y2, ...
    sign = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    return x * sign[0], y * sign[1]
