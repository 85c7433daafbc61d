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


def _as_points(points, n_objectives: int | None = None) -> np.ndarray:
    """Return ``points`` as a fresh float array of shape [n, d].

    An empty 1-D input (e.g. ``[]``) is accepted as "no points" and reshaped
    to [0, d] (d = ``n_objectives``, or 0 when unknown).
    """
    arr = np.array(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, n_objectives or 0)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array of shape [n, d]; got shape {arr.shape}")
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
        raise ValueError(f"directions must each be 'min' or 'max'; got invalid entries {bad!r}")
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


def non_dominated_mask(points, directions: Sequence[str] | None = None) -> np.ndarray:
    """Boolean mask [n], True for the points not dominated by any other point.

    Objectives are minimised unless ``directions`` says otherwise. Uses weak
    Pareto dominance (see module docstring): duplicates of a non-dominated
    point are all kept, rows with any NaN are always False, and infinities are
    compared as values. The NaN-free rows go to ``moocore.is_nondominated``
    (dimension sweeps, O(n log n) for up to three objectives and
    O(n log^(d-2) n) above) with ``keep_weakly=True``, which is exactly this
    convention: without it moocore keeps only the first copy of a duplicate.
    """
    pts = _minimisation_points(points, directions)
    n, d = pts.shape
    mask = np.zeros(n, dtype=bool)
    valid = ~np.isnan(pts).any(axis=1)
    if n == 0 or not valid.any():
        return mask
    if d == 0:  # no objective tells the rows apart: all are kept
        mask[valid] = True
        return mask
    import moocore  # here, not at module level: the studio imports this module at start-up

    mask[valid] = moocore.is_nondominated(_column_ranks(pts[valid]), keep_weakly=True)
    return mask


def _column_ranks(pts: np.ndarray) -> np.ndarray:
    """Each column replaced by the dense rank of its values (0 for the smallest).

    Dominance depends only on the order within each column, ties included, so the ranks
    have exactly the same non-dominated rows. They are small finite numbers, which moocore
    needs: its three-objective sweep crashes the process on -inf (moocore 0.3.2).
    """
    ranks = np.empty_like(pts)
    for column in range(pts.shape[1]):
        ranks[:, column] = np.unique(pts[:, column], return_inverse=True)[1].reshape(-1)
    return ranks


def pareto_front(points, directions: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
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
