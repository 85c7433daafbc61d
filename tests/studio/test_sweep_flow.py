"""A sweep from the form through the engine's scheduler to the Sweeps panel, real engine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.metrics.aggregate import band_from_aggregate
from studio.configure.sweep_editor import LIST
from studio.sweeps.launch import sweep_toml

ENGINE_MS = 180_000


def test_sweep_toml_is_the_spec_a_cli_user_writes():
    import tomllib

    document = {
        "run": {"seeds": 2, "steps": 10, "seed": 0},
        "algorithm": {"id": "bandits.ucb1", "c": 2.0},
        "problem": {"id": "bandits.bernoulli"},
        "hardware": {"device": "cpu", "threads": 1, "dtype": "float32"},
        "sweep": {
            "grid": {"algorithm.c": [0.5, 2.0], "algorithm.regret": ["pseudo", "realised"]},
            "random": {"samples": 3, "problem.gap": {"low": 0.01, "high": 1.0, "log": True}},
        },
    }
    assert tomllib.loads(sweep_toml(document)) == document


def test_a_sweep_from_the_form_runs_and_opens_in_the_sweeps_panel(
    qtbot, make_window, store, engine_catalogue
):
    win = make_window(catalogue=engine_catalogue)
    win.catalogue_pane.select("bandits.ucb1")
    field = win.config.forms()["algorithm"].fields["c"]
    field.set_sweeping(True)
    field.sweep_editor.set_mode(LIST)
    field.sweep_editor.list_edit.setText("0.5, 2")
    win.config.run_form.fields["seeds"].set_value(3)
    win.config.run_form.fields["steps"].set_value(200)
    win.hardware_panel.set_device("cpu")
    win.hardware_panel.threads.setValue(1)
    win._update_actions()
    assert win.run_button.text() == "Run sweep (2 runs)"

    qtbot.mouseClick(win.run_button, Qt.MouseButton.LeftButton)
    browser = win.studio_panels.sweeps
    qtbot.waitUntil(lambda: browser.panel is not None, timeout=ENGINE_MS)
    assert win.panels.currentWidget() is browser
    sweep_id = browser.selected_id()
    qtbot.waitUntil(lambda: store.sweep(sweep_id)["status"] == "finished", timeout=ENGINE_MS)
    sweep = store.sweep(sweep_id)
    assert sweep["keys"] == ["algorithm.c"]
    assert [p["values"] for p in sweep["points"]] == [{"algorithm.c": 0.5}, {"algorithm.c": 2.0}]
    run_ids = [p["run_id"] for p in sweep["points"]]
    assert [store.get_run(r)["status"] for r in run_ids] == ["finished", "finished"]

    # The sweep view's point at c = 2 is that run's final mean and 95% band.
    view = browser.panel.sweep_view
    view.refresh()
    qtbot.waitUntil(lambda: len(view.lines) > 0 and len(view.lines[0].x) == 2, timeout=30_000)
    line = view.lines[0]
    rows = store.conn.execute(
        "SELECT n, mean, var FROM series_aggregates WHERE run_id = ? AND metric = ? "
        "ORDER BY step DESC LIMIT 1",
        (run_ids[1], "cumulative_regret"),
    ).fetchone()
    lo, hi = band_from_aggregate(rows[0], rows[1], rows[2])
    i = int(np.argmin(np.abs(np.asarray(line.x) - 2.0)))
    assert line.mean[i] == pytest.approx(rows[1], rel=1e-12)
    assert (line.lo[i], line.hi[i]) == pytest.approx((lo, hi), rel=1e-12)


def test_the_queue_title_counts_the_live_sweeps_points():
    from studio.sweeps.browser import live_note

    rows = [
        {"status": "running", "finished": 3, "points": 6},
        {"status": "queued", "finished": 0, "points": 4},
        {"status": "finished", "finished": 5, "points": 5},
    ]
    assert live_note(rows) == "sweeps: 2 live, 3 of 10 points finished"
    assert live_note(rows[2:]) == ""
