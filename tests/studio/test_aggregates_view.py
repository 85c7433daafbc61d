"""The views draw a run's mean and band from its aggregates over all seeds, not from the kept seeds.

Each run here has 50 seeds whose value at step s is s * (seed + 1), but per-seed values are
stored only for seeds 0..2 (keep_seeds = 3), while `series_aggregates` covers all 50, as the
engine writes them. Over all 50 seeds: mean 25.5 s, sample variance 212.5 s^2 (the variance
of 1..50 is 50 * 51 / 12); over the 3 kept seeds the mean would be 2 s. Every drawn mean and
band is checked against the 50-seed values by hand.
"""

import math

import numpy as np
import pytest

from engine.spec import RunSpec
from engine.store import StoreReader, aggregate_row
from studio.compare.panel import ComparePanel
from studio.export.figure import run_figure
from studio.history.summary import SummarySpec
from studio.views.run_data import AggregateTable, RunData
from studio.views.series_views import CurvesView, RegretView
from tests.studio.plot_items import legend_texts, xy

SEEDS, KEPT = 50, 3
STEPS = np.array([1, 2, 3, 4])
T_975_DF49 = 2.009575  # Student t, 0.975 quantile, 49 degrees of freedom
T_975_DF99 = 1.984217  # 99 degrees of freedom
MEAN_50 = 25.5 * STEPS  # mean of s * (1..50)
HALF_50 = T_975_DF49 * math.sqrt(212.5 / 50) * STEPS  # t * sqrt(var / n), var = 212.5 s^2
METRIC = "cumulative_regret"


def aggregate_rows(metric, values, steps, wall=0.1):
    """The rows the engine writes: statistics over every seed (columns of `values`) per step."""
    return [
        aggregate_row(metric, int(step), row, wall * int(step)) for step, row in zip(steps, values)
    ]


def write_run(
    store,
    catalogue,
    first_seed=0,
    seeds=SEEDS,
    kept=KEPT,
    steps=STEPS,
    metric=METRIC,
    status="finished",
    rate=0.5,
):
    """A run whose seed s (first_seed + index) records s * (seed + 1): per-seed rows only for the
    first `kept`, aggregates over all `seeds`, written with the engine's Store API."""
    spec = RunSpec.from_dict(
        {
            "run": {
                "seeds": seeds,
                "steps": int(steps[-1]),
                "seed": first_seed,
                "keep_seeds": kept,
            },
            "algorithm": {"id": "toy.every_type", "rate": rate},
            "problem": {"id": "toy.quadratic"},
        },
        catalogue,
    )
    run_id = store.create_run(spec, family="bandits", plot="regret")
    store.start_run(run_id, {"device": "cpu", "dtype": "float32", "threads": 1})
    values = steps[:, None] * (first_seed + np.arange(seeds) + 1.0)[None, :]  # steps x seeds
    store.append(
        run_id,
        [
            (metric, int(step), seed, float(values[i, seed]), 0.1 * int(step))
            for i, step in enumerate(steps)
            for seed in range(kept)
        ],
        aggregate_rows=aggregate_rows(metric, values, steps),
    )
    if status != "running":
        store.finish_run(run_id, status)
    return run_id


@pytest.fixture
def regret(qtbot):
    view = RegretView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.show()
    return view


def test_the_store_holds_only_the_kept_seeds_per_seed(store, reader, toy_catalogue):
    """The premise of every test below: 3 seeds' values stored, 50 seeds aggregated."""
    run_id = write_run(store, toy_catalogue)
    assert reader.get_run(run_id)["kept_seeds"] == KEPT
    data = RunData.from_store(reader, run_id)
    assert data.tables[METRIC].seeds == KEPT and data.aggregates[METRIC].seeds == SEEDS
    assert np.allclose(
        data.tables[METRIC].summary()["mean"], 2.0 * STEPS
    )  # what the old views drew


def test_regret_view_draws_the_aggregate_mean_and_band_of_all_seeds(
    store, reader, toy_catalogue, regret
):
    run_id = write_run(store, toy_catalogue)
    regret.render(RunData.from_store(reader, run_id))
    series = regret.series
    x, mean = xy(series.mean_curve)
    assert x.tolist() == STEPS.tolist()
    assert np.allclose(mean, MEAN_50, rtol=1e-12)
    assert np.allclose(xy(series.band_lo)[1], MEAN_50 - HALF_50, rtol=1e-6)
    assert np.allclose(xy(series.band_hi)[1], MEAN_50 + HALF_50, rtol=1e-6)
    assert not series.band.path().isEmpty()
    assert legend_texts(series) == ["mean over seeds", "95% band of the mean (all 50 seeds)"]
    assert series.layers[0].summary["n"].tolist() == [SEEDS] * len(STEPS)


def test_per_seed_lines_show_only_the_kept_seeds_and_say_first_n_of_m(
    store, reader, toy_catalogue, regret
):
    run_id = write_run(store, toy_catalogue)
    regret.render(RunData.from_store(reader, run_id))
    assert regret.per_seed.text() == "per-seed lines (first 3 of 50 seeds kept)"
    regret.set_per_seed(True)
    layer = regret.series.layers[0]
    assert len(layer.seed_curves) == KEPT
    for seed, curve in enumerate(layer.seed_curves):
        x, y = xy(curve.item)
        assert x.tolist() == STEPS.tolist() and y.tolist() == (STEPS * (seed + 1.0)).tolist()
    assert "single seeds (first 3 of 50)" in legend_texts(regret.series)
    assert np.allclose(xy(regret.series.mean_curve)[1], MEAN_50)  # the mean is still over all 50


def test_a_run_that_kept_every_seed_says_nothing_about_a_subset(
    store, reader, toy_catalogue, regret
):
    run_id = write_run(store, toy_catalogue, seeds=4, kept=4)
    regret.render(RunData.from_store(reader, run_id))
    regret.set_per_seed(True)
    assert regret.per_seed.text() == "per-seed lines"
    assert legend_texts(regret.series) == [
        "mean over seeds",
        "95% band of the mean",
        "single seeds",
    ]
    assert np.allclose(xy(regret.series.mean_curve)[1], 2.5 * STEPS)  # mean of s * (1..4)


def test_curves_view_draws_the_aggregate_mean_against_steps_and_wall_time(
    store, reader, toy_catalogue, qtbot
):
    run_id = write_run(store, toy_catalogue, metric="loss")
    view = CurvesView()
    qtbot.addWidget(view)
    view.render(RunData.from_store(reader, run_id))
    assert view.shown_metrics == ["loss"]
    assert np.allclose(xy(view.series.mean_curve)[1], MEAN_50)
    assert np.allclose(xy(view.series.band_hi)[1], MEAN_50 + HALF_50, rtol=1e-6)
    view.set_x_axis("wall_time")
    x, y = xy(view.series.mean_curve)
    assert np.allclose(x, 0.1 * STEPS) and np.allclose(y, MEAN_50)


def test_a_run_that_kept_no_seed_still_draws_its_mean_and_band(
    store, reader, toy_catalogue, regret
):
    run_id = write_run(store, toy_catalogue, kept=0)
    data = RunData.from_store(reader, run_id)
    assert data.metrics() == [METRIC] and METRIC not in data.tables
    regret.render(data)
    regret.set_per_seed(True)
    assert np.allclose(xy(regret.series.mean_curve)[1], MEAN_50)
    assert np.allclose(xy(regret.series.band_lo)[1], MEAN_50 - HALF_50, rtol=1e-6)
    assert regret.series.layers[0].seed_curves == []
    assert regret.per_seed.text() == "per-seed lines (none of 50 seeds kept)"


def test_a_live_run_polls_new_aggregates_by_cursor(store, reader, toy_catalogue, regret):
    """Checkpoints written after the first read arrive with the next poll, each once."""
    run_id = write_run(store, toy_catalogue, steps=STEPS[:2], status="running")
    data = RunData.from_store(reader, run_id)
    regret.render(data)
    assert np.allclose(xy(regret.series.mean_curve)[1], MEAN_50[:2])
    later = STEPS[2:]
    values = later[:, None] * (np.arange(SEEDS) + 1.0)[None, :]
    store.append(
        run_id,
        [
            (METRIC, int(s), seed, float(values[i, seed]), 0.1 * int(s))
            for i, s in enumerate(later)
            for seed in range(KEPT)
        ],
        aggregate_rows=aggregate_rows(METRIC, values, later),
    )
    data.read_new(reader, run_id)
    assert not data.read_new(reader, run_id)  # nothing twice
    regret.render(data)
    x, mean = xy(regret.series.mean_curve)
    assert x.tolist() == STEPS.tolist() and np.allclose(mean, MEAN_50)
    assert np.allclose(xy(regret.series.band_hi)[1], MEAN_50 + HALF_50, rtol=1e-6)
    assert data.tables[METRIC].rows == len(STEPS) and data.tables[METRIC].seeds == KEPT


def test_group_by_pools_the_aggregates_of_two_runs_exactly(store, reader, toy_catalogue, qtbot):
    """Runs of seeds 0..49 and 50..99 (values s * 1..50 and s * 51..100), each keeping 3:
    pooled, s * (1..100): mean 50.5 s, variance 100 * 101 / 12 s^2, n 100."""
    first = write_run(store, toy_catalogue)
    second = write_run(store, toy_catalogue, first_seed=SEEDS)
    panel = ComparePanel(reader)
    qtbot.addWidget(panel)
    panel.set_runs([first, second])
    panel.set_metric(METRIC)
    panel.set_group_key("algorithm.rate")
    mean = 50.5 * STEPS
    half = T_975_DF99 * math.sqrt(100 * 101 / 12 / 100) * STEPS
    (curve,) = panel.current_figure().curves
    assert curve.label == "algorithm.rate = 0.5 (2 runs, 100 seeds)"
    assert np.allclose(curve.mean, mean, rtol=1e-12)
    assert np.allclose(curve.lo, mean - half, rtol=1e-6) and np.allclose(
        curve.hi, mean + half, rtol=1e-6
    )
    lo, hi, line = panel.plot.getPlotItem().listDataItems()[:3]
    assert np.allclose(xy(line)[1], mean) and np.allclose(xy(lo)[1], mean - half, rtol=1e-6)
    assert np.allclose(xy(hi)[1], mean + half, rtol=1e-6)
    assert "100 seeds pooled" in panel.notes.text()


def test_summary_columns_come_from_the_aggregates(store, toy_catalogue, qtbot):
    from studio.history.model import COLUMNS
    from studio.history.panel import HistoryPanel

    write_run(store, toy_catalogue)
    reader = StoreReader(store.path)
    panel = HistoryPanel(reader)
    panel.stop_polling()
    qtbot.addWidget(panel)
    panel.refresh()
    panel.set_summaries(
        [
            SummarySpec(METRIC, "final"),
            SummarySpec(METRIC, "at_step", step=2),
            SummarySpec(METRIC, "auc"),
        ]
    )
    n = len(COLUMNS)
    # final 25.5 * 4, at step 2: 51, area under 25.5 s over 1..4: 25.5 * 7.5 = 191.25
    assert [panel.proxy.index(0, n + i).data() for i in range(3)] == ["102", "51", "191.25"]
    reader.close()


def test_export_figure_data_come_from_the_aggregates(store, reader, toy_catalogue):
    run_id = write_run(store, toy_catalogue)
    figure = run_figure(RunData.from_store(reader, run_id), "regret")
    (curve,) = figure.curves
    assert np.allclose(curve.mean, MEAN_50) and np.allclose(curve.hi, MEAN_50 + HALF_50, rtol=1e-6)


def test_aggregate_table_orders_checkpoints_and_a_repeated_one_replaces_the_earlier():
    table = AggregateTable()
    table.add_many([2, 4], {"n": [3, 3], "mean": [2.0, 4.0], "var": [1.0, 1.0]})
    version = table.version
    table.add_many([1, 4], {"n": [1, 3], "mean": [1.0, 5.0], "var": [np.nan, 4.0]})
    assert table.changed_since(version) == 0 and table.steps.tolist() == [1, 2, 4]
    summary = table.summary()
    assert summary["mean"].tolist() == [1.0, 2.0, 5.0] and summary["n"].tolist() == [1, 3, 3]
    # n = 1: no band (it collapses to the mean); n = 3: t(0.975, 2) * sqrt(var / 3)
    assert summary["lo"][0] == summary["hi"][0] == 1.0
    assert math.isclose(summary["hi"][2] - 5.0, 4.302653 * math.sqrt(4.0 / 3), rel_tol=1e-6)
    assert math.isclose(summary["hi"][1] - 2.0, 4.302653 * math.sqrt(1.0 / 3), rel_tol=1e-6)
    assert table.seeds == 3


def test_regret_view_per_seed_toggle_text_is_plain_for_runs_without_aggregates(regret):
    """Data built in memory (no aggregates) draws its mean from its own seeds, as before."""
    data = RunData()
    data.add_series(
        [(METRIC, s, seed, float(s * (seed + 1)), 0.0) for s in STEPS for seed in range(3)]
    )
    regret.render(data)
    assert np.allclose(xy(regret.series.mean_curve)[1], 2.0 * STEPS)
    assert regret.per_seed.text() == "per-seed lines"
