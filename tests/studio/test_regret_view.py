"""The regret view draws what the data says: checked item by item against hand-computed values."""

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.views import plot_style
from studio.views.run_data import RunData, SeedTable
from studio.views.series_views import RegretView
from tests.studio.plot_items import legend_texts, xy

T_975_DF2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom
STEPS = (1, 2, 3, 4)


def regret_run(scale=1.0, bounds=True) -> RunData:
    """Seeds hold scale * (s, 2s + 0.5, 3s + 2): mean scale * (2s + 5/6). Bounds 10 s and log s."""
    data = RunData()
    rows = [
        ("cumulative_regret", s, seed, scale * (s * (seed + 1) + 0.5 * seed**2), 0.1 * s)
        for s in STEPS
        for seed in range(3)
    ]
    if bounds:
        rows += [("regret_upper_bound", s, -1, 10.0 * s, 0.0) for s in STEPS]
        rows += [("regret_lower_bound", s, -1, math.log(s), 0.0) for s in STEPS]
    data.add_series(rows)
    return data


@pytest.fixture
def view(qtbot):
    widget = RegretView()
    qtbot.addWidget(widget)
    widget.resize(800, 500)
    widget.show()
    return widget


def test_mean_band_and_dashed_bounds(view):
    view.render(regret_run())
    series = view.series
    x, y = xy(series.mean_curve)
    expected = np.array([2 * s + 5 / 6 for s in STEPS])
    assert x.tolist() == list(STEPS) and np.allclose(y, expected)
    half = np.array(
        [T_975_DF2 * np.std([s, 2 * s + 0.5, 3 * s + 2], ddof=1) / math.sqrt(3) for s in STEPS]
    )
    assert np.allclose(xy(series.band_lo)[1], expected - half)
    assert np.allclose(xy(series.band_hi)[1], expected + half)
    assert not series.band.path().isEmpty()
    assert sorted(series.bound_curves) == ["regret_lower_bound", "regret_upper_bound"]
    assert xy(series.bound_curves["regret_upper_bound"])[1].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert np.allclose(xy(series.bound_curves["regret_lower_bound"])[1], np.log(STEPS))
    for curve in series.bound_curves.values():
        assert curve.opts["pen"].style() == Qt.PenStyle.DashLine
    assert series.plot_item.getAxis("bottom").labelText == "step"
    assert series.plot_item.getAxis("left").labelText == "cumulative regret"
    assert legend_texts(series) == [
        "mean over seeds",
        "95% band of the mean",
        "upper bound (theory)",
        "lower bound (asymptotic, Lai–Robbins)",
    ]
    assert series.badge.isHidden()  # four points: nothing thinned, nothing smoothed


def test_a_theory_only_run_lists_only_its_bounds_each_in_its_own_colour(view):
    """A run that records bound curves and no measured regret (a reference panel) has no mean
    or band to list, and seven bounds get seven different colours."""
    data = RunData()
    names = [f"rate_{k}_bound" for k in range(7)]
    data.add_series(
        [(name, s, -1, float(s * (k + 1)), 0.0) for k, name in enumerate(names) for s in STEPS]
    )
    view.render(data)
    series = view.series
    assert legend_texts(series) == [f"{plot_style.metric_label(n)} (theory)" for n in sorted(names)]
    colours = {curve.opts["pen"].color().getRgb()[:3] for curve in series.bound_curves.values()}
    assert len(colours) == 7 and plot_style.MEAN_COLOUR not in colours
    assert xy(series.bound_curves["rate_6_bound"])[1].tolist() == [7.0 * s for s in STEPS]


def test_per_seed_lines_stop_at_a_readable_number_and_say_so(view):
    """With more seeds than MAX_SEED_LINES only the first ones are drawn, each its own values,
    and the legend names how many of how many; the mean still uses every seed."""
    from studio.views.series_layer import MAX_SEED_LINES

    seeds = MAX_SEED_LINES + 7
    data = RunData()
    data.add_series(
        [
            ("cumulative_regret", s, seed, float(s * seed), 0.0)
            for s in STEPS
            for seed in range(seeds)
        ]
    )
    view.render(data)
    view.set_per_seed(True)
    layer = view.series.layers[0]
    assert len(layer.seed_curves) == MAX_SEED_LINES
    assert xy(layer.seed_curves[-1].item)[1].tolist() == [s * (MAX_SEED_LINES - 1.0) for s in STEPS]
    assert f"single seeds (first {MAX_SEED_LINES} of {seeds})" in legend_texts(view.series)
    assert np.allclose(xy(view.series.mean_curve)[1], [s * (seeds - 1) / 2 for s in STEPS])


def test_bounds_are_drawn_as_far_as_the_run_has_measured(view):
    """A live run records its bounds for every checkpoint at its start: they are drawn up to
    the last measured step (here 2 of 4), then further as the run goes on."""
    data = RunData()
    data.add_series([("regret_upper_bound", s, -1, 10.0 * s, 0.0) for s in STEPS])
    data.add_series([("cumulative_regret", s, 0, float(s), 0.0) for s in (1, 2)])
    view.render(data)
    assert xy(view.series.bound_curves["regret_upper_bound"])[0].tolist() == [1, 2]
    data.add_series([("cumulative_regret", 3, 0, 3.0, 0.0)])
    view.render(data)
    assert xy(view.series.bound_curves["regret_upper_bound"])[1].tolist() == [10.0, 20.0, 30.0]


def test_per_seed_lines_are_each_seeds_values(view):
    view.render(regret_run())
    assert view.series.layers[0].seed_curves == []
    view.set_per_seed(True)
    assert view.per_seed.isChecked()
    curves = view.series.layers[0].seed_curves
    assert len(curves) == 3
    for seed, curve in enumerate(curves):
        assert xy(curve.item)[1].tolist() == [s * (seed + 1) + 0.5 * seed**2 for s in STEPS]
        assert curve.item.opts["pen"].color().alpha() == plot_style.FAINT_ALPHA
    assert "single seeds" in legend_texts(view.series)
    view.set_per_seed(False)
    assert view.series.layers[0].seed_curves == [] and "single seeds" not in legend_texts(
        view.series
    )


def test_log_log_axes_map_both_coordinates(view):
    view.render(regret_run())
    view.log_log.setChecked(True)
    series = view.series
    assert series.plot_item.getAxis("bottom").logMode and series.plot_item.getAxis("left").logMode
    shown_x, shown_y = series.mean_curve.getData()  # what is drawn: log10 of the data, given once
    assert series.mean_curve.opts["logMode"] == [
        False,
        False,
    ]  # so pyqtgraph must not take it again
    assert np.allclose(shown_x, np.log10(STEPS))
    assert np.allclose(shown_y, np.log10([2 * s + 5 / 6 for s in STEPS]))
    bound_x, bound_y = series.bound_curves["regret_upper_bound"].getData()
    assert np.allclose(bound_x, np.log10(STEPS)) and np.allclose(
        bound_y, np.log10(10.0 * np.array(STEPS))
    )
    view.set_log_log(False)
    assert not series.plot_item.getAxis("bottom").logMode
    assert np.allclose(series.mean_curve.getData()[0], STEPS)


def test_hover_reads_the_nearest_step(view):
    view.render(regret_run())
    text = view.series.hover.hover_at(2.2, 5.0)
    # Step 2: seeds 2, 4.5, 8; mean 29/6; upper bound 20, lower bound log 2.
    assert text.splitlines()[0] == "step 2"
    assert "mean 4.83333" in text and "3 seeds" in text
    assert (
        "upper bound (theory) 20" in text
        and f"lower bound (asymptotic, Lai–Robbins) {math.log(2):.6g}" in text
    )
    assert view.series.hover.marker.data["x"].tolist() == [2.0]


def test_overlay_draws_each_run_in_its_colour_with_its_label(view):
    view.render_overlay([("UCB1", regret_run()), ("Thompson", regret_run(scale=0.5, bounds=False))])
    layers = view.series.layers
    assert len(layers) == 2
    assert np.allclose(xy(layers[0].mean.item)[1], [2 * s + 5 / 6 for s in STEPS])
    assert np.allclose(xy(layers[1].mean.item)[1], [0.5 * (2 * s + 5 / 6) for s in STEPS])
    for index, layer in enumerate(layers):
        assert layer.mean.item.opts["pen"].color().getRgb()[:3] == plot_style.RUN_COLOURS[index]
        assert layer.band.brush().color().getRgb()[:3] == plot_style.RUN_COLOURS[index]
    for curve in layers[0].bounds.values():
        pen = curve.item.opts["pen"]
        assert (
            pen.style() == Qt.PenStyle.DashLine
            and pen.color().getRgb()[:3] == plot_style.RUN_COLOURS[0]
        )
    assert layers[1].bounds == {}
    assert legend_texts(view.series) == [
        "UCB1",
        "UCB1: upper bound (theory)",
        "UCB1: lower bound (asymptotic, Lai–Robbins)",
        "Thompson",
    ]
    view.render(regret_run())  # back to one run: the extra layer goes
    assert len(view.series.layers) == 1 and legend_texts(view.series)[0] == "mean over seeds"


def test_a_long_run_is_thinned_to_the_view_with_its_peaks_kept_and_a_badge(qtbot, view):
    data = RunData()
    steps = np.arange(1, 200_001)
    values = np.sin(steps / 5000.0)
    values[123_456] = 50.0  # one spike among 200,000 points
    data.tables["cumulative_regret"] = table = SeedTable()
    table.add_many(steps, np.zeros(len(steps), dtype=int), values)
    view.render(data)
    series = view.series
    width = int(series.view_box.width())
    x, y = xy(series.mean_curve)
    assert series.downsampling_factor > 1 and len(x) <= 2 * width + 2
    assert y.max() == 50.0 and y.min() == pytest.approx(-1.0, abs=1e-6)
    assert not series.badge.isHidden() and "downsampled" in series.badge.text()

    series.view_box.setXRange(1000, 1200, padding=0)
    qtbot.waitUntil(lambda: len(xy(series.mean_curve)[0]) < 300, timeout=2000)
    x, y = xy(series.mean_curve)
    # Clipped to the view plus one point each side, and few enough to draw unthinned.
    assert x[0] == 999 and x[-1] == 1201 and np.allclose(y, values[998:1201])
    assert series.downsampling_factor == 1 and series.badge.isHidden()


def test_a_late_value_for_an_early_step_is_redrawn_where_it_belongs(view):
    """Only rows from the first changed one are recomputed: a change in the middle must show."""
    data = RunData()
    data.tables["cumulative_regret"] = table = SeedTable()
    steps = np.arange(1, 100_001)
    table.add_many(steps, np.zeros(len(steps), dtype=int), np.zeros(len(steps)))
    view.render(data)
    assert xy(view.series.mean_curve)[1].max() == 0.0
    table.add(40_000, 0, 7.0)  # a corrected value, far from the end
    table.add(40_000, 1, 9.0)  # and a second seed arriving there late: mean 8
    view.render(data)
    series = view.series
    assert series.downsampling_factor > 1 and xy(series.mean_curve)[1].max() == 8.0
    assert xy(series.band_hi)[1].max() > 8.0  # two seeds at that step now give it a band


def test_views_draw_offscreen_without_ever_being_shown(qtbot):
    """Figures are rendered from stored data for export: no window needed."""
    hidden = RegretView()
    qtbot.addWidget(hidden)
    hidden.render_overlay([("a", regret_run()), ("b", regret_run(scale=2.0))])
    assert np.allclose(
        xy(hidden.series.layers[1].mean.item)[1], [2 * (2 * s + 5 / 6) for s in STEPS]
    )
    assert not hidden.grab().isNull()
