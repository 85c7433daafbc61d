"""End to end: the window, the real engine (submit, scheduler, its workers), the store, the
live plots; closing mid-run."""

import os
import sys

import numpy as np
from PySide6.QtCore import QProcess, Qt
from PySide6.QtWidgets import QApplication

from studio.configure import catalogue_loader

ENGINE_MS = 60_000
# Long enough (a few seconds of 2 seeds) that the long run, queued at the same moment,
# starts while the short one still runs, however fast the machine.
SHORT_STEPS = 300_000


def configure(win, algorithm, seeds, steps, name=""):
    win.catalogue_pane.select(algorithm)
    win.config.run_form.fields["seeds"].set_value(seeds)
    win.config.run_form.fields["steps"].set_value(steps)
    win.config.run_form.fields["name"].set_value(name)
    win.hardware_panel.set_device("cpu")
    win.hardware_panel.threads.setValue(1)


def test_two_runs_side_by_side_from_click_to_plot(qtbot, make_window, store):
    """Choose in the catalogue, run a short and a long run at once (two workers), watch both;
    the short one's plot is the store's mean over seeds; Stop cancels the long one."""
    win = make_window(hardware=None)
    assert win.catalogue_message.text() == "loading catalogue…"
    qtbot.waitUntil(
        lambda: win.catalogue is not None and win.hardware is not None, timeout=ENGINE_MS
    )
    assert win.catalogue_message.isHidden() and win.run_button.isEnabled()
    assert win.hardware_panel.cores == os.cpu_count()

    # Two runs queued at once; the scheduler's two workers run them side by side.
    configure(win, "bandits.thompson_beta", seeds=2, steps=10_000_000, name="long")
    qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    configure(win, "bandits.ucb1", seeds=2, steps=SHORT_STEPS, name="short")
    assert (
        win.config.algorithm.id == "bandits.ucb1"
        and win.catalogue_pane.current_id == "bandits.ucb1"
    )
    qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    long, short = win.queue.entries
    # Queued by the engine (`tradeoff submit`), then run by its scheduler's two workers.
    assert (short.state, long.state) == ("submitting", "submitting")
    assert win.stop_button.isEnabled() and win.run_button.isEnabled()  # more runs may be queued
    qtbot.waitUntil(
        lambda: short.state == "finished" and long.state == "running", timeout=ENGINE_MS
    )
    # Side by side: the long run started before the short one ended, and goes on.
    assert store.get_run(long.run_id)["started_at"] < store.get_run(short.run_id)["finished_at"]
    assert store.get_run(long.run_id)["stored_status"] == "running"

    run = store.get_run(short.run_id)
    assert (run["status"], run["algorithm"], run["seeds"], run["steps_done"]) == (
        "finished",
        "bandits.ucb1",
        2,
        SHORT_STEPS,
    )
    assert short.steps_done == SHORT_STEPS
    # The short run's tile draws the store's mean over the two seeds, to the last recorded step.
    plot = win.watch.plot_for(short.run_id)
    qtbot.waitUntil(lambda: not plot.poll_timer.isActive(), timeout=ENGINE_MS)
    per_seed = store.series(short.run_id, "cumulative_regret")
    expected = (per_seed[0][1] + per_seed[1][1]) / 2
    x, y = plot.view.series.mean_curve.getOriginalDataset()
    assert x[-1] == SHORT_STEPS and np.allclose(y, expected)
    assert "regret_upper_bound" in plot.view.series.bound_curves

    # Both runs are watched side by side; the long one is live and has data.
    assert {t.run_id for t in win.watch.tiles} == {short.run_id, long.run_id}
    long_plot = win.watch.plot_for(long.run_id)
    qtbot.waitUntil(lambda: "cumulative_regret" in long_plot.data.tables, timeout=ENGINE_MS)
    assert "1 running, 0 waiting" in win.engine_state.text()
    win.queue_view.select(long)
    qtbot.mouseClick(win.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: long.state == "cancelled", timeout=ENGINE_MS)
    row = store.get_run(long.run_id)
    assert row["status"] == "cancelled" and 0 < row["steps_done"] < 10_000_000
    assert "idle" in win.engine_state.text() and not win.stop_button.isEnabled()


def start_long_run(qtbot, win, name):
    configure(win, "bandits.ucb1", seeds=1, steps=50_000_000, name=name)
    entry = win.start_run()
    qtbot.waitUntil(lambda: entry.state == "running" and entry.steps_done > 0, timeout=ENGINE_MS)
    return entry


def test_runs_let_finish_in_the_background_outlive_the_window(
    qtbot, make_window, store, engine_catalogue
):
    """Close with "let them finish": the engine goes on without the window; the next window
    adopts it from the store, shows its true status, and can still stop it."""
    win = make_window(engine_catalogue)
    entry = start_long_run(qtbot, win, "background")
    pid, run_id = entry.pid, entry.run_id
    win.ask_close_choice = lambda in_flight: "background"
    win.close()
    assert not win.isVisible()
    done_at_close = store.get_run(run_id)["steps_done"]
    # Still alive and still recording with no window watching it.
    qtbot.waitUntil(lambda: store.get_run(run_id)["steps_done"] > done_at_close, timeout=ENGINE_MS)
    os.kill(pid, 0)

    again = make_window(engine_catalogue)
    shown = again.queue.entry_for(run_id)
    assert shown is not None and shown.state == "running" and shown.sweep_id == entry.sweep_id
    assert again.watch.tile(run_id) is not None
    again.queue_view.select(shown)
    again.stop_selected()
    qtbot.waitUntil(lambda: shown.state == "cancelled", timeout=ENGINE_MS)
    assert store.get_run(run_id)["status"] == "cancelled"


def fake_engine(script):
    """Replace `python -m engine ...` (a QProcess) by a tiny Python script."""

    def build(parent, *args):
        process = QProcess(parent)
        process.setProgram(sys.executable)
        process.setArguments(["-c", script])
        return process

    return build


def test_a_failed_catalogue_is_shown_in_the_window(qtbot, make_window, monkeypatch):
    monkeypatch.setattr(
        catalogue_loader,
        "engine_process",
        fake_engine("import sys; print('no module named torch', file=sys.stderr); sys.exit(1)"),
    )
    win = make_window()
    qtbot.waitUntil(
        lambda: "could not be loaded" in win.catalogue_message.text(), timeout=ENGINE_MS
    )
    assert "no module named torch" in win.catalogue_message.text()
    assert win.config_scroll.isHidden() and not win.run_button.isEnabled()


def test_the_studio_only_reads_the_store(qtbot, make_window, store, toy_catalogue, started_run):
    run_id = started_run("toy.regret")
    store.append(run_id, [("cumulative_regret", 1, 0, 1.0, 0.0)])
    store.finish_run(run_id, "finished")
    before = store.conn.total_changes
    win = make_window(toy_catalogue)
    assert win.show_run(run_id)
    plot = win.watch.plot_for(run_id)
    qtbot.waitUntil(
        lambda: "cumulative_regret" in plot.data.tables and not plot.poll_timer.isActive(),
        timeout=ENGINE_MS,
    )
    assert store.conn.total_changes == before


def test_setting_up_a_run_starts_the_engines_workers_ahead_of_run(
    qtbot, make_window, store, toy_catalogue, standin_engine
):
    """A field of the configure pane taking the focus from another widget (the user is
    setting up a run) starts a scheduler, once; the window opening does not."""
    from engine import sweep_store

    win = make_window(toy_catalogue)
    win.warm_engine = True
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    assert win.queue._schedulers == []  # opening the window started nothing
    win.run_button.setFocus()
    qtbot.waitUntil(lambda: win.run_button.hasFocus(), timeout=5000)
    assert win.queue._schedulers == []  # a widget outside the set-up panes
    win.config.problem_combo.setFocus()
    qtbot.waitUntil(lambda: sweep_store.scheduler(store.conn) is not None, timeout=30_000)
    assert len(win.queue._schedulers) == 1
    win.run_button.setFocus()
    win.config.problem_combo.setFocus()  # again within the minute: nothing more
    assert len(win.queue._schedulers) == 1


def test_a_click_in_the_catalogue_starts_the_engines_workers(
    qtbot, make_window, store, toy_catalogue, standin_engine
):
    """A click on an algorithm of the list, which may have had the focus already."""
    from engine import sweep_store

    win = make_window(toy_catalogue)
    win.warm_engine = True
    tree = win.catalogue_pane.tree
    item = (
        tree.topLevelItem(0).child(0) if tree.topLevelItem(0).childCount() else tree.topLevelItem(0)
    )
    assert win.queue._schedulers == []
    tree.scrollToItem(item)
    qtbot.mouseClick(
        tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center()
    )
    qtbot.waitUntil(lambda: sweep_store.scheduler(store.conn) is not None, timeout=30_000)
    assert len(win.queue._schedulers) == 1


def test_no_workers_are_started_ahead_when_sweeps_go_to_a_ray_cluster(
    qtbot, make_window, toy_catalogue, standin_engine
):
    win = make_window(toy_catalogue)
    win.warm_engine = True
    win.hardware_panel.set_backend("ray", "127.0.0.1:6379")
    assert not win.warm_engine_now()
    assert win.queue._schedulers == []
    win.hardware_panel.set_backend("local")
    assert win.warm_engine_now()
