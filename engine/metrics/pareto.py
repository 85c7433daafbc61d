"""Pareto dominance utilities.

Convention: every function works in *minimisation* space. Objectives that
should be maximised are declared with ``directions`` (one ``"min"`` or
``"max"`` per objective) and are negated by :func:`to_minimisation` before any
comparison, so "smaller is better" holds everywhere after that point.

Dominance is the usual weak Pareto dominance: ``a`` dominates ``b`` when
``a <= b`` in every objective and ``a < b`` in at least one. Consequently exact
duplicates never dominate each other, and all copies of a non-dominated point
are on the front. Rows containing NaN are never on the front and never
dominate anything; infinities are ordinary (extreme) values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_VALID_DIRECTIONS = ("min", "max")

# Upper bound on the number of boolean cells materialised at once by the
# d >= 3 filter, so memory stays bounded (~4 MiB per temporary) for large n.
_BLOCK_CELLS = 1 << 22


def _as_points(points, n_objectives: int | None = None) -> np.ndarray:
    """Return ``points`` as a fresh float array of shape [n, d].

    An empty 1-D input (e.g. ``[]``) is accepted as "no points" and reshaped
    to [0, d] (d = ``n_objectives``, or 0 when unknown).
    """
    arr = np.array(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, n_objectives or 0)
    if arr.ndim != 2:
        raise ValueError(
            f"points must be a 2-D array of shape [n, d]; got shape {arr.shape}"
        )
    if n_objectives is not None and arr.shape[1] != n_objectives:
        raise ValueError(
            f"points have {arr.shape[1]} objectives but {n_objectives} "
            "directions/reference coordinates were given"
        )
    return arr


def _maximise_mask(directions: Sequence[str]) -> np.ndarray:
    """Parse ``directions`` into a boolean array, True where maximised."""
    if isinstance(directions, str):
        raise ValueError(
            "directions must be a sequence with one 'min'/'max' per objective, "
            f"not the single string {directions!r}"
        )
    dirs = list(directions)
    bad = [d for d in dirs if d not in _VALID_DIRECTIONS]
    if bad:
        raise ValueError(
            f"directions must each be 'min' or 'max'; got invalid entries {bad!r}"
        )
    return np.array([d == "max" for d in dirs], dtype=bool)


def to_minimisation(points, directions: Sequence[str]) -> np.ndarray:
    """Map ``points`` [n, d] into minimisation space.

    Returns a float copy of ``points`` in which every objective whose direction
    is ``"max"`` is negated, so that smaller is better in every column.

    Raises ValueError if ``points`` is not 2-D, if ``directions`` does not have
    one entry per objective, or if an entry is not ``"min"`` or ``"max"``.
    """
    maximise = _maximise_mask(directions)
    arr = _as_points(points, len(maximise))
    arr[:, maximise] *= -1.0
    return arr


def _minimisation_points(points, directions) -> np.ndarray:
    if directions is None:
        return _as_points(points)
    return to_minimisation(points, directions)


def _non_dominated_2d(pts: np.ndarray) -> np.ndarray:
    """Non-dominated mask for NaN-free 2-objective points, O(n log n)."""
    n = len(pts)
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x = pts[order, 0]
    y = pts[order, 1]

    # Rows sharing the same first objective form a group; after the
    # lexicographic sort the first row of each group holds the group's
    # smallest second objective.
    group_start = np.ones(n, dtype=bool)
    group_start[1:] = x[1:] != x[:-1]
    start_idx = np.flatnonzero(group_start)
    group_id = np.cumsum(group_start) - 1
    group_min_y = y[start_idx][group_id]

    # Best second objective among all rows with a strictly smaller first
    # objective, i.e. the running minimum just before the group starts.
    running_min = np.minimum.accumulate(y)
    prev_min_per_group = np.empty(len(start_idx))
    prev_min_per_group[1:] = running_min[start_idx[1:] - 1]
    has_prev = np.ones(len(start_idx), dtype=bool)
    has_prev[0] = False  # the first group has no row with smaller x

    prev_min = prev_min_per_group[group_id]
    # A row survives if nothing in its own group has a smaller y (ties are
    # duplicates and do not dominate) and every row with smaller x has a
    # strictly larger y (an equal y with smaller x would dominate it).
    keep_sorted = (y == group_min_y) & (~has_prev[group_id] | (y < prev_min))

    mask = np.empty(n, dtype=bool)
    mask[order] = keep_sorted
    return mask


def _non_dominated_blockwise(pts: np.ndarray) -> np.ndarray:
    """Non-dominated mask for NaN-free points of any dimension, O(n^2 d)."""
    n, d = pts.shape
    dominated = np.zeros(n, dtype=bool)
    block = max(1, _BLOCK_CELLS // max(1, n * d))
    others = pts[None, :, :]
    for start in range(0, n, block):
        cand = pts[start : start + block, None, :]
        no_worse = np.all(others <= cand, axis=2)
        better = np.any(others < cand, axis=2)
        dominated[start : start + block] = np.any(no_worse & better, axis=1)
    return ~dominated


def non_dominated_mask(points, directions: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask [n], True for the points not dominated by any other point.

    Objectives are minimised unless ``directions`` says otherwise. Uses weak
    Pareto dominance (see module docstring): duplicates of a non-dominated
    point are all kept, rows with any NaN are always False, and infinities are
    compared as values. Two objectives run in O(n log n); other dimensions use
    a vectorised O(n^2 d) pairwise filter.
    """
    pts = _minimisation_points(points, directions)
    n, d = pts.shape
    mask = np.zeros(n, dtype=bool)
    valid = ~np.isnan(pts).any(axis=1)
    if n == 0 or not valid.any():
        return mask
    rows = pts[valid]
    if d == 1:
        sub = rows[:, 0] == rows[:, 0].min()
    elif d == 2:
        sub = _non_dominated_2d(rows)
    else:
        sub = _non_dominated_blockwise(rows)
    mask[valid] = sub
    return mask


def pareto_front(
    points, directions: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(front_points, indices)`` of the non-dominated points.

    ``front_points`` are the original (untransformed) rows as floats,
    ``indices`` their row numbers in ``points``. Both are sorted by the first
    objective's original value ascending, ties broken by the following
    objectives, so the order is deterministic.
    """
    arr = _as_points(points, None if directions is None else len(directions))
    indices = np.flatnonzero(non_dominated_mask(arr, directions))
    front = arr[indices]
    if len(front):
        # np.lexsort uses the last key as primary, hence the reversed columns.
        order = np.lexsort(front.T[::-1])
        indices = indices[order]
        front = front[order]
    return front, indices
