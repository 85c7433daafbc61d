"""Accumulating what is read of a run: steps x seeds tables, seed statistics, Pareto points, bulk loads."""

import math

import numpy as np
import pytest

from studio.views import store_reader
from studio.views.run_data import INITIAL_ROWS, RunData, SeedTable

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


def test_a_batch_of_many_rows_lands_in_the_right_cells_with_wall_times():
    table = SeedTable()
    steps = np.repeat(np.arange(1, 1001), 3)
    seeds = np.tile([0, 1, 2], 1000)
    table.add_many(steps, seeds, steps * 10.0 + seeds, wall_times=steps * 0.5)
    assert table.rows == 1000 and table.seeds == 3
    assert np.array_equal(table.values[41], [420.0, 421.0, 422.0])
    assert np.array_equal(table.wall_times, np.arange(1, 1001) * 0.5)
    assert np.allclose(table.summary()["mean"], np.arange(1, 1001) * 10.0 + 1.0)


def test_a_step_arriving_out_of_order_is_inserted_in_place():
    table = SeedTable()
    table.add_many([1, 2, 5, 6], [0, 0, 0, 0], [1.0, 2.0, 5.0, 6.0])
    table.summary()
    table.add_many([3, 5, 4], [0, 1, 0], [3.0, 50.0, 4.0])
    assert table.steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert table.values[:, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert np.isnan(table.values[:4, 1]).all() and table.values[4, 1] == 50.0
    assert table.summary()["mean"].tolist() == [1, 2, 3, 4, 27.5, 6]


def test_a_negative_seed_is_refused_by_name():
    with pytest.raises(ValueError, match="seed indices must be >= 0"):
        SeedTable().add(1, -2, 0.0)


def test_bounds_are_kept_apart_and_nan_survives():
    data = RunData()
    data.add_series(
        [
            ("cumulative_regret", 1, 0, 0.5, 0.0),
            ("regret_upper_bound", 1, -1, 3.0, 0.0),
            ("regret_upper_bound", 2, -1, None, 0.0),
        ]
    )
    assert data.metrics() == ["cumulative_regret"]
    steps, values = data.bound_curve("regret_upper_bound")
    assert steps.tolist() == [1, 2] and values[0] == 3.0 and math.isnan(values[1])


def test_every_pareto_step_is_kept_and_the_latest_is_what_is_shown():
    data = RunData()
    data.add_pareto([{"step": 1, "seed": 0, "point": 0, "objectives": [1, 2], "label": {"w": 0.5}}])
    data.add_pareto(
        [
            {"step": 2, "seed": 0, "point": 0, "objectives": [3, 4], "label": {"w": 0.1}},
            {"step": 2, "seed": 1, "point": 0, "objectives": [5, 6], "label": {"w": 0.9}},
        ]
    )
    assert data.pareto_step == 2
    assert data.pareto_points.tolist() == [[3, 4], [5, 6]] and data.pareto_seeds.tolist() == [0, 1]
    assert data.pareto_labels == [{"w": 0.1}, {"w": 0.9}]
    assert len(data.pareto) == 3 and data.pareto.recorded_steps().tolist() == [1, 2]
    with pytest.raises(ValueError, match="3 objectives after ones with 2"):
        data.add_pareto([{"step": 3, "seed": 0, "point": 0, "objectives": [1, 2, 3], "label": {}}])


def test_version_changes_only_when_something_arrives():
    data = RunData()
    before = data.version
    data.add_series([])
    data.add_pareto([])
    assert data.version == before
    data.add_series([("loss", 1, 0, 1.0, 0.0)])
    assert data.version == before + 1


def test_a_finished_run_loads_whole_and_a_live_one_continues_from_the_cursor(store, started_run):
    """from_store reads exactly what was written (other runs' rows excluded); read_new the rest."""
    run_id = started_run("toy.front", seeds=2)
    other = started_run("toy.front", seeds=1)
    store.set_objectives(run_id, ["a", "b"], ["min", "max"], [1.0, 0.0])
    store.append(
        run_id,
        [("loss", s, seed, s + 0.1 * seed, 0.01 * s) for s in (1, 2, 3) for seed in (0, 1)]
        + [("upper", s, -1, 2.0 * s, 0.0) for s in (1, 2, 3)],
        pareto_rows=[(3, 0, 0, [0.5, 0.5], {"w": 0.5})],
    )
    store.append(other, [("loss", 1, 0, 99.0, 0.0)])
    data = RunData.from_store(store, run_id)
    assert data.tables["loss"].values.tolist() == [[1.0, 1.1], [2.0, 2.1], [3.0, 3.1]]
    assert data.tables["loss"].wall_times.tolist() == [0.01, 0.02, 0.03]
    assert data.bound_curve("upper")[1].tolist() == [2.0, 4.0, 6.0]
    assert data.objectives["directions"] == ["min", "max"]
    assert data.pareto_points.tolist() == [[0.5, 0.5]] and data.pareto_labels == [{"w": 0.5}]

    store.append(run_id, [("loss", 4, 0, 4.0, 0.04), ("loss", 4, 1, math.nan, 0.04)])
    assert data.read_new(store, run_id) is False
    assert data.tables["loss"].steps.tolist() == [1, 2, 3, 4]
    assert data.tables["loss"].values[3, 0] == 4.0 and math.isnan(data.tables["loss"].values[3, 1])
    assert (
        data.read_new(store, run_id) is False and data.tables["loss"].rows == 4
    )  # nothing read twice


def test_a_cursor_read_stops_at_its_limit_and_resumes(store, started_run):
    run_id = started_run("toy.every_type", seeds=1)
    for first_step in (1, 4, 7):  # three flushes: three blocks of three values
        store.append(
            run_id, [("loss", s, 0, float(s), 0.0) for s in range(first_step, first_step + 3)]
        )
    first = store_reader.series_since(store, run_id, 0, 4)  # whole blocks, until 4 values have come
    second = store_reader.series_since(store, run_id, first.cursor, 100)
    assert first.steps.tolist() == list(range(1, 7)) and first.more
    assert second.steps.tolist() == [7, 8, 9] and not second.more
    assert store_reader.series_since(store, run_id, second.cursor, 100).cursor == second.cursor
