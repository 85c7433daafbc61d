"""Do two groups of runs differ at a summary metric? Tests between groups of per-seed values.

For every pair of groups (A, B), on the per-seed values of each group:

- Welch's t-test (unequal variances), two-sided:
  t = (mean_A - mean_B) / sqrt(s_A^2 / n_A + s_B^2 / n_B), with the Welch-Satterthwaite
  degrees of freedom df = (s_A^2/n_A + s_B^2/n_B)^2 / ((s_A^2/n_A)^2/(n_A-1) + (s_B^2/n_B)^2/(n_B-1));
- the Mann-Whitney U test, two-sided (exact for small samples without ties, the normal
  approximation with tie correction otherwise: scipy's "auto");
- Holm's step-down correction of each test's p-values across the pairs (Holm 1979):
  with p_(1) <= ... <= p_(m), the adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j));
- the effect size in two forms: the difference of means mean_A - mean_B with its Welch
  95% CI (diff -/+ t_{0.975, df} * se), in the metric's own units; and Hedges' g, the
  standardised difference d = (mean_A - mean_B) / s_pooled times the exact small-sample
  correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n_A + n_B - 2, with
  the large-sample 95% CI g -/+ z_{0.975} sqrt((n_A + n_B)/(n_A n_B) + g^2 / (2 (n_A + n_B)))
  (the large-sample variance of Hedges and Olkin, Statistical Methods for Meta-Analysis, 1985).

The tests themselves are scipy.stats' (imported inside the functions: the studio starts
without scipy). Numpy and the standard library otherwise; no Qt, no torch.
"""

from __future__ import annotations

import csv
import importlib
import io
import itertools
import math
import sys
import threading
from dataclasses import asdict, dataclass

import numpy as np

_Z_975 = 1.959963984540054


def _clean(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    return arr[np.isfinite(arr)]


_preload: threading.Thread | None = None


def ready() -> bool:
    """False while `preload_in_background`'s import is under way: a test run now would wait
    for it (holding the caller's thread); otherwise the tests import what they need."""
    return _preload is None or not _preload.is_alive()


def preload_in_background() -> None:
    """Import scipy.stats in a thread of its own, once.

    The first test between groups would otherwise import it on the GUI thread: about
    0.7 s of CPU, a multi-second freeze of the window on a loaded machine (measured by
    bench/sweep_stall.py). A view that will show tests calls this when it opens; by the
    time a test is computed the import is done, or the test waits only for its rest.
    """
    global _preload
    if _preload is None and "scipy.stats" not in sys.modules:
        _preload = threading.Thread(
            target=importlib.import_module, args=("scipy.stats",), name="scipy-import", daemon=True
        )
        _preload.start()


@dataclass(frozen=True)
class WelchResult:
    t: float
    df: float
    p: float
    difference: float  # mean_A - mean_B
    lo: float  # Welch 95% CI of the difference
    hi: float


def welch_t_test(a, b) -> WelchResult:
    """Welch's two-sided t-test of mean(a) == mean(b), and the difference's 95% CI.

    NaN throughout when a group has fewer than two finite values, or when both groups have
    zero variance (the statistic is then undefined, not infinitely significant)."""
    a, b = _clean(a), _clean(b)
    nan = math.nan
    if len(a) < 2 or len(b) < 2:
        return WelchResult(nan, nan, nan, nan, nan, nan)
    difference = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se2 = va + vb
    if se2 <= 0:
        return WelchResult(nan, nan, nan, difference, nan, nan)
    from scipy import stats

    result = stats.ttest_ind(a, b, equal_var=False)
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(se2)
    return WelchResult(
        float(result.statistic), float(df), float(result.pvalue), difference,
        difference - half, difference + half,
    )  # fmt: skip


@dataclass(frozen=True)
class MannWhitneyResult:
    u: float  # U of the first group: the number of pairs (a, b) with a > b, ties counting 1/2
    p: float


def mann_whitney_u(a, b) -> MannWhitneyResult:
    """The two-sided Mann-Whitney U test; NaN when a group is empty."""
    a, b = _clean(a), _clean(b)
    if len(a) == 0 or len(b) == 0:
        return MannWhitneyResult(math.nan, math.nan)
    from scipy import stats

    result = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    return MannWhitneyResult(float(result.statistic), float(result.pvalue))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given. NaN entries stay NaN and do
    not count among the m hypotheses."""
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def hedges_correction(df: float) -> float:
    """J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)): makes d unbiased (about 1 - 3/(4 df - 1))."""
    return math.exp(math.lgamma(df / 2) - math.lgamma((df - 1) / 2)) / math.sqrt(df / 2)


@dataclass(frozen=True)
class EffectSize:
    g: float  # Hedges' g of mean_A - mean_B
    lo: float  # its large-sample 95% CI
    hi: float


def hedges_g(a, b) -> EffectSize:
    """Hedges' g of a against b with its large-sample 95% CI; NaN when a group has fewer
    than two values or the pooled standard deviation is zero."""
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return EffectSize(math.nan, math.nan, math.nan)
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled <= 0:
        return EffectSize(math.nan, math.nan, math.nan)
    g = hedges_correction(na + nb - 2) * (a.mean() - b.mean()) / math.sqrt(pooled)
    se = math.sqrt((na + nb) / (na * nb) + g * g / (2 * (na + nb)))
    return EffectSize(float(g), float(g - _Z_975 * se), float(g + _Z_975 * se))


@dataclass(frozen=True)
class PairComparison:
    """One row of the table: group A against group B."""

    group_a: str
    group_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    difference_lo: float
    difference_hi: float
    hedges_g: float
    hedges_g_lo: float
    hedges_g_hi: float
    welch_t: float
    welch_df: float
    welch_p: float
    welch_p_holm: float
    mwu_u: float
    mwu_p: float
    mwu_p_holm: float


# Above this many values in both groups, scipy's "auto" Mann-Whitney is the asymptotic one,
# ties or not: pairs of such groups are tested together, one scipy call for all of them.
BATCH_ABOVE = 8


def compare_groups(groups: dict[str, object]) -> list[PairComparison]:
    """Every pair of groups (in the order given: (1, 2), (1, 3), ..., (2, 3), ...) compared
    on their per-seed values; each test's p-values Holm-corrected across the pairs.

    The pairs whose groups both have more than BATCH_ABOVE finite values are tested
    together, per pair of sizes, by one call of each scipy test along an axis
    (`_batched_tests`): the same numbers as `welch_t_test`, `mann_whitney_u` and `hedges_g`
    pair by pair (tested), for a fraction of the interpreter's time. That time holds the
    GIL, which the studio's GUI thread needs (28 pairs: about 33 ms of CPU pair by pair)."""
    labels = list(groups)
    data = {label: _clean(groups[label]) for label in labels}
    pairs = list(itertools.combinations(labels, 2))
    results: list = [None] * len(pairs)
    batches: dict[tuple[int, int], list[int]] = {}
    for i, (first, second) in enumerate(pairs):
        a, b = data[first], data[second]
        if len(a) > BATCH_ABOVE and len(b) > BATCH_ABOVE:
            batches.setdefault((len(a), len(b)), []).append(i)
        else:
            results[i] = (welch_t_test(a, b), mann_whitney_u(a, b), hedges_g(a, b))
    for indices in batches.values():
        tested = _batched_tests(
            np.stack([data[pairs[i][0]] for i in indices]),
            np.stack([data[pairs[i][1]] for i in indices]),
        )
        for i, result in zip(indices, tested):
            results[i] = result
    rows = []
    for (first, second), (welch, mwu, effect) in zip(pairs, results):
        a, b = data[first], data[second]
        rows.append(
            dict(
                group_a=first,
                group_b=second,
                n_a=len(a),
                n_b=len(b),
                mean_a=float(a.mean()) if len(a) else math.nan,
                mean_b=float(b.mean()) if len(b) else math.nan,
                difference=welch.difference
                if not math.isnan(welch.difference)
                else (float(a.mean() - b.mean()) if len(a) and len(b) else math.nan),
                difference_lo=welch.lo,
                difference_hi=welch.hi,
                hedges_g=effect.g,
                hedges_g_lo=effect.lo,
                hedges_g_hi=effect.hi,
                welch_t=welch.t,
                welch_df=welch.df,
                welch_p=welch.p,
                mwu_u=mwu.u,
                mwu_p=mwu.p,
            )
        )
    welch_holm = holm([r["welch_p"] for r in rows])
    mwu_holm = holm([r["mwu_p"] for r in rows])
    return [
        PairComparison(**row, welch_p_holm=float(w), mwu_p_holm=float(m))
        for row, w, m in zip(rows, welch_holm, mwu_holm)
    ]


def _batched_tests(a: np.ndarray, b: np.ndarray) -> list[tuple]:
    """(WelchResult, MannWhitneyResult, EffectSize) of each row pair of a [pairs, n_a] and
    b [pairs, n_b] (finite values, n_a and n_b above BATCH_ABOVE): the formulas of
    `welch_t_test` and `hedges_g`, row-wise, and scipy's tests along the last axis."""
    from scipy import stats

    na, nb = a.shape[1], b.shape[1]
    mean_a, mean_b = a.mean(axis=1), b.mean(axis=1)
    var_a, var_b = a.var(axis=1, ddof=1), b.var(axis=1, ddof=1)
    difference = mean_a - mean_b
    va, vb = var_a / na, var_b / nb
    se2 = va + vb
    spread = se2 > 0  # both groups constant: Welch's statistic is undefined
    t = np.full(len(a), math.nan)
    p = np.full(len(a), math.nan)
    df = np.full(len(a), math.nan)
    lo = np.full(len(a), math.nan)
    hi = np.full(len(a), math.nan)
    if spread.any():
        result = stats.ttest_ind(a[spread], b[spread], axis=-1, equal_var=False)
        t[spread], p[spread] = result.statistic, result.pvalue
        s2, sa, sb = se2[spread], va[spread], vb[spread]
        df[spread] = s2**2 / (sa**2 / (na - 1) + sb**2 / (nb - 1))
        half = stats.t.ppf(0.975, df[spread]) * np.sqrt(s2)
        lo[spread], hi[spread] = difference[spread] - half, difference[spread] + half
    mwu = stats.mannwhitneyu(a, b, axis=-1, alternative="two-sided", method="auto")
    pooled = ((na - 1) * var_a + (nb - 1) * var_b) / (na + nb - 2)
    defined = pooled > 0
    g = np.full(len(a), math.nan)
    g[defined] = hedges_correction(na + nb - 2) * difference[defined] / np.sqrt(pooled[defined])
    se = np.sqrt((na + nb) / (na * nb) + g * g / (2 * (na + nb)))
    return [
        (
            WelchResult(*(float(x) for x in row)),
            MannWhitneyResult(float(u), float(q)),
            EffectSize(float(gi), float(gi - _Z_975 * si), float(gi + _Z_975 * si)),
        )
        for row, u, q, gi, si in zip(
            zip(t, df, p, difference, lo, hi),
            np.atleast_1d(mwu.statistic),
            np.atleast_1d(mwu.pvalue),
            g,
            se,
        )
    ]


CSV_COLUMNS = tuple(PairComparison.__dataclass_fields__)


def comparisons_csv(rows: list[PairComparison], header_lines=()) -> str:
    """The table as CSV (one line per pair, every column of PairComparison), after optional
    `# `-prefixed lines saying what was compared (metric, summary, groups)."""
    out = io.StringIO()
    for line in header_lines:
        out.write(f"# {line}\n")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: ("" if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(row).items()
            }
        )
    return out.getvalue()
