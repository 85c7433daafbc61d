"""The live plot reads a store by cursor and draws exactly what was written.

Rows are written here as an engine would (Store.append); the plot's poll and redraw
timers pick them up, and the pyqtgraph items are checked against hand-computed values.
"""

import math
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.views import store_reader
from studio.views.live_plot import LivePlot
from studio.views.pareto_view import ParetoView
from studio.views.series_views import CurvesView, RegretView

T_975_DF2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom
WAIT_MS = 3000


@pytest.fixture
def live_plot(qtbot, store):
    plot = LivePlot(store)
    qtbot.addWidget(plot)
    plot.resize(800, 600)
    plot.show()
    yield plot
    plot.stop_timers()  # before the store closes


def regret_rows(steps, seeds=3):
    """cumulative_regret = step * (seed + 1) + 0.5 * seed**2 at each step, for each seed."""
    return [
        ("cumulative_regret", s, seed, s * (seed + 1) + 0.5 * seed**2, 0.0)
        for s in steps
        for seed in range(seeds)
    ]


def curve_xy(item):
    x, y = item.getOriginalDataset()
    return (np.array([]), np.array([])) if x is None else (np.asarray(x), np.asarray(y))


def test_regret_mean_band_and_dashed_bounds(qtbot, live_plot, store, started_run):
    run_id = started_run("toy.regret")
    store.append(
        run_id,
        regret_rows([1, 2, 3, 4])
        + [("regret_upper_bound", s, -1, 10.0 * s, 0.0) for s in (1, 2, 3, 4)]
        + [("regret_lower_bound", s, -1, math.log(s), 0.0) for s in (1, 2, 3, 4)],
        steps_done=4,
    )
    live_plot.watch(run_id, "regret")
    view = live_plot.view
    assert isinstance(view, RegretView)
    series = view.series
    qtbot.waitUntil(lambda: len(curve_xy(series.mean_curve)[0]) == 4, timeout=WAIT_MS)

    x, y = curve_xy(series.mean_curve)
    assert x.tolist() == [1, 2, 3, 4]
    # The seeds hold s, 2s + 0.5 and 3s + 2, so the mean is 2s + 5/6.
    expected = [2 * s + 5 / 6 for s in (1, 2, 3, 4)]
    assert np.allclose(y, expected)
    half = [
        T_975_DF2 * np.std([s, 2 * s + 0.5, 3 * s + 2], ddof=1) / math.sqrt(3) for s in (1, 2, 3, 4)
    ]
    assert np.allclose(curve_xy(series.band_lo)[1], np.array(expected) - half)
    assert np.allclose(curve_xy(series.band_hi)[1], np.array(expected) + half)
    assert sorted(series.bound_curves) == ["regret_lower_bound", "regret_upper_bound"]
    assert curve_xy(series.bound_curves["regret_upper_bound"])[1].tolist() == [
        10.0,
        20.0,
        30.0,
        40.0,
    ]
    for curve in series.bound_curves.values():
        assert curve.opts["pen"].style() == Qt.PenStyle.DashLine


def test_rows_appended_later_are_read_once_by_cursor(
    qtbot, live_plot, store, started_run, monkeypatch
):
    run_id = started_run("toy.regret")
    store.append(run_id, regret_rows([1, 2]), steps_done=2)
    reads = []  # (cursor given, rows returned, cursor returned) per poll
    real_series_since = store_reader.series_since

    def spy(store_, run, after, limit):
        columns = real_series_since(store_, run, after, limit)
        reads.append((after, len(columns), columns.cursor))
        return columns

    monkeypatch.setattr(store_reader, "series_since", spy)
    progress = []
    live_plot.run_row_read.connect(lambda row: progress.append(row["steps_done"]))
    live_plot.watch(run_id, "regret")  # steps 1-2 come in the bulk read that opens the run
    series = live_plot.view.series
    assert len(curve_xy(series.mean_curve)[0]) == 2  # drawn at once, before any timer
    bulk_cursor = live_plot.data.series_cursor

    store.append(run_id, regret_rows([3, 4, 5]), steps_done=5)
    qtbot.waitUntil(lambda: len(curve_xy(series.mean_curve)[0]) == 5, timeout=WAIT_MS)
    x, y = curve_xy(series.mean_curve)
    assert x.tolist() == [1, 2, 3, 4, 5]
    assert np.allclose(y, [2 * s + 5 / 6 for s in x])
    # Each poll starts where the previous one ended, so every later row is read exactly once.
    assert reads[0][0] == bulk_cursor
    assert all(after == previous[2] for previous, (after, _, _) in zip(reads, reads[1:]))
    assert sum(count for _, count, _ in reads) == 9
    assert live_plot.data.tables["cumulative_regret"].values.shape == (5, 3)
    assert 5 in progress
    live_plot.finish()
    assert not live_plot.poll_timer.isActive() and not live_plot.redraw_timer.isActive()


def test_a_burst_of_records_costs_one_redraw(qtbot, live_plot, store, started_run):
    """Redraws run on a fixed-rate timer: 40 batches written between two ticks draw once."""
    run_id = started_run("toy.regret", seeds=1)
    live_plot.watch(run_id, "regret")
    renders = []
    real_render = live_plot.view.render
    live_plot.view.render = lambda data: (
        renders.append(data.tables["cumulative_regret"].rows),
        real_render(data),
    )
    live_plot.stop_timers()
    for step in range(1, 41):
        store.append(run_id, [("cumulative_regret", step, 0, float(step), 0.0)])
    live_plot.poll()
    live_plot.poll_timer.start()
    live_plot.redraw_timer.start()
    qtbot.waitUntil(lambda: bool(renders), timeout=WAIT_MS)
    qtbot.wait(150)  # a few more ticks with nothing new: no further redraws
    assert renders == [40]


def test_curves_put_loss_first_once_it_arrives(qtbot, live_plot, store, started_run):
    run_id = started_run("toy.every_type", seeds=2)
    store.append(
        run_id, [("accuracy", s, seed, 0.1 * s + seed, 0.0) for s in (1, 2) for seed in (0, 1)]
    )
    live_plot.watch(run_id, "curves")
    view = live_plot.view
    assert isinstance(view, CurvesView)
    assert view.shown_metrics == ["accuracy"]
    store.append(
        run_id, [("loss", s, seed, 4.0 / s + seed, 0.0) for s in (1, 2) for seed in (0, 1)]
    )
    qtbot.waitUntil(lambda: view.shown_metrics == ["loss", "accuracy"], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(curve_xy(view.series.mean_curve)[0]) == 2, timeout=WAIT_MS)
    assert np.allclose(curve_xy(view.series.mean_curve)[1], [4.5, 2.5])
    assert np.allclose(curve_xy(view.plots["accuracy"].mean_curve)[1], [0.6, 0.7])


def test_pareto_front_of_the_latest_step_with_directions(qtbot, live_plot, store, started_run):
    run_id = started_run("toy.front", seeds=2)
    store.set_objectives(run_id, ["error", "accuracy"], ["min", "max"], [1.0, 0.0])
    early = [(5, 0, 0, [0.9, 0.1], {})]
    # Minimise error, maximise accuracy: (0.3, 0.7) is beaten by (0.2, 0.8), (0.5, 0.85) by (0.4, 0.9).
    latest = [
        (10, 0, 0, [0.1, 0.5], {}),
        (10, 0, 1, [0.3, 0.7], {}),
        (10, 1, 0, [0.4, 0.9], {}),
        (10, 1, 1, [0.2, 0.8], {}),
        (10, 1, 2, [0.5, 0.85], {}),
    ]
    store.append(
        run_id,
        [("hypervolume", 10, seed, hv, 0.0) for seed, hv in ((0, 0.4), (1, 0.6))],
        pareto_rows=early + latest,
    )
    live_plot.watch(run_id, "pareto")
    view = live_plot.view
    assert isinstance(view, ParetoView)
    layer = view.projections[0].layers[0]
    qtbot.waitUntil(lambda: len(layer.front_points.data) == 3, timeout=WAIT_MS)
    front = sorted(
        zip(layer.front_points.data["x"].tolist(), layer.front_points.data["y"].tolist())
    )
    assert front == [(0.1, 0.5), (0.2, 0.8), (0.4, 0.9)]
    assert view.hypervolumes == [pytest.approx(0.75)]

    store.append(run_id, [], pareto_rows=[(20, 0, 0, [0.05, 0.95], {}), (20, 0, 1, [0.5, 0.5], {})])
    qtbot.waitUntil(
        lambda: live_plot.data.pareto_step == 20 and len(layer.front_points.data) == 1,
        timeout=WAIT_MS,
    )
    assert layer.front_points.data["x"].tolist() == [0.05]
    assert layer.dominated_points.data["x"].tolist() == [0.5]
    # One point at (0.05, 0.95) against (1, 0): 0.95 x 0.95.
    assert view.hypervolumes == [pytest.approx(0.9025)]


def test_two_plots_due_together_draw_in_separate_slots(qtbot, store, started_run):
    """When two plots' redraw timers fire in the same pass of the event loop, the second one
    does not render right after the first: it retries one slot (REDRAW_MS / PHASES) later,
    so their renders and paints never add up to one long stall."""
    from studio.views import live_plot as module

    plots, renders = [], []
    for index in range(2):
        run_id = started_run("toy.regret", seeds=1)
        plot = LivePlot(store)
        qtbot.addWidget(plot)
        plot.show()
        plot.watch(run_id, "regret")
        plot.stop_timers()
        store.append(run_id, regret_rows([1, 2], seeds=1))
        plot.poll()
        real = plot.view.render
        plot.view.render = lambda data, index=index, real=real: (
            renders.append((index, time.monotonic())),
            real(data),
        )
        plots.append(plot)
    try:
        module._last_render_end[0] = float("-inf")  # no plot has drawn for a while
        for plot in plots:
            plot.redraw_timer.start()
            plot.redraw()  # both due now, as when their timers fire together
        assert [index for index, _ in renders] == [0]
        assert plots[1].redraw_timer.interval() == module.SPREAD_MS
        qtbot.waitUntil(lambda: len(renders) == 2, timeout=WAIT_MS)
        assert renders[1][1] - renders[0][1] >= module.SPREAD_MS / 1000 * 0.9
        assert plots[1].redraw_timer.interval() == module.REDRAW_MS  # back to its own rate
    finally:
        for plot in plots:
            plot.stop_timers()


def test_opening_a_plot_collects_once_then_freezes_what_lives(qtbot, live_plot, store, started_run):
    """After a view is built, one collection frees cyclic garbage (nothing leaks into the
    frozen generation), and what lives is frozen, out of later full collections."""
    import gc
    import weakref

    class Node:
        pass

    cycle = Node()
    cycle.self = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.freeze()  # as if frozen at start-up: an unfreeze must come first for it to be freed
    live_plot.watch(started_run("toy.regret", seeds=1), "regret")
    qtbot.waitUntil(lambda: gone() is None, timeout=WAIT_MS)
    assert gc.get_freeze_count() > 0
