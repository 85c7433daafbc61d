"""Aggregation of repeated measurements over random seeds.

The Student-t quantile is computed here (no scipy dependency): exact values
for small degrees of freedom come from a table, larger ones from the
Cornish-Fisher expansion of the t quantile around the normal quantile.
"""

from __future__ import annotations

import math

import numpy as np

# 0.975 quantile of the standard normal distribution.
_Z_975 = 1.959963984540054

# 0.975 quantiles of Student's t for df = 1..30 (index df - 1), to 6 decimals.
# Below ~30 df the asymptotic expansion loses accuracy, so these are tabulated.
_T_975_TABLE = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582,
    2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
    2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539,
    2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
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
                f"non-integer degrees of freedom <= {len(_T_975_TABLE)} "
                f"are not supported; got {df}"
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
