"""The sweep view: each point is its run's summary with the 95% band, computed here from the
values the test wrote; lines per value of a second key; log x for a log-spaced key; new runs
appear on refresh; tests between groups get the right seeds."""

import math

import numpy as np
import pytest

from engine.metrics.run_summary import Summary
from engine.store import Store
from studio.sweeps.data import SweepData
from studio.sweeps.sweep_view import SweepView, sweep_lines
from tests.sweep_runs import fake_sweep, write_run

STEPS = [0, 10, 20]
RATES = [0.01, 0.1, 1.0]
SCALES = [1.0, 2.0]
T3 = 3.182446  # t_{0.975, 3}: four seeds


def _values(rate, scale):
    """Checkpoints x 4 seeds, different for every point."""
    rng = np.random.default_rng(int(rate * 1000 + scale * 7))
    return np.log10(rate) * scale + rng.normal(size=(len(STEPS), 4))


@pytest.fixture
def sweep_store(tmp_path, monkeypatch):
    """A store with the six runs of a rate x scale grid, and `Store.sweep` answering for it."""
    store = Store(tmp_path / "sweep.db")
    points, values = [], {}
    for rate in RATES:
        for scale in SCALES:
            table = _values(rate, scale)
            run_id = write_run(store, STEPS, table, rate=rate, scale=scale, keep=3)
            values[run_id] = table
            points.append(({"algorithm.rate": rate, "problem.scale": scale}, run_id, "finished"))
    doc = fake_sweep(1, ["algorithm.rate", "problem.scale"], ["algorithm.rate"], points)
    monkeypatch.setattr(store, "sweep", lambda sweep_id: doc, raising=False)
    yield store, doc, values
    store.close()


def _queue_point(doc, rate, scale=1.0):
    """A seventh point, queued: no run yet."""
    doc["points"].append(
        {"idx": 6, "values": {"algorithm.rate": rate, "problem.scale": scale}, "run_id": None,
         "status": "queued", "priority": 0}
    )  # fmt: skip


def _view_with_a_queued_point(qtbot, store, doc, rate) -> SweepView:
    """The sweep view of final loss against rate, one line per scale, after `_queue_point`."""
    _queue_point(doc, rate)
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    return view


def _final(table):
    last = table[-1]
    mean = last.mean()
    half = T3 * last.std(ddof=1) / 2
    return mean, mean - half, mean + half


def test_the_point_of_a_parameter_value_is_that_runs_final_mean_and_band(qtbot, sweep_store):
    store, doc, values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    assert [line.label for line in view.lines] == ["problem.scale = 1", "problem.scale = 2"]
    line = view.lines[1]
    assert line.x.tolist() == RATES
    point = next(
        p for p in doc["points"] if p["values"] == {"algorithm.rate": 0.1, "problem.scale": 2.0}
    )
    k = line.run_ids.index(point["run_id"])
    mean, lo, hi = _final(values[point["run_id"]])
    assert line.mean[k] == pytest.approx(mean, rel=1e-9)
    assert line.lo[k] == pytest.approx(lo, abs=1e-5) and line.hi[k] == pytest.approx(hi, abs=1e-5)
    assert line.n[k] == 4  # every seed, though only three were kept
    # what is drawn: the mean line's points and the error bar of that point
    xs, ys = view.items[1].mean.getData()
    assert ys[k] == pytest.approx(mean, rel=1e-9)
    bar_y = view.items[1].bars.getData()[1]
    assert bar_y[2 * k] == pytest.approx(lo, abs=1e-5)
    # log-spaced rate: a log x axis (pyqtgraph holds log10 of the data)
    assert view.plot_item.getAxis("bottom").logMode
    assert xs[k] == pytest.approx(math.log10(0.1))
    view.stop()


def test_best_and_auc_summaries_follow_the_choice(qtbot, sweep_store):
    store, doc, values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("best", best="min"))
    run_id = doc["points"][0]["run_id"]
    line = view.lines[0]
    k = line.run_ids.index(run_id)
    assert line.mean[k] == pytest.approx(values[run_id].mean(axis=1).min(), rel=1e-9)
    view.choice.set_choice("loss", Summary("auc"))
    means = values[run_id].mean(axis=1)
    auc = 10 * (means[0] + means[1]) / 2 + 10 * (means[1] + means[2]) / 2
    assert view.lines[0].mean[view.lines[0].run_ids.index(run_id)] == pytest.approx(auc)
    assert "kept seeds" in view.notes.text()
    view.stop()


def test_a_run_that_finishes_appears_on_refresh(qtbot, sweep_store):
    store, doc, values = sweep_store
    view = _view_with_a_queued_point(qtbot, store, doc, 0.5)
    assert len(view.lines[0].x) == 3
    assert "6 of 7 points finished, 1 queued" in view.progress.text()
    table = _values(0.5, 1.0)
    run_id = write_run(store, STEPS, table, rate=0.5, scale=1.0)
    doc["points"][-1].update(run_id=run_id, status="finished")
    with qtbot.waitSignal(view.live.updated, timeout=2000):
        view.refresh()
    assert view.lines[0].x.tolist() == [0.01, 0.1, 0.5, 1.0]
    k = view.lines[0].run_ids.index(run_id)
    assert view.lines[0].mean[k] == pytest.approx(_final(table)[0], rel=1e-9)
    assert "7 of 7 points finished" in view.progress.text()
    view.stop()


def test_a_key_off_the_plot_is_fixed_at_one_value(sweep_store):
    store, doc, values = sweep_store
    sweep = SweepData.from_dict(doc)
    from studio.sweeps.data import SweepRuns

    runs = SweepRuns(store)
    runs.refresh(sweep)
    summaries = runs.summaries(sweep, "loss", Summary("final"))
    lines, categories = sweep_lines(sweep, summaries, "algorithm.rate", "", {"problem.scale": 2.0})
    assert categories is None and len(lines) == 1
    expected = [
        _final(values[p["run_id"]])[0] for p in doc["points"] if p["values"]["problem.scale"] == 2.0
    ]
    assert lines[0].mean.tolist() == pytest.approx(expected)
    # categorical x: positions 0, 1 for the values in first-seen order
    doc2 = fake_sweep(
        2, ["algorithm.id"], [], [({"algorithm.id": "b"}, doc["points"][0]["run_id"], "finished"),
                                  ({"algorithm.id": "a"}, doc["points"][1]["run_id"], "finished")]
    )  # fmt: skip
    lines, categories = sweep_lines(SweepData.from_dict(doc2), summaries, "algorithm.id")
    assert categories == ["b", "a"] and lines[0].x.tolist() == [0.0, 1.0]


def test_tests_between_groups_pool_the_kept_seeds_of_each_value(qtbot, sweep_store):
    store, doc, values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    view.group_combo.setCurrentIndex(view.group_combo.findData("problem.scale"))
    rows = view.stats.rows
    assert len(rows) == 1 and (rows[0].group_a, rows[0].group_b) == (
        "problem.scale = 1",
        "problem.scale = 2",
    )
    kept = {
        scale: np.concatenate(
            [
                values[p["run_id"]][-1, :3]
                for p in doc["points"]
                if p["values"]["problem.scale"] == scale
            ]
        )
        for scale in SCALES
    }
    assert (rows[0].n_a, rows[0].n_b) == (9, 9)  # three rates x three kept seeds
    assert rows[0].mean_a == pytest.approx(kept[1.0].mean())
    assert rows[0].difference == pytest.approx(kept[1.0].mean() - kept[2.0].mean())
    csv_text = view.stats.csv_text()
    assert csv_text.startswith("# sweep 1 (sweep)\n# summary: final loss\n")
    assert "each group pools its runs over algorithm.rate" in csv_text
    view.stop()


def test_a_running_point_moves_as_its_run_records_checkpoints(qtbot, sweep_store):
    import time

    from engine.store import aggregate_row

    store, doc, values = sweep_store
    table = _values(0.5, 2.0)
    run_id = write_run(store, STEPS[:2], table[:2], rate=0.5, scale=2.0, status="running")
    doc["points"].append(
        {"idx": 6, "values": {"algorithm.rate": 0.5, "problem.scale": 2.0}, "run_id": run_id,
         "status": "running", "priority": 0}
    )  # fmt: skip
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    line = view.lines[1]
    assert line.mean[line.run_ids.index(run_id)] == pytest.approx(table[1].mean())  # step 10 so far
    # the y range is fitted as growing while a point runs, and not once none does
    growing, fit = [], view.ranges.fit

    def spy(values, growing=False, seen=growing):
        seen.append(growing)
        return fit(values, growing)

    view.ranges.fit = spy
    view.redraw()
    assert growing == [True]
    store.append(run_id, aggregate_rows=[aggregate_row("loss", STEPS[2], table[2], time.time())])
    store.finish_run(run_id, "finished")
    doc["points"][-1]["status"] = "finished"
    view.refresh()
    line = view.lines[1]
    assert line.mean[line.run_ids.index(run_id)] == pytest.approx(_final(table)[0])
    assert growing[-1] is False
    view.stop()


def test_export_writes_every_point_with_its_summary_and_the_tests(qtbot, sweep_store, tmp_path):
    import csv

    store, doc, values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    view.group_combo.setCurrentIndex(view.group_combo.findData("problem.scale"))
    written = view.export_csv(tmp_path / "sweep.csv")
    assert [p.name for p in written] == ["sweep.csv", "sweep-tests.csv"]
    lines = written[0].read_text(encoding="utf-8").splitlines()
    assert lines[1] == "# summary: final loss"
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert len(rows) == 6 and list(rows[0])[:5] == [
        "idx",
        "run_id",
        "status",
        "algorithm.rate",
        "problem.scale",
    ]
    row = next(r for r in rows if (r["algorithm.rate"], r["problem.scale"]) == ("0.1", "2.0"))
    mean, lo, hi = _final(values[int(row["run_id"])])
    assert float(row["mean"]) == pytest.approx(mean, rel=1e-9)
    assert float(row["lo"]) == pytest.approx(lo, abs=1e-5) and float(row["hi"]) == pytest.approx(
        hi, abs=1e-5
    )
    assert (row["n"], row["step"]) == ("4", "20")
    assert "welch_p_holm" in written[1].read_text(encoding="utf-8")
    # the export figure: log10 of the log-spaced rates, one curve per line
    figure = view.current_figure()
    assert figure.x_label == "log10 algorithm.rate" and len(figure.curves) == 2
    assert figure.curves[1].steps.tolist() == pytest.approx([-2.0, -1.0, 0.0])
    assert figure.curves[1].mean.tolist() == pytest.approx(view.lines[1].mean.tolist())
    view.stop()


def test_the_panel_shares_one_reader_between_its_views(qtbot, sweep_store):
    from studio.sweeps.panel import SweepPanel

    store, doc, values = sweep_store
    panel = SweepPanel(store, 1)
    qtbot.addWidget(panel)
    assert [panel.tabs.tabText(i) for i in range(panel.tabs.count())] == ["Sweep", "Trade-off"]
    assert panel.sweep_view.live is panel.tradeoff_view.live is panel.live
    run_id = doc["points"][0]["run_id"]
    with qtbot.waitSignal(panel.run_activated, timeout=1000) as blocker:
        panel.tradeoff_view.run_activated.emit(run_id)
    assert blocker.args == [run_id]
    with pytest.raises(KeyError):
        doc_missing = {}
        store.sweep = lambda sweep_id: doc_missing[sweep_id]
        SweepPanel(store, 99)
    panel.stop()


def test_a_refresh_updates_the_drawn_items_in_place(qtbot, sweep_store, monkeypatch):
    """While a sweep streams the same items carry the new values (no items made again, no
    signal connected again), and the other points still show their run's final mean and band."""
    import time

    import studio.sweeps.group_stats_panel as panel_module
    from engine.store import aggregate_row

    store, doc, values = sweep_store
    table = _values(0.5, 2.0)
    run_id = write_run(store, STEPS[:2], table[:2], rate=0.5, scale=2.0, status="running")
    doc["points"].append(
        {"idx": 6, "values": {"algorithm.rate": 0.5, "problem.scale": 2.0}, "run_id": run_id,
         "status": "running", "priority": 0}
    )  # fmt: skip
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    view.group_combo.setCurrentIndex(view.group_combo.findData("problem.scale"))
    items = view.items[1]
    graphics = items.graphics()
    legend_items = list(view.plot_item.legend.items)
    store.append(run_id, aggregate_rows=[aggregate_row("loss", STEPS[2], table[2], time.time())])
    store.finish_run(run_id, "finished")
    doc["points"][-1]["status"] = "finished"
    view.refresh()
    assert view.items[1] is items and items.graphics() == graphics
    assert all(g.scene() is view.plot_item.scene() for g in graphics)  # still on the plot
    assert list(view.plot_item.legend.items) == legend_items
    line = view.lines[1]
    assert line.x.tolist() == [0.01, 0.1, 0.5, 1.0]
    mean, lo, hi = _final(table)
    k = line.run_ids.index(run_id)
    _, ys = items.mean.getData()
    assert ys[k] == pytest.approx(mean, rel=1e-9)  # was the step-10 mean before the refresh
    assert items.bars.getData()[1][2 * k : 2 * k + 2] == pytest.approx([lo, hi], abs=1e-5)
    assert items.band_lo.getData()[1][k] == pytest.approx(lo, abs=1e-5)
    assert items.band_hi.getData()[1][k] == pytest.approx(hi, abs=1e-5)
    # the point of rate 0.1 (scale 2) is still its own run's final mean and band
    point = next(
        p for p in doc["points"] if p["values"] == {"algorithm.rate": 0.1, "problem.scale": 2.0}
    )
    k = line.run_ids.index(point["run_id"])
    mean, lo, hi = _final(values[point["run_id"]])
    assert items.mean.getData()[1][k] == pytest.approx(mean, rel=1e-9)
    assert items.bars.getData()[1][2 * k : 2 * k + 2] == pytest.approx([lo, hi], abs=1e-5)
    # a refresh that brings nothing draws nothing and runs no tests again
    calls = []
    original = panel_module.compare_groups
    monkeypatch.setattr(
        panel_module, "compare_groups", lambda groups: calls.append(1) or original(groups)
    )
    data_before = items.mean.getData()[1].copy()
    view.redraw()
    assert calls == [] and np.array_equal(items.mean.getData()[1], data_before)
    # fewer lines: the extra items leave the plot; more again: new ones come in
    view.set_keys("algorithm.rate", "")
    assert len(view.items) == 1 and graphics[-1].scene() is None
    view.stop()


def test_new_data_is_drawn_once_per_interval_and_not_while_hidden(qtbot, sweep_store):
    from studio.sweeps.live import REDRAW_MS

    store, doc, values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    draws = []
    draw = view.redraws.draw
    view.redraws.draw = lambda: draws.append(1) or draw()
    for _ in range(3):  # three polls in one interval
        view.live.updated.emit(set())
    assert draws == []
    qtbot.wait(REDRAW_MS + 150)
    assert draws == [1]
    view.hide()
    view.live.updated.emit(set())
    qtbot.wait(REDRAW_MS + 150)
    assert draws == [1]  # hidden: owed, not drawn
    view.show()
    assert draws == [1, 1]  # drawn when shown again
    qtbot.wait(REDRAW_MS + 150)
    assert draws == [1, 1]
    view.stop()


def test_tests_computed_in_the_background_fill_the_table_when_done(qtbot):
    from studio.sweeps.group_stats_panel import GroupStatsTable

    table = GroupStatsTable()
    qtbot.addWidget(table)
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0])
    table.set_groups({"c = 1": a, "c = 2": b}, ["h"], background=True)
    qtbot.waitUntil(lambda: len(table.rows) == 1, timeout=60000)  # scipy imports there
    row = table.rows[0]
    assert (row.mean_a, row.mean_b, row.difference) == pytest.approx((2.5, 5.0, -2.5))
    # Welch: se^2 = var(a)/4 + var(b)/4 = (5/3)/4 + (20/3)/4 = 25/12
    se = math.sqrt(25 / 12)
    assert row.difference_hi - row.difference == pytest.approx(row.difference - row.difference_lo)
    # Welch-Satterthwaite df = se^4 / ((5/12)^2/3 + (20/12)^2/3) = 75/17
    from scipy import stats

    half = stats.t.ppf(0.975, 75 / 17) * se
    assert row.difference_hi - row.difference == pytest.approx(half, rel=1e-9)
    assert table.table.item(0, 3).text() == "2.5"
    # newer groups win over tests still being computed for older ones
    table.set_groups({"c = 1": a, "c = 2": b + 1}, ["h"], background=True)
    table.set_groups({"c = 1": a, "c = 4": b + 2}, ["h"], background=True)
    qtbot.waitUntil(lambda: table.rows[0].group_b == "c = 4", timeout=30000)
    qtbot.wait(100)
    assert table.rows[0].mean_b == pytest.approx(7.0)


def test_a_poll_reads_the_runs_in_a_thread_of_its_own(qtbot, sweep_store, monkeypatch):
    """What a poll reads (in the sweep's reading thread, on a connection of its own) is what a
    read at once gives: the running point moves to its run's final mean."""
    import threading
    import time

    from engine.store import aggregate_row
    from studio.sweeps.data import SweepRuns

    store, doc, values = sweep_store
    table = _values(0.5, 2.0)
    run_id = write_run(store, STEPS[:2], table[:2], rate=0.5, scale=2.0, status="running")
    doc["points"].append(
        {"idx": 6, "values": {"algorithm.rate": 0.5, "problem.scale": 2.0}, "run_id": run_id,
         "status": "running", "priority": 0}
    )  # fmt: skip
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    threads = []
    read = SweepRuns.read
    monkeypatch.setattr(
        SweepRuns,
        "read",
        staticmethod(lambda s, plans: threads.append(threading.get_ident()) or read(s, plans)),
    )
    store.append(run_id, aggregate_rows=[aggregate_row("loss", STEPS[2], table[2], time.time())])
    store.finish_run(run_id, "finished")
    doc["points"][-1]["status"] = "finished"
    view.live._version = -1  # as if an engine process had written (its own connection)
    with qtbot.waitSignal(view.live.updated, timeout=20000) as blocker:
        view.live.poll()
    assert blocker.args == [{run_id}]
    assert threads and threading.get_ident() not in threads
    view.redraws.flush()
    line = view.lines[1]
    assert line.mean[line.run_ids.index(run_id)] == pytest.approx(_final(table)[0], rel=1e-9)
    assert "7 of 7 points finished" in view.progress.text()
    view.stop()


def test_worker_threads_shorten_the_switch_interval_while_any_of_them_works():
    import sys

    from studio.sweeps.worker import SWITCH_S, run_yielding, yielding_gil

    before = sys.getswitchinterval()
    with yielding_gil():
        assert sys.getswitchinterval() == pytest.approx(min(SWITCH_S, before))
        assert run_yielding(lambda x: 2 * x, 21) == 42
        assert sys.getswitchinterval() == pytest.approx(min(SWITCH_S, before))  # still one on
    assert sys.getswitchinterval() == pytest.approx(before)


def test_the_panel_shortens_the_switch_interval_only_while_scipy_is_imported(
    qtbot, sweep_store, monkeypatch
):
    import sys

    from engine.metrics import group_stats
    from studio.sweeps.panel import SweepPanel
    from studio.sweeps.worker import SWITCH_S

    store, doc, values = sweep_store
    before = sys.getswitchinterval()
    importing = [True]
    monkeypatch.setattr(group_stats, "preload_in_background", lambda: None)
    monkeypatch.setattr(group_stats, "ready", lambda: not importing[0])
    panel = SweepPanel(store, 1)
    qtbot.addWidget(panel)
    assert sys.getswitchinterval() == pytest.approx(min(SWITCH_S, before))
    importing[0] = False
    qtbot.waitUntil(lambda: sys.getswitchinterval() == pytest.approx(before), timeout=2000)
    panel.stop()


def test_the_y_range_moves_only_when_the_data_leave_it_or_shrink_inside_it(qtbot):
    import pyqtgraph as pg

    from studio.sweeps.sticky_range import StickyRange

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    sticky = StickyRange(plot.getPlotItem())
    assert sticky.fit(np.array([0.0, 10.0]))
    assert sticky.range == pytest.approx((-1.0, 11.0))  # 10 % of the span each side
    assert plot.getPlotItem().getViewBox().viewRange()[1] == pytest.approx([-1.0, 11.0])
    # inside, and filling more than half of it: nothing moves
    assert not sticky.fit(np.array([0.5, 10.5, np.nan]))
    assert sticky.range == pytest.approx((-1.0, 11.0))
    # a value above it: fitted again with headroom
    assert sticky.fit(np.array([0.0, 12.0]))
    assert sticky.range == pytest.approx((-1.2, 13.2))
    # the data shrink to less than half of the range: fitted again
    assert sticky.fit(np.array([5.0, 6.0]))
    assert sticky.range == pytest.approx((4.9, 6.1))
    # one value: a range around it, never an empty one
    assert sticky.fit(np.array([3.0]))
    assert sticky.range == pytest.approx((2.7, 3.3))
    # a user's zoom is kept; the auto-range button hands the range back
    sticky.view_box.sigRangeChangedManually.emit([True, True])
    assert not sticky.fit(np.array([100.0, 200.0]))
    sticky.view_box.enableAutoRange(y=True)
    assert sticky.fit(np.array([100.0, 200.0]))
    assert sticky.range == pytest.approx((90.0, 210.0))


def test_while_a_sweep_streams_the_y_range_grows_with_room_and_ends_tight(qtbot):
    import pyqtgraph as pg

    from studio.sweeps.sticky_range import StickyRange

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    sticky = StickyRange(plot.getPlotItem())
    assert sticky.fit(np.array([0.0, 10.0]), growing=True)
    assert sticky.range == pytest.approx((-1.0, 11.0))  # a first fit: 10 % each side
    # a value above it while streaming: half the span of room above, 10 % below
    assert sticky.fit(np.array([0.0, 12.0]), growing=True)
    assert sticky.range == pytest.approx((-1.2, 18.0))
    # growth within that room moves nothing (it would have, with 10 % room)
    assert not sticky.fit(np.array([0.0, 14.0]), growing=True)
    assert not sticky.fit(np.array([0.0, 17.5]), growing=True)
    # a value below it: the room goes below
    assert sticky.fit(np.array([-5.0, 17.5]), growing=True)
    assert sticky.range == pytest.approx((-5.0 - 0.5 * 22.5, 17.5 + 0.1 * 22.5))
    # the sweep ends: fitted again, tight, once
    assert sticky.fit(np.array([-5.0, 17.5]))
    assert sticky.range == pytest.approx((-7.25, 19.75))
    assert not sticky.fit(np.array([-5.0, 17.5]))
    assert plot.getPlotItem().getViewBox().viewRange()[1] == pytest.approx([-7.25, 19.75])


def test_every_drawn_point_and_band_is_inside_the_view(qtbot, sweep_store):
    store, _doc, _values = sweep_store
    view = SweepView(store, 1)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    view.set_keys("algorithm.rate", "problem.scale")
    assert view.lines
    low, high = view.plot_item.getViewBox().viewRange()[1]
    for line in view.lines:
        for series in (line.lo, line.mean, line.hi):
            finite = series[np.isfinite(series)]
            assert low <= finite.min() and finite.max() <= high
    view.stop()


def test_the_x_range_spans_every_swept_value_before_its_run_finishes(qtbot, sweep_store):
    """Set from the sweep's points (a queued one's value included), with 5 % of the span
    each side on the log axis, x auto range off: it does not move as the run finishes."""
    store, doc, _values_by_run = sweep_store
    view = _view_with_a_queued_point(qtbot, store, doc, 0.001)
    box = view.plot_item.getViewBox()
    assert min(view.lines[0].x) == 0.01  # the queued point is not drawn
    span = 0.0 - (-3.0)  # log10 of 1 and of 0.001
    want = [-3.0 - 0.05 * span, 0.0 + 0.05 * span]
    assert box.viewRange()[0] == pytest.approx(want)
    assert not box.state["autoRange"][0]
    run_id = write_run(store, STEPS, _values(0.001, 1.0), rate=0.001, scale=1.0)
    doc["points"][-1].update(run_id=run_id, status="finished")
    with qtbot.waitSignal(view.live.updated, timeout=2000):
        view.refresh()
    assert min(view.lines[0].x) == 0.001
    assert box.viewRange()[0] == pytest.approx(want)
    view.stop()
