"""Aggregation of repeated measurements over random seeds.

The Student-t quantile is computed here (no scipy dependency): exact values
for small degrees of freedom come from a table, larger ones from the
Cornish-Fisher expansion of the t quantile around the normal quantile.

What a run stores per metric and checkpoint (`AGGREGATE_FIELDS`, the store's
`series_aggregates` table) is computed by `seed_aggregates`; the aggregates of
several runs are combined by `pool_aggregates` and drawn as a band by
`band_from_aggregate`. Numpy only: the studio imports this module.
"""

from __future__ import annotations

import math

import numpy as np

# 0.975 quantile of the standard normal distribution.
_Z_975 = 1.959963984540054

# 0.975 quantiles of Student's t for df = 1..30 (index df - 1), to 6 decimals.
# Below ~30 df the asymptotic expansion loses accuracy, so these are tabulated.
_T_975_TABLE = (
    12.706205,
    4.302653,
    3.182446,
    2.776445,
    2.570582,
    2.446912,
    2.364624,
    2.306004,
    2.262157,
    2.228139,
    2.200985,
    2.178813,
    2.160369,
    2.144787,
    2.131450,
    2.119905,
    2.109816,
    2.100922,
    2.093024,
    2.085963,
    2.079614,
    2.073873,
    2.068658,
    2.063899,
    2.059539,
    2.055529,
    2.051831,
    2.048407,
    2.045230,
    2.042272,
)


def t_quantile_975(df: float) -> float:
    """0.975 quantile of Student's t with ``df`` degrees of freedom.

    This is the two-sided 95% critical value. Integer ``df`` in 1..30 is read
    from a table; ``df > 30`` (integer or not, including ``inf``) uses the
    Cornish-Fisher expansion to order 1/df^4 (Abramowitz & Stegun 26.7.5),
    whose error there is below 1e-6.

    Raises ValueError for ``df < 1`` or a non-integer ``df <= 30``.
    """
    df = float(df)
    if math.isnan(df) or df < 1:
        raise ValueError(f"degrees of freedom must be >= 1; got {df}")
    if df <= len(_T_975_TABLE):
        if df != int(df):
            raise ValueError(
                f"non-integer degrees of freedom <= {len(_T_975_TABLE)} are not supported; got {df}"
            )
        return _T_975_TABLE[int(df) - 1]
    if math.isinf(df):
        return _Z_975
    z = _Z_975
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _scalar_or_array(x):
    return x.item() if x.ndim == 0 else x


def seed_summary(values, axis: int = 0) -> dict:
    """Summarise ``values`` over seeds along ``axis``, ignoring NaNs.

    Returns a dict with, per remaining position ("column"):

    - ``n``: number of non-NaN values,
    - ``mean``: their mean,
    - ``std``: sample standard deviation (ddof=1), 0 when ``n == 1``,
    - ``sem``: standard error of the mean, ``std / sqrt(n)``,
    - ``lo``, ``hi``: 95% confidence band for the mean,
      ``mean -/+ t_{0.975, n-1} * sem``; it collapses to the mean when
      ``n == 1``.

    Columns with ``n == 0`` give NaN for every statistic. Values are Python
    scalars when ``values`` is 1-D, arrays otherwise.
    """
    arr = np.asarray(values, dtype=float)
    present = ~np.isnan(arr)
    n = present.sum(axis=axis)
    filled = np.where(present, arr, 0.0)

    # Divisions are guarded explicitly (instead of nanmean/nanstd) so that
    # empty or single-seed columns give NaN / 0 without runtime warnings.
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, filled.sum(axis=axis) / n, np.nan)
        centred = np.where(present, arr - np.expand_dims(mean, axis), 0.0)
        sum_sq = (centred**2).sum(axis=axis)
        var = np.where(n > 1, sum_sq / (n - 1), 0.0)
        std = np.where(n > 0, np.sqrt(var), np.nan)
        sem = np.where(n > 0, std / np.sqrt(n), np.nan)

    t = np.zeros(n.shape)
    for df in np.unique(n[n > 1]) - 1:
        t[n == df + 1] = t_quantile_975(df)
    half_width = t * sem

    return {
        "mean": _scalar_or_array(mean),
        "std": _scalar_or_array(std),
        "sem": _scalar_or_array(sem),
        "lo": _scalar_or_array(mean - half_width),
        "hi": _scalar_or_array(mean + half_width),
        "n": _scalar_or_array(n),
    }


# -- aggregates over seeds, as a run stores them -------------------------------------
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
QUANTILE_FIELDS = ("q05", "q25", "q50", "q75", "q95")
AGGREGATE_FIELDS = ("n", "mean", "var", "min", "max", *QUANTILE_FIELDS)


def seed_aggregates(values) -> dict:
    """Aggregates over seeds of one checkpoint's values (1-D), NaN values left out.

    Returns {field: float} for AGGREGATE_FIELDS: the count of non-NaN values, their
    mean, sample variance (ddof = 1; NaN when n < 2), min, max, and the quantiles
    QUANTILES, exact, by linear interpolation between order statistics (numpy's
    default "linear" method: position q (n - 1) in the sorted values). With n = 0
    everything but n is NaN.

    The order statistics come from a sort up to SORT_UP_TO values, and beyond from
    `order_statistics` (linear time), on the values' own dtype: converting float32 values
    to float64 changes no order, so the interpolation, done in float64, is the same.
    """
    arr = np.asarray(values).reshape(-1)
    if arr.dtype.kind != "f" or arr.dtype == np.float16:
        arr = arr.astype(np.float64)
    nan = np.isnan(arr)
    if nan.any():
        arr = arr[~nan]
    n = arr.size
    out = {"n": n}
    if n == 0:
        out.update({f: math.nan for f in AGGREGATE_FIELDS[1:]})
        return out
    wide = arr.astype(np.float64, copy=False)
    mean = float(wide.mean())
    out["mean"] = mean
    with np.errstate(invalid="ignore"):  # an infinite value: the variance is NaN, as numpy's
        deviation = wide - mean
        # multiply and sum rather than np.dot: BLAS threads fight for busy cores, 50x slower here
        np.multiply(deviation, deviation, out=deviation)
        out["var"] = float(deviation.sum() / (n - 1)) if n > 1 else math.nan
    ranks = [(q * (n - 1), math.floor(q * (n - 1))) for q in QUANTILES]
    if n <= SORT_UP_TO:
        ordered = np.sort(arr)
        out["min"], out["max"] = float(ordered[0]), float(ordered[-1])
    else:
        ordered = order_statistics(
            arr, [k for _, below in ranks for k in (below, min(below + 1, n - 1))]
        )
        out["min"], out["max"] = float(arr.min()), float(arr.max())
    for name, (position, below) in zip(QUANTILE_FIELDS, ranks):
        lo, hi = float(ordered[below]), float(ordered[min(below + 1, n - 1)])
        out[name] = _lerp1(lo, hi, position - below)
    return out


SORT_UP_TO = 1 << 15  # below this a sort is faster than partitioning around each rank


def _lerp1(a: float, b: float, t: float) -> float:
    """a + (b - a) t as numpy's quantile computes it (from b when t >= 0.5); a where a == b,
    infinities included."""
    if a == b:
        return a
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def order_statistics(values: np.ndarray, ranks) -> np.ndarray:
    """A copy of `values` in which the entry at each of `ranks` (0-based) is the one a sort
    would put there, found by partitioning in place around the middle rank and then each
    side for the ranks there: about n log2(len(ranks)) work. (np.partition with several kth
    at once was 3-4x slower here.)"""
    work = np.array(values, copy=True)
    pending = [(0, len(work), sorted(set(int(k) for k in ranks)))]
    while pending:
        lo, hi, ks = pending.pop()
        if not ks:
            continue
        mid = ks[len(ks) // 2]
        work[lo:hi].partition(mid - lo)
        pending.append((lo, mid, [k for k in ks if k < mid]))
        pending.append((mid + 1, hi, [k for k in ks if k > mid]))
    return work


def band_from_aggregate(n, mean, var):
    """The 95% t-band of the mean from stored aggregates: mean -/+ t_{0.975, n-1} sqrt(var / n).

    Collapses to the mean where n == 1 (and NaN where n == 0). A variance that came out
    a little below zero by rounding counts as zero. Scalars in, floats out; arrays in,
    arrays out.
    """
    n_arr = np.asarray(n, dtype=float)
    mean_arr = np.asarray(mean, dtype=float)
    var_arr = np.clip(np.nan_to_num(np.asarray(var, dtype=float), nan=0.0), 0.0, None)
    n_b, mean_b, var_b = np.broadcast_arrays(n_arr, mean_arr, var_arr)
    t = np.zeros(n_b.shape)
    for count in np.unique(n_b[n_b > 1]):
        t[n_b == count] = t_quantile_975(count - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(n_b > 1, t * np.sqrt(var_b / np.where(n_b > 0, n_b, 1)), 0.0)
    mean_b = np.where(n_b > 0, mean_b, np.nan)
    lo, hi = mean_b - half, mean_b + half
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def pool_aggregates(parts: list[dict]) -> dict:
    """Aggregates of several runs (or of disjoint sets of seeds) as one, step by step.

    Each part is a dict of arrays as `Store.aggregate_arrays` gives them (step, n, mean,
    var, min, max, q05 ... q95; wall_time optional). The result has the same keys over
    the union of the parts' steps, sorted; a part without a step adds nothing there.

    Exact: counts add; the mean is the n-weighted mean; the variance pools the parts' sums
    of squared deviations, M2 = sum_i (M2_i + n_i (mean_i - mean)^2) with M2_i =
    (n_i - 1) var_i (Chan, Golub and LeVeque's parallel formula); min and max are the
    parts' min and max. Approximate: the quantiles. Each part's distribution is taken as
    the piecewise-linear quantile function through (0, min), (0.05, q05), ..., (0.95,
    q95), (1, max); the pooled quantile is that of their mixture, weighted by n (found by
    inverting the mixture's distribution function, which is linear between the parts'
    knots). One part gives its own quantiles back; parts from the same distribution give
    nearly its quantiles; a pooled median is not the median of the pooled values in general.
    wall_time is the largest of the parts' (the time the last part reached the step).
    """
    parts = [p for p in parts if len(np.asarray(p["step"]))]
    keys = ("n", "mean", "var", "min", "max", *QUANTILE_FIELDS)
    if not parts:
        return {
            "step": np.zeros(0, dtype=np.int64),
            **{k: np.zeros(0) for k in keys},
            "wall_time": np.zeros(0),
        }
    step = np.concatenate([np.asarray(p["step"], dtype=np.int64) for p in parts])
    cols = {k: np.concatenate([np.asarray(p[k], dtype=float) for p in parts]) for k in keys}
    wall = np.concatenate(
        [
            np.asarray(p["wall_time"], dtype=float)
            if "wall_time" in p
            else np.full(len(p["step"]), np.nan)
            for p in parts
        ]
    )
    order = np.argsort(step, kind="stable")
    step, wall = step[order], wall[order]
    cols = {k: v[order] for k, v in cols.items()}
    steps, starts = np.unique(step, return_index=True)

    n = cols["n"]
    some = n > 0
    total = np.add.reduceat(n, starts)
    weighted = np.add.reduceat(np.where(some, n * np.nan_to_num(cols["mean"]), 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, weighted / np.where(total > 0, total, 1), np.nan)
        group_mean = np.repeat(mean, np.diff(np.r_[starts, len(step)]))
        own = np.where(n > 1, (n - 1) * np.nan_to_num(cols["var"]), 0.0)
        between = np.where(some, n * (np.nan_to_num(cols["mean"]) - group_mean) ** 2, 0.0)
        m2 = np.add.reduceat(own + between, starts)
        var = np.where(total > 1, m2 / np.where(total > 1, total - 1, 1), np.nan)
    low = np.where(some, cols["min"], np.inf)
    high = np.where(some, cols["max"], -np.inf)
    pooled = {
        "step": steps,
        "n": total,
        "mean": mean,
        "var": var,
        "min": np.where(total > 0, np.minimum.reduceat(low, starts), np.nan),
        "max": np.where(total > 0, np.maximum.reduceat(high, starts), np.nan),
    }
    ends = np.r_[starts[1:], len(step)]
    quantiles = np.full((len(steps), len(QUANTILES)), np.nan)
    knots_p = np.array([0.0, *QUANTILES, 1.0])
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        rows = [j for j in range(a, b) if n[j] > 0]
        if not rows:
            continue
        knots = np.array(
            [[cols["min"][j], *(cols[q][j] for q in QUANTILE_FIELDS), cols["max"][j]] for j in rows]
        )
        if len(rows) == 1 or not np.isfinite(knots).all():
            quantiles[i] = knots[0, 1:-1] if len(rows) == 1 else np.nan
            continue
        weights = n[rows] / n[rows].sum()
        xs = np.unique(knots)
        cdf = sum(w * np.interp(xs, k, knots_p) for w, k in zip(weights, knots))
        quantiles[i] = _invert(xs, cdf, np.asarray(QUANTILES))
    for j, name in enumerate(QUANTILE_FIELDS):
        pooled[name] = quantiles[:, j]
    pooled["wall_time"] = np.fmax.reduceat(wall, starts) if len(wall) else wall
    return pooled


def _invert(xs: np.ndarray, cdf: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The smallest x with F(x) = p on a non-decreasing piecewise-linear F through (xs, cdf)."""
    out = np.empty(len(probabilities))
    for i, p in enumerate(probabilities):
        k = int(np.searchsorted(cdf, p, side="left"))
        if k == 0:
            out[i] = xs[0]
        elif k >= len(xs):
            out[i] = xs[-1]
        else:
            f0, f1 = cdf[k - 1], cdf[k]
            out[i] = xs[k] if f1 == f0 else xs[k - 1] + (xs[k] - xs[k - 1]) * (p - f0) / (f1 - f0)
    return out
