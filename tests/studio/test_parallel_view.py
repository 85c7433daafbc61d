"""Parallel coordinates: each axis rescaled to [0, 1] as its docstring says (linear, log10,
categories evenly spaced, a single value in the middle), and each run's line through them."""

import math

import numpy as np
import pytest

from engine.metrics.run_summary import Summary
from engine.store import Store
from studio.sweeps.parallel_view import ParallelCoordinatesView, normalise_axis
from tests.sweep_runs import fake_sweep, write_run


def test_numbers_are_rescaled_between_their_extremes():
    axis = normalise_axis("run.steps", [1, 2, 4, None])
    np.testing.assert_allclose(axis.positions[:3], [0, 1 / 3, 1])
    assert math.isnan(axis.positions[3])
    assert axis.ticks == [(0.0, "1"), (pytest.approx(1 / 3), "2"), (1.0, "4")]
    # a continuum (more than eight values) is labelled at its ends only
    assert [t for _, t in normalise_axis("x", list(range(10))).ticks] == ["0", "9"]


def test_log_spaced_numbers_are_rescaled_in_log10():
    axis = normalise_axis("algorithm.lr", [0.001, 0.01, 1.0], log=True)
    np.testing.assert_allclose(axis.positions, [0, 1 / 3, 1])
    assert axis.name == "algorithm.lr (log)"
    assert axis.ticks == [(0.0, "0.001"), (pytest.approx(1 / 3), "0.01"), (1.0, "1")]


def test_categories_are_evenly_spaced_and_one_value_sits_in_the_middle():
    axis = normalise_axis("algorithm.id", ["b", "a", "c", "a"])
    np.testing.assert_allclose(axis.positions, [0, 0.5, 1, 0.5])
    assert [t for _, t in axis.ticks] == ["b", "a", "c"]
    assert normalise_axis("x", [2.0, 2.0]).positions.tolist() == [0.5, 0.5]


def test_each_run_is_a_line_through_its_normalised_values(qtbot, tmp_path, monkeypatch):
    store = Store(tmp_path / "pc.db")
    points, finals = [], {}
    grid = [(r, s, m) for r in (0.01, 0.1, 1.0) for s in (1.0, 3.0) for m in ("a", "b")]
    for k, (rate, scale, mode) in enumerate(grid):
        table = np.full((2, 2), float(k)) + np.array([[0.0, 0.0], [1.0, 3.0]])
        run_id = write_run(store, [0, 10], table, rate=rate, scale=scale)
        finals[run_id] = k + 2.0  # the final mean: k + (1 + 3) / 2
        points.append(
            (
                {"algorithm.rate": rate, "problem.scale": scale, "algorithm.mode": mode},
                run_id,
                "finished",
            )
        )
    doc = fake_sweep(
        5, ["algorithm.rate", "problem.scale", "algorithm.mode"], ["algorithm.rate"], points
    )
    monkeypatch.setattr(store, "sweep", lambda sweep_id: doc, raising=False)
    view = ParallelCoordinatesView(store, 5)
    qtbot.addWidget(view)
    view.choice.set_choice("loss", Summary("final"))
    assert [a.name for a in view.axes] == [
        "algorithm.rate (log)",
        "problem.scale",
        "algorithm.mode",
        "final loss",
    ]
    # point 7 of the grid: rate 0.1 (log middle), scale 3 (top), mode "b" (top), final 9 of 2..13
    run_id = doc["points"][7]["run_id"]
    curve = next(c for c in view.curves if c.run_id == run_id)
    xs, ys = curve.getData()
    assert xs.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(ys, [0.5, 1.0, 1.0, (9 - 2) / 11])
    # colour: the smallest final value darkest, the largest the colour map's top
    lowest, highest = doc["points"][0]["run_id"], doc["points"][-1]["run_id"]
    assert view.values[view.run_ids.index(highest)] == pytest.approx(finals[highest])
    assert view.colour_of(finals[lowest]) == tuple(
        int(c) for c in view.colour_map.map(np.array([0.0]), mode="byte")[0][:3]
    )
    assert view.colour_of(finals[highest]) == tuple(
        int(c) for c in view.colour_map.map(np.array([1.0]), mode="byte")[0][:3]
    )
    view.stop()
    from studio.sweeps.panel import SweepPanel

    panel = SweepPanel(store, 5)  # three swept keys: parallel coordinates get a tab
    qtbot.addWidget(panel)
    assert panel.tabs.tabText(2) == "Parallel coordinates" and panel.parallel_view is not None
    panel.stop()
    store.close()
