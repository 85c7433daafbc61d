"""Exact hypervolume indicator.

Convention: minimisation. Points and the reference point are mapped with
:func:`engine.metrics.pareto.to_minimisation` (maximised objectives negated),
after which the hypervolume is the Lebesgue measure of the union of the boxes
``[p, reference]`` over all points ``p``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.metrics.pareto import _as_points, _maximise_mask


def _hypervolume_2d(pts: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by 2-objective points that all strictly dominate ``ref``.

    Sort by x and keep only rows that strictly improve on the best y seen so
    far; what remains is a staircase with x non-decreasing and y strictly
    decreasing (duplicates and dominated rows are dropped). The area is then a
    sum of disjoint rectangles, each spanning from its own x to the next
    staircase x (or the reference x) and from its y up to the reference y.

    Ties in x need no secondary sort on y: of several kept rows sharing an x,
    all but the last (the lowest y) get a zero width, so they add nothing. A
    plain argsort on x is several times faster than a lexicographic sort.
    """
    order = np.argsort(pts[:, 0])
    x = pts[order, 0]
    y = pts[order, 1]
    best_before = np.empty_like(y)
    best_before[0] = np.inf
    best_before[1:] = np.minimum.accumulate(y)[:-1]
    step = y < best_before
    x = x[step]
    y = y[step]
    widths = np.diff(np.append(x, ref[0]))
    heights = ref[1] - y
    return float(np.sum(widths * heights))


def hypervolume(points, reference_point, directions: Sequence[str] | None = None) -> float:
    """Exact hypervolume of ``points`` [n, d] bounded by ``reference_point`` [d].

    Objectives are minimised unless ``directions`` gives ``"min"``/``"max"``
    per objective; the reference point is transformed exactly like the points,
    so for a maximised objective it should lie below the points.

    Rows containing NaN are dropped, as are points that do not strictly
    dominate the reference point in every objective (they enclose no volume).
    Empty input gives 0.0. One and two objectives are computed here with an
    O(n log n) sweep; three or more objectives are delegated to
    ``moocore.hypervolume``.

    Raises ValueError if the reference point is not a finite 1-D vector
    matching the number of objectives.
    """
    ref = np.array(reference_point, dtype=float)
    if ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"reference_point must be a non-empty 1-D vector; got shape {ref.shape}")
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"reference_point must be finite; got {ref.tolist()}")
    d = ref.size
    pts = _as_points(points, d)
    if directions is not None:
        maximise = _maximise_mask(directions)
        if maximise.size != d:
            raise ValueError(
                f"{maximise.size} directions given for a {d}-objective reference point"
            )
        pts[:, maximise] *= -1.0
        ref[maximise] *= -1.0

    # NaN compares False, so this also drops NaN rows.
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        return _hypervolume_2d(pts, ref)

    # Imported lazily: only the d >= 3 path needs it, and it keeps the
    # import of this package cheap for the GUI.
    import moocore

    return float(moocore.hypervolume(pts, ref=ref))
