"""Tests between groups against numbers worked out by hand: Welch's t and df from their
formulas, a p-value from the closed-form t distribution with 2 degrees of freedom, exact
Mann-Whitney p-values counted over the 20 ways to split six ranks, Holm on a worked example."""

import math

import numpy as np
import pytest

from engine.metrics.group_stats import (
    CSV_COLUMNS,
    compare_groups,
    comparisons_csv,
    hedges_correction,
    hedges_g,
    holm,
    mann_whitney_u,
    welch_t_test,
)

A = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, variance 5/3
B = [2.0, 4.0, 6.0, 8.0, 10.0]  # mean 6, variance 10


def test_welch_t_and_df_by_hand():
    result = welch_t_test(A, B)
    va, vb = (5 / 3) / 4, 10 / 5  # s^2 / n of each group
    assert result.t == pytest.approx(-3.5 / math.sqrt(va + vb), rel=1e-12)
    # Welch-Satterthwaite: (va + vb)^2 / (va^2 / 3 + vb^2 / 4) = (29/12)^2 / ((5/12)^2/3 + 1)
    assert result.df == pytest.approx((29 / 12) ** 2 / ((5 / 12) ** 2 / 3 + 1), rel=1e-12)
    assert result.df == pytest.approx(5.520788, abs=1e-6)
    assert result.difference == -3.5


def test_welch_p_value_with_two_degrees_of_freedom_is_the_closed_form():
    # Two groups of two with equal variances: df = 2 exactly, and Student's t with 2 df has
    # F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so the two-sided p is 1 - |t| / sqrt(2 + t^2).
    result = welch_t_test([0.0, 2.0], [3.0, 5.0])
    assert result.df == pytest.approx(2.0, rel=1e-12)
    assert result.t == pytest.approx(-3 / math.sqrt(2), rel=1e-12)
    assert result.p == pytest.approx(1 - 3 / math.sqrt(13), rel=1e-9)  # 0.167950...
    # the difference's 95% CI: -3 -/+ t_{0.975, 2} sqrt(2), t_{0.975, 2} = 4.302653
    assert result.lo == pytest.approx(-3 - 4.302653 * math.sqrt(2), abs=1e-5)
    assert result.hi == pytest.approx(-3 + 4.302653 * math.sqrt(2), abs=1e-5)


def test_welch_is_undefined_for_a_single_value_or_no_spread():
    assert math.isnan(welch_t_test([1.0], [2.0, 3.0]).p)
    same = welch_t_test([1.0, 1.0], [2.0, 2.0])
    assert math.isnan(same.p) and same.difference == -1.0


@pytest.mark.parametrize(
    "a, b, u, p",
    [
        # complete separation: U = 0, reached by 1 of the C(6, 3) = 20 splits; two-sided 2/20
        ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 0.0, 0.1),
        # one pair out of order: U = 1; P(U <= 1) = 2/20, two-sided 4/20
        ([1.0, 2.0, 4.0], [3.0, 5.0, 6.0], 1.0, 0.2),
        ([4.0, 5.0, 6.0], [1.0, 2.0, 3.0], 9.0, 0.1),
    ],
)
def test_mann_whitney_exact_p_values(a, b, u, p):
    result = mann_whitney_u(a, b)
    assert result.u == u
    assert result.p == pytest.approx(p, rel=1e-12)


def test_holm_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> running max
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], rtol=1e-12)


def test_holm_caps_at_one_and_skips_nan():
    # m = 2 (the NaN is no hypothesis): 0.4 x 2 = 0.8, then max(0.8, 0.5 x 1) = 0.8
    adjusted = holm([0.5, np.nan, 0.4])
    assert adjusted[[0, 2]].tolist() == pytest.approx([0.8, 0.8]) and math.isnan(adjusted[1])
    assert holm([0.7, 0.6]).tolist() == [1.0, 1.0]  # 0.6 x 2 = 1.2, capped


def test_hedges_g_and_its_ci_by_hand():
    effect = hedges_g(A, B)
    pooled_sd = math.sqrt((3 * 5 / 3 + 4 * 10) / 7)  # sqrt(45 / 7)
    # J(7) = Gamma(3.5) / (sqrt(3.5) Gamma(3)), Gamma(3.5) = 15 sqrt(pi) / 8
    j = (15 * math.sqrt(math.pi) / 8) / (math.sqrt(3.5) * 2)
    g = j * (2.5 - 6) / pooled_sd
    assert effect.g == pytest.approx(g, rel=1e-12)
    se = math.sqrt(9 / 20 + g * g / 18)
    assert effect.lo == pytest.approx(g - 1.959964 * se, rel=1e-6)
    assert effect.hi == pytest.approx(g + 1.959964 * se, rel=1e-6)
    # the usual approximation 1 - 3 / (4 df - 1) is within 1e-3 of the exact factor
    assert hedges_correction(7) == pytest.approx(1 - 3 / 27, abs=1e-3)


def test_compare_groups_holm_corrects_across_pairs():
    groups = {"c = 1": [0.0, 2.0], "c = 2": [3.0, 5.0], "c = 3": [0.0, 2.0]}
    rows = compare_groups(groups)
    assert [(r.group_a, r.group_b) for r in rows] == [
        ("c = 1", "c = 2"),
        ("c = 1", "c = 3"),
        ("c = 2", "c = 3"),
    ]
    p = 1 - 3 / math.sqrt(13)
    assert [r.welch_p for r in rows] == pytest.approx([p, 1.0, p], rel=1e-9)
    # Holm: the two equal p-values take ranks 1 and 2 (x3, then max with x2), 1.0 stays 1
    assert [r.welch_p_holm for r in rows] == pytest.approx([3 * p, 1.0, 3 * p], rel=1e-9)
    assert rows[0].difference == -3.0 and rows[2].difference == 3.0
    assert rows[0].n_a == rows[0].n_b == 2


def test_csv_has_every_column_and_blank_for_undefined():
    rows = compare_groups({"a": [1.0], "b": [2.0, 3.0]})
    text = comparisons_csv(rows, ["metric: loss (final)"])
    lines = text.splitlines()
    assert lines[0] == "# metric: loss (final)"
    assert lines[1].split(",") == list(CSV_COLUMNS)
    values = dict(zip(CSV_COLUMNS, lines[2].split(",")))
    assert values["group_a"] == "a" and values["welch_p"] == "" and values["mean_b"] == "2.5"


def test_tests_wait_while_scipy_is_imported_in_the_background(monkeypatch):
    """A table asks `ready()` first: False exactly while the background import runs."""
    import threading

    from engine.metrics import group_stats

    release = threading.Event()
    monkeypatch.setattr(group_stats, "_preload", threading.Thread(target=release.wait))
    group_stats._preload.start()
    assert not group_stats.ready()
    release.set()
    group_stats._preload.join()
    assert group_stats.ready()


def _pair_by_pair(groups):
    """compare_groups' numbers from the single-pair functions, for each pair in order."""
    import itertools

    out = []
    for first, second in itertools.combinations(list(groups), 2):
        a, b = groups[first], groups[second]
        welch, mwu, effect = welch_t_test(a, b), mann_whitney_u(a, b), hedges_g(a, b)
        out.append(
            [
                welch.t,
                welch.df,
                welch.p,
                welch.lo,
                welch.hi,
                mwu.u,
                mwu.p,
                effect.g,
                effect.lo,
                effect.hi,
            ]
        )
    return np.array(out)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # the flat groups
def test_pairs_tested_together_give_the_numbers_of_each_pair_alone():
    """Groups above BATCH_ABOVE values go through one scipy call per pair of sizes: the same
    statistics, p-values, CIs and effect sizes as pair by pair, with groups of other sizes,
    NaN values (left out), ties, constant groups and a group too small to batch among them."""
    from engine.metrics.group_stats import BATCH_ABOVE

    rng = np.random.default_rng(7)
    groups = {f"c = {i}": rng.normal(0.3 * i, 1.0 + 0.2 * i, 20) for i in range(6)}
    groups["c = 6"] = np.r_[rng.normal(1.0, 2.0, 13), [np.nan, np.inf]]  # 13 finite values
    groups["ties"] = np.round(rng.normal(0.5, 1.0, 20))  # integers: many ties
    groups["flat"] = np.full(20, 2.0)  # with "flat 2", both constant: Welch undefined
    groups["flat 2"] = np.full(20, 2.0)
    groups["small"] = rng.normal(0.0, 1.0, BATCH_ABOVE)  # pair by pair, the exact Mann-Whitney
    rows = compare_groups(groups)
    got = np.array(
        [
            [r.welch_t, r.welch_df, r.welch_p, r.difference_lo, r.difference_hi, r.mwu_u, r.mwu_p,
             r.hedges_g, r.hedges_g_lo, r.hedges_g_hi]
            for r in rows
        ]
    )  # fmt: skip
    want = _pair_by_pair(groups)
    assert got.shape == want.shape == (55, 10)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, equal_nan=True)
    assert np.isnan(want).any(axis=1).sum() >= 1  # the undefined cases are among them
    flat = next(r for r in rows if (r.group_a, r.group_b) == ("flat", "flat 2"))
    assert math.isnan(flat.welch_p) and flat.difference == 0.0 and math.isnan(flat.hedges_g)
    # Holm over the batched p-values: the same as over the pair-by-pair ones
    np.testing.assert_allclose([r.welch_p_holm for r in rows], holm(want[:, 2]), rtol=1e-10)
    np.testing.assert_allclose([r.mwu_p_holm for r in rows], holm(want[:, 6]), rtol=1e-10)


def test_pairs_tested_together_cost_less_interpreter_time():
    """The point of batching, counted rather than timed: scipy's t-test runs once per pair
    of group sizes, not once per pair."""
    from unittest import mock

    from scipy import stats

    rng = np.random.default_rng(3)
    groups = {f"g{i}": rng.normal(i, 1.0, 20) for i in range(8)}
    with mock.patch.object(stats, "ttest_ind", wraps=stats.ttest_ind) as spy:
        rows = compare_groups(groups)
    assert len(rows) == 28 and spy.call_count == 1
