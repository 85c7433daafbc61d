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
import threading

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

    Returns {field: float} for AGGREGATE_FIELDS (n an int): the count of non-NaN values,
    their mean, sample variance (ddof = 1; NaN when n < 2), min, max, and the quantiles
    QUANTILES, exact, by linear interpolation between order statistics (numpy's default
    "linear" method: position q (n - 1) in the sorted values). With n = 0 everything but
    n is NaN. The same numbers as row `i` of `seed_aggregate_rows` of a table whose row
    `i` holds these values, bit for bit.
    """
    row = seed_aggregate_rows(np.reshape(np.asarray(values), (1, -1)))[0].tolist()
    out = dict(zip(AGGREGATE_FIELDS, row))
    out["n"] = int(out["n"])
    return out


SORT_UP_TO = 1 << 15  # up to this many values a sort is faster than partitioning around each rank
_CHUNK = 1 << 16  # values whose deviations from the mean are squared at a time, in a kept buffer


def seed_aggregate_rows(table) -> np.ndarray:
    """`seed_aggregates` of each row of a 2-D table (checkpoints x seeds), as a float64
    array of rows x AGGREGATE_FIELDS (n first, as a float).

    One vectorised pass serves every row of up to SORT_UP_TO values without a NaN: the
    per-call overhead of numpy is paid once for the table, not once per checkpoint. A row
    with a NaN is aggregated on its own, over its non-NaN values; wider rows one by one,
    by partitioning (linear time) in a buffer kept by the thread. float32 and float64
    values are read as they are (the order statistics of float32 values are those of
    their float64 conversions; sums, deviations and interpolation are done in float64);
    other dtypes are converted to float64 first.
    """
    table = np.asarray(table)
    if table.ndim != 2:
        raise ValueError(f"a table of checkpoints x seeds is 2-D; got shape {table.shape}")
    if table.dtype not in (np.float32, np.float64):
        table = table.astype(np.float64)
    # An infinite value makes the mean infinite and the variance NaN (inf - inf), as numpy's;
    # +inf beside -inf makes the mean NaN too: no warnings for either.
    with np.errstate(invalid="ignore", over="ignore"):
        return _table_rows(table)


def _table_rows(table: np.ndarray) -> np.ndarray:
    rows, width = table.shape
    out = np.empty((rows, len(AGGREGATE_FIELDS)))
    if width > SORT_UP_TO:
        for i in range(rows):
            out[i] = _wide_row(table[i])
        return out
    if rows == 0:
        return out
    if width == 0:
        out[:] = math.nan
        out[:, 0] = 0
        return out
    wide = _buffer("wide", np.float64, table.size).reshape(table.shape)
    if table.dtype == np.float64:
        sums = table.sum(axis=1)  # (the same sums as of a copy: `wide` gets the deviations)
    else:
        np.copyto(wide, table)
        sums = wide.sum(axis=1)
    # A NaN makes its row's sum NaN (so does +inf beside -inf: that row goes the slow way too).
    holes = np.isnan(sums)
    if holes.any():
        clean = ~holes
        if clean.any():  # (before the rows with a NaN: those reuse the buffers)
            out[clean] = _sorted_rows(table[clean], wide[clean], sums[clean])
        for i in np.flatnonzero(holes).tolist():
            out[i] = _row_without_nan(table[i])
        return out
    out[:] = _sorted_rows(table, wide, sums)
    return out


def _sorted_rows(table: np.ndarray, wide: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Aggregates of rows without NaN of 1..SORT_UP_TO values: `wide` a float64 buffer of
    the table's shape (overwritten here), `sums` the table's row sums in float64."""
    rows, n = table.shape
    out = np.empty((rows, len(AGGREGATE_FIELDS)))
    out[:, 0] = n
    mean = sums / n
    out[:, 1] = mean
    # (float32 values are converted to float64 exactly before the subtraction)
    deviation = np.subtract(table, mean[:, None], out=wide)
    # multiply and sum rather than np.dot: BLAS threads fight for busy cores, 50x slower here
    np.multiply(deviation, deviation, out=deviation)
    out[:, 2] = deviation.sum(axis=1) / (n - 1) if n > 1 else math.nan
    ordered = _buffer("order", table.dtype, table.size).reshape(table.shape)
    np.copyto(ordered, table)
    ordered.sort(axis=1)
    out[:, 3], out[:, 4] = ordered[:, 0], ordered[:, -1]
    below, above, t = _ranks(n)
    out[:, 5:] = _lerp(ordered[:, below].astype(np.float64), ordered[:, above], t)
    return out


def _ranks(n: int):
    """For each of QUANTILES: the order statistic at or below position q (n - 1), the next
    one (capped at n - 1), and the fraction of the way between them (as Python computes it)."""
    positions = [q * (n - 1) for q in QUANTILES]
    below = [math.floor(p) for p in positions]
    above = [min(k + 1, n - 1) for k in below]
    return below, above, np.array([p - k for p, k in zip(positions, below)])


def _lerp(a: np.ndarray, b: np.ndarray, t) -> np.ndarray:
    """a + (b - a) t as numpy's quantile computes it (from b when t >= 0.5); a where a == b,
    infinities included."""
    diff = b - a
    return np.where(a == b, a, np.where(t >= 0.5, b - diff * (1 - t), a + diff * t))


def _row_without_nan(row: np.ndarray) -> np.ndarray:
    values = row[~np.isnan(row)]
    if values.size == 0:
        return np.array([0.0] + [math.nan] * (len(AGGREGATE_FIELDS) - 1))
    if values.size > SORT_UP_TO:
        return _wide_row(values, without_nan=True)
    wide = values[None].astype(np.float64)
    return _sorted_rows(values[None], wide, wide.sum(axis=1))[0]


_scratch = threading.local()


def _buffer(name: str, dtype, size: int) -> np.ndarray:
    """A buffer of `size` values of `dtype` kept by this thread and reused by the next call:
    a fresh array of millions of values costs a page fault per 4 KiB on first touch, more
    than partitioning it. It grows to the largest size asked for."""
    key = (name, np.dtype(dtype).char)
    kept = getattr(_scratch, "buffers", None)
    if kept is None:
        kept = _scratch.buffers = {}
    buffer = kept.get(key)
    if buffer is None or buffer.size < size:
        buffer = kept[key] = np.empty(size, dtype)
    return buffer[:size]


def _wide_row(row: np.ndarray, without_nan: bool = False) -> np.ndarray:
    """Aggregates of one row of more than SORT_UP_TO float32 or float64 values, without a
    converted copy: sums accumulate in float64, squared deviations are formed a chunk at a
    time, and the order statistics come from partitioning a copy in a kept buffer.
    `without_nan`: the caller has left the NaN values out already."""
    total = row.sum(dtype=np.float64)
    if math.isnan(total) and not without_nan:  # a NaN, or +inf beside -inf
        return _row_without_nan(row)
    n = row.size
    out = np.empty(len(AGGREGATE_FIELDS))
    out[0] = n
    mean = total / n
    out[1] = mean
    squares = 0.0
    deviation = _buffer("deviation", np.float64, min(n, _CHUNK))
    for start in range(0, n, _CHUNK):
        part = row[start : start + _CHUNK]
        d = deviation[: part.size]
        np.subtract(part, mean, out=d, dtype=np.float64)
        np.multiply(d, d, out=d)
        squares += d.sum()
    out[2] = squares / (n - 1)
    below, above, t = _ranks(n)
    pairs = _bracketed_pairs(row, below)
    if pairs is not None:
        lo, hi = pairs
        out[3] = row.min()
        out[4] = row.max()
    else:
        work = _buffer("order", row.dtype, n)
        np.copyto(work, row)
        lo, hi = _partitioned_pairs(work, below)
        out[3] = work[: below[0] + 1].min()
        out[4] = work[below[-1] :].max()
    out[5:] = _lerp(np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64), t)
    return out


# A wide row of n values is sampled at about _SAMPLE_PER_ROOT sqrt(n) values to bracket
# its order statistics: a larger sample costs more to sort, a smaller one leaves wider
# brackets to partition (a fraction of about 1 / sqrt(sample) of the row each).
_SAMPLE_PER_ROOT = 32
_BRACKET_SIGMAS = 3.5  # a bracket's half-width, in standard deviations of a sample rank


def sample_stride(n: int) -> int:
    """The stride of the sample `_bracketed_pairs` sorts from a row of n values."""
    return max(1, n // (_SAMPLE_PER_ROOT * math.isqrt(n)))


def _bracketed_pairs(row: np.ndarray, ranks: list) -> tuple[list, list] | None:
    """The order statistics at `ranks` and at the rank after each (the last rank's own
    where it is the last), as `_partitioned_pairs` gives them, found without partitioning
    the row: a sample of it (every (n // _SAMPLE)-th value) is sorted; for rank k the
    sample's values around position k m / n bracket the k-th smallest value of the row
    with high probability ([lo, hi], `_BRACKET_SIGMAS` standard deviations of the sample
    rank each side; the sample has about _SAMPLE_PER_ROOT sqrt(n) values); one comparison
    pass counts the values below lo and one takes the values in [lo, hi], a few percent of
    the row, which are partitioned. A comparison pass costs a small fraction of a partition
    (about 0.02 against 1 ms for 10^5 float64 values): the five quantiles' pairs cost a
    third to a half of partitioning around them (bench/README.md). The result is exact
    whatever the sample: None when a bracket missed its rank (the caller then partitions),
    which the counts tell; with iid seeds a bracket misses about once in 2,000 ranks."""
    n = row.size
    sample = np.sort(row[:: sample_stride(n)])
    m = sample.size
    at, after = [], []
    for k in ranks:
        q = (k + 0.5) / n
        half = _BRACKET_SIGMAS * math.sqrt(m * q * (1.0 - q)) + 2.0
        centre = q * m
        lo = sample[max(0, int(centre - half))]
        hi = sample[min(m - 1, int(centre + half) + 1)]
        from_lo = row >= lo
        first = n - np.count_nonzero(from_lo)  # the rank of the first value >= lo
        last = k + 1 if k + 1 < n else k  # the highest rank wanted
        if first > k:
            return None
        inside = row[np.logical_and(from_lo, row <= hi, out=from_lo)]
        if first + inside.size <= last:
            return None
        j = k - first
        inside.partition((j, last - first) if last > k else j)
        at.append(inside[j])
        after.append(inside[last - first])
    return at, after


def _partitioned_pairs(work: np.ndarray, ranks: list) -> tuple[list, list]:
    """The order statistics at `ranks` (ascending, 0-based) and at the rank after each (the
    last rank's own where it is the last), partitioning `work` in place: around the rank
    nearest the middle of the stretch, then each side around the ranks there. For the
    ranks of QUANTILES that is 2.5 n values partitioned (the median over n, the quartiles
    over n / 2 each, the 5 % and 95 % points over n / 4 each); taking the middle rank of
    the list instead (the 95 % point before the 75 % one) partitions 2.7 n. The
    statistic after rank k is then the smallest value between k and the next partitioned
    rank, a min over that stretch rather than one more partition."""
    distinct = sorted(set(ranks))
    pending = [(0, len(work), distinct)]
    while pending:
        lo, hi, ks = pending.pop()
        if not ks:
            continue
        centre = (lo + hi - 1) / 2
        mid = min(ks, key=lambda k: abs(k - centre))
        work[lo:hi].partition(mid - lo)
        pending.append((lo, mid, [k for k in ks if k < mid]))
        pending.append((mid + 1, hi, [k for k in ks if k > mid]))
    n = len(work)
    bounds = dict(zip(distinct, [*distinct[1:], n]))
    at = [work[k] for k in ranks]
    after = []
    for k in ranks:
        end = bounds[k]
        if k + 1 >= n:
            after.append(work[k])
        elif k + 1 == end:
            after.append(work[end])
        else:
            after.append(work[k + 1 : end].min())
    return at, after


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
