import math
import warnings

import numpy as np
import pytest

from engine.metrics import seed_summary, t_quantile_975
from engine.metrics.aggregate import _T_975_TABLE


def t_density_mass(q, df, steps=200_000):
    """P(0 <= T <= q) for Student's t by composite Simpson integration of the
    density Gamma((df+1)/2) / (sqrt(df*pi) Gamma(df/2)) (1 + t^2/df)^(-(df+1)/2).
    Independent of the table and expansion under test."""
    t = np.linspace(0.0, q, steps + 1)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    f = math.exp(log_c) * (1 + t * t / df) ** (-(df + 1) / 2)
    h = q / steps
    return h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())


# --- t quantile ---------------------------------------------------------------


@pytest.mark.parametrize(
    "df, expected",
    [
        # Textbook two-sided 95% critical values (3 decimals).
        (1, 12.706),
        (2, 4.303),
        (5, 2.571),
        (10, 2.228),
        (30, 2.042),
        (100, 1.984),
        (np.inf, 1.960),
    ],
)
def test_t_quantile_known_values(df, expected):
    assert t_quantile_975(df) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("df", list(range(1, 31)) + [31, 35, 47.5, 60, 100, 1000])
def test_t_quantile_has_upper_tail_mass_0025(df):
    # The 0.975 quantile q satisfies P(0 <= T <= q) = 0.475. For df = 1 the
    # density at q is ~0.002, so a 1e-7 mass error is a ~5e-5 quantile error.
    assert t_density_mass(t_quantile_975(df), df) == pytest.approx(0.475, abs=1e-7)


def test_t_quantile_cauchy_closed_form():
    # df = 1 is the Cauchy distribution: quantile = tan(pi * (0.975 - 0.5)).
    assert t_quantile_975(1) == pytest.approx(math.tan(0.475 * math.pi), abs=1e-5)


def test_t_quantile_table_and_expansion_join_smoothly():
    # Decreasing in df, and the expansion at df=31 continues the table.
    values = [t_quantile_975(df) for df in range(1, 200)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert t_quantile_975(31) == pytest.approx(_T_975_TABLE[-1], abs=3e-3)


@pytest.mark.parametrize("df", [0, 0.5, -3, 2.5, np.nan])
def test_t_quantile_rejects_invalid_df(df):
    with pytest.raises(ValueError):
        t_quantile_975(df)


# --- seed_summary ---------------------------------------------------------------


def test_seed_summary_1d_hand_values():
    # values 1..5: mean 3; squared deviations 4+1+0+1+4 = 10, sample variance
    # 10/4 = 2.5, std sqrt(2.5) = 1.5811388; sem sqrt(2.5/5) = sqrt(0.5) =
    # 0.7071068; t(0.975, df=4) = 2.776445 so half-width 1.9632431 and the
    # band is [1.0367569, 4.9632431].
    s = seed_summary([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(3.0)
    assert s["std"] == pytest.approx(math.sqrt(2.5))
    assert s["sem"] == pytest.approx(math.sqrt(0.5))
    assert s["lo"] == pytest.approx(1.0367569, abs=1e-6)
    assert s["hi"] == pytest.approx(4.9632431, abs=1e-6)
    assert isinstance(s["mean"], float)
    assert isinstance(s["n"], int)


def test_seed_summary_matches_numpy_for_full_columns():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(7, 4))
    s = seed_summary(values)
    np.testing.assert_allclose(s["mean"], values.mean(axis=0))
    np.testing.assert_allclose(s["std"], values.std(axis=0, ddof=1))
    np.testing.assert_allclose(s["sem"], values.std(axis=0, ddof=1) / math.sqrt(7))
    np.testing.assert_allclose(s["hi"] - s["mean"], t_quantile_975(6) * s["sem"])
    np.testing.assert_array_equal(s["n"], [7, 7, 7, 7])


def test_seed_summary_ignores_nan_per_column():
    values = [
        [1.0, np.nan, 7.0],
        [3.0, 2.0, np.nan],
        [np.nan, 4.0, np.nan],
    ]
    s = seed_summary(values, axis=0)
    # Column 0: {1, 3}: mean 2, std sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2),
    # sem sqrt(2)/sqrt(2) = 1, t(df=1) = 12.706205: band [-10.706205, 14.706205].
    # Column 1: {2, 4}: mean 3, same spread: band [-9.706205, 15.706205].
    # Column 2: {7}: a single seed, std = sem = 0, band collapses to 7.
    np.testing.assert_array_equal(s["n"], [2, 2, 1])
    np.testing.assert_allclose(s["mean"], [2.0, 3.0, 7.0])
    np.testing.assert_allclose(s["std"], [math.sqrt(2), math.sqrt(2), 0.0])
    np.testing.assert_allclose(s["sem"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(s["lo"], [-10.706205, -9.706205, 7.0], atol=1e-6)
    np.testing.assert_allclose(s["hi"], [14.706205, 15.706205, 7.0], atol=1e-6)


def test_seed_summary_axis_1():
    # Rows are runs, columns seeds. Row 0 {2, 4, 6}: mean 4, variance
    # (4+0+4)/2 = 4, std 2, sem 2/sqrt(3) = 1.1547005; t(df=2) = 4.302653, so
    # the band is 4 -/+ 4.302653 * 1.1547005 = 4 -/+ 4.968276
    # = [-0.968276, 8.968276]. Row 1 is constant: std 0, band collapses to 5.
    s = seed_summary([[2.0, 4.0, 6.0], [5.0, 5.0, 5.0]], axis=1)
    np.testing.assert_allclose(s["mean"], [4.0, 5.0])
    np.testing.assert_allclose(s["std"], [2.0, 0.0])
    np.testing.assert_allclose(s["sem"], [2 / math.sqrt(3), 0.0])
    np.testing.assert_allclose(s["lo"], [-0.968276, 5.0], atol=1e-6)
    np.testing.assert_allclose(s["hi"], [8.968276, 5.0], atol=1e-6)


def test_seed_summary_single_seed():
    # n = 1: std is defined as 0 and the band collapses onto the value.
    s = seed_summary([[5.0, -1.0]])
    np.testing.assert_array_equal(s["n"], [1, 1])
    np.testing.assert_allclose(s["std"], [0.0, 0.0])
    np.testing.assert_allclose(s["lo"], [5.0, -1.0])
    np.testing.assert_allclose(s["hi"], [5.0, -1.0])


def test_seed_summary_all_nan_column_is_nan_without_warnings():
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        s = seed_summary([[np.nan, 1.0], [np.nan, 3.0]])
    assert s["n"][0] == 0
    for key in ("mean", "std", "sem", "lo", "hi"):
        assert np.isnan(s[key][0])
    assert s["mean"][1] == pytest.approx(2.0)


def test_seed_summary_empty_input():
    s = seed_summary([])
    assert s["n"] == 0
    assert math.isnan(s["mean"])
