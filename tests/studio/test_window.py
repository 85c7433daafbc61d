"""End to end: the window, a real engine process, the store, the live plot."""

import sys

import numpy as np
import pytest
from PySide6.QtCore import QProcess, Qt

from studio import catalogue_loader, run_process
from studio.window import MainWindow

ENGINE_MS = 60_000


@pytest.fixture
def window(qtbot, store):
    built = []

    def build(catalogue=None):
        win = MainWindow(store, catalogue=catalogue)
        qtbot.addWidget(win)
        win.show()
        built.append(win)
        return win

    yield build
    # Before the store closes: no more polls, and no engine left running after a failure.
    for win in built:
        win.live_plot.stop_timers()
        process = win.run_process.process
        if process is not None:
            process.kill()
            process.waitForFinished(5000)


def configure(win, algorithm, seeds, steps):
    win.config.select_algorithm(algorithm)
    win.config.run_form.fields["seeds"].set_value(seeds)
    win.config.run_form.fields["steps"].set_value(steps)
    win.config.hardware_form.fields["device"].set_value("cpu")


def test_a_run_from_click_to_finished_plot(qtbot, window, store):
    win = window()
    assert win.catalogue_message.text() == "loading catalogue…"
    qtbot.waitUntil(lambda: win.catalogue is not None, timeout=ENGINE_MS)
    assert win.catalogue_message.isHidden() and win.run_button.isEnabled()
    configure(win, "bandits.ucb1", seeds=2, steps=3000)
    qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    assert win.stop_button.isEnabled() and not win.run_button.isEnabled()
    qtbot.waitUntil(lambda: win.status == "finished", timeout=ENGINE_MS)

    run = store.list_runs()[-1]
    assert (run["status"], run["algorithm"], run["seeds"], run["steps_done"]) == ("finished", "bandits.ucb1", 2, 3000)
    assert win.run_process.run_id == run["id"]
    assert win.progress.value() == win.progress.maximum() == 3000
    # What is drawn is the store's mean over the two seeds, to the last recorded step.
    per_seed = store.series(run["id"], "cumulative_regret")
    expected = (per_seed[0][1] + per_seed[1][1]) / 2
    x, y = win.live_plot.view.series.mean_curve.getOriginalDataset()
    assert x[-1] == 3000 and np.allclose(y, expected)
    assert "regret_upper_bound" in win.live_plot.view.series.bound_curves
    assert win.run_button.isEnabled() and not win.stop_button.isEnabled()


def test_stop_cancels_the_run(qtbot, window, store, engine_catalogue):
    win = window(engine_catalogue)
    configure(win, "bandits.ucb1", seeds=2, steps=10_000_000)
    qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cumulative_regret" in win.live_plot.data.tables, timeout=ENGINE_MS)
    qtbot.mouseClick(win.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.status == "cancelled", timeout=ENGINE_MS)
    run = store.get_run(win.run_process.run_id)
    assert run["status"] == "cancelled" and 0 < run["steps_done"] < 10_000_000


def fake_engine(script):
    """Replace `python -m engine ...` by a tiny Python script (to reach failure paths fast)."""

    def build(parent, *args):
        process = QProcess(parent)
        process.setProgram(sys.executable)
        process.setArguments(["-c", script])
        return process

    return build


def test_a_failed_catalogue_is_shown_in_the_window(qtbot, window, monkeypatch):
    monkeypatch.setattr(catalogue_loader, "engine_process",
                        fake_engine("import sys; print('no module named torch', file=sys.stderr); sys.exit(1)"))
    win = window()
    qtbot.waitUntil(lambda: "could not be loaded" in win.catalogue_message.text(), timeout=ENGINE_MS)
    assert "no module named torch" in win.catalogue_message.text()
    assert win.config_scroll.isHidden() and not win.run_button.isEnabled()


@pytest.mark.parametrize("script, status, error", [
    ("import sys; print('run 7 started: x', file=sys.stderr); print('error: ZeroDivisionError: boom "
     "(full traceback: tradeoff show 7)', file=sys.stderr); sys.exit(1)",
     "failed", "ZeroDivisionError: boom (full traceback: tradeoff show 7)"),
    ("import sys; print('error: spec.toml: hardware.device: no CUDA device', file=sys.stderr); sys.exit(2)",
     "failed", "spec.toml: hardware.device: no CUDA device"),
    ("import sys; print('run 3 started: x', file=sys.stderr); sys.exit(3)", "cancelled", ""),
    ("import sys; print('run 4 started: x', file=sys.stderr); sys.exit(0)", "finished", ""),
])
def test_the_engine_exit_code_gives_the_status(qtbot, window, store, engine_catalogue, monkeypatch,
                                               script, status, error):
    monkeypatch.setattr(run_process, "engine_process", fake_engine(script))
    win = window(engine_catalogue)
    configure(win, "bandits.ucb1", seeds=1, steps=10)
    with qtbot.waitSignal(win.run_process.run_ended, timeout=ENGINE_MS) as ended:
        qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    assert ended.args == [status, error]
    assert win.status == status
    assert error in win.status_label.text()


def test_the_studio_only_reads_the_store(qtbot, window, store, toy_catalogue, started_run):
    run_id = started_run("toy.regret")
    store.append(run_id, [("cumulative_regret", 1, 0, 1.0, 0.0)])
    before = store.conn.total_changes
    win = window(toy_catalogue)
    win.live_plot.watch(run_id, "regret")
    qtbot.waitUntil(lambda: "cumulative_regret" in win.live_plot.data.tables, timeout=ENGINE_MS)
    win.live_plot.finish()
    assert store.conn.total_changes == before


def test_closing_mid_run_stops_the_engine_first(qtbot, window, engine_catalogue, monkeypatch):
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
              "print('run 9 started: x', file=sys.stderr, flush=True)\n"
              "time.sleep(30)\n")
    monkeypatch.setattr(run_process, "engine_process", fake_engine(script))
    win = window(engine_catalogue)
    configure(win, "bandits.ucb1", seeds=1, steps=10)
    with qtbot.waitSignal(win.run_process.run_started, timeout=ENGINE_MS):
        qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    win.close()
    assert win.isVisible() and win.status == "cancelling"
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=ENGINE_MS)
    assert win.status == "cancelled"
