"""Accumulating cursor reads: steps x seeds tables, incremental seed statistics, Pareto steps."""

import math

import numpy as np

from studio.run_data import INITIAL_ROWS, RunData, SeedTable

T_975_DF2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom


def test_mean_and_band_over_three_seeds_by_hand():
    table = SeedTable()
    for seed, value in enumerate((1.0, 2.0, 6.0)):
        table.add(10, seed, value)
    s = table.summary()
    # mean 3, sample sd sqrt(7), sem sqrt(7/3)
    half = T_975_DF2 * math.sqrt(7 / 3)
    assert s["steps"].tolist() == [10]
    assert s["mean"][0] == 3.0
    assert math.isclose(s["lo"][0], 3.0 - half) and math.isclose(s["hi"][0], 3.0 + half)
    assert s["n"].tolist() == [3]


def test_a_step_some_seeds_have_not_reached_averages_those_that_have():
    table = SeedTable()
    table.add(1, 0, 2.0)
    table.add(1, 1, 4.0)
    table.add(2, 0, 10.0)
    s = table.summary()
    assert s["mean"].tolist() == [3.0, 10.0]
    assert s["n"].tolist() == [2, 1]
    assert s["lo"][1] == s["hi"][1] == 10.0  # one seed: no band
    table.add(2, 1, 20.0)  # the late seed arrives: only that row is recomputed
    assert table.summary()["mean"].tolist() == [3.0, 15.0]


def test_growth_past_the_initial_capacity_keeps_every_row():
    table = SeedTable()
    steps = np.arange(1, 3 * INITIAL_ROWS + 2)
    for step in steps:
        table.add(int(step), 0, float(step))
        table.add(int(step), 1, float(step) + 2)
        if step % 100 == 0:
            table.summary()
    s = table.summary()
    assert np.array_equal(s["steps"], steps)
    assert np.array_equal(s["mean"], steps + 1.0)
    assert table.values.shape == (len(steps), 2)


def test_bounds_are_kept_apart_and_nan_survives():
    data = RunData()
    data.add_series([("cumulative_regret", 1, 0, 0.5, 0.0), ("regret_upper_bound", 1, -1, 3.0, 0.0),
                     ("regret_upper_bound", 2, -1, math.nan, 0.0)])
    assert data.metrics() == ["cumulative_regret"]
    steps, values = data.bound_curve("regret_upper_bound")
    assert steps.tolist() == [1, 2] and values[0] == 3.0 and math.isnan(values[1])


def test_only_the_latest_pareto_step_is_kept():
    data = RunData()
    data.add_pareto([{"step": 1, "seed": 0, "point": 0, "objectives": [1, 2], "label": {}}])
    data.add_pareto([{"step": 2, "seed": 0, "point": 0, "objectives": [3, 4], "label": {}},
                     {"step": 2, "seed": 1, "point": 0, "objectives": [5, 6], "label": {}}])
    assert data.pareto_step == 2
    assert data.pareto_points == [[3, 4], [5, 6]] and data.pareto_seeds == [0, 1]


def test_version_changes_only_when_something_arrives():
    data = RunData()
    before = data.version
    data.add_series([])
    data.add_pareto([])
    assert data.version == before
    data.add_series([("loss", 1, 0, 1.0, 0.0)])
    assert data.version == before + 1
