"""Trade-off across runs: the highlighted runs are the hand-computed front, the hypervolume is
the hand-computed area, and the scalarisation picks the hand-computed run at given weights."""

import numpy as np
import pytest

from engine.metrics.run_summary import Summary
from engine.store import Store
from studio.sweeps.tradeoff_view import (
    Objective,
    TradeoffView,
    auto_reference,
    default_direction,
    scalarised_best,
)
from tests.sweep_runs import fake_sweep, write_run

# final (KL, reward, cost) of four runs: KL is minimised, reward maximised, cost minimised.
# On (KL, reward): A, B, C form the front; C dominates D (same KL, more reward).
RUNS = {"A": (1.0, 1.0, 5.0), "B": (2.0, 2.0, 5.0), "C": (3.0, 3.0, 5.0), "D": (3.0, 1.0, 1.0)}
SPREAD = np.array([-0.1, 0.0, 0.1])  # three seeds around each mean
T2 = 4.302653  # t_{0.975, 2}


@pytest.fixture
def front_store(tmp_path, monkeypatch):
    store = Store(tmp_path / "front.db")
    ids, points = {}, []
    for k, (name, (kl, reward, cost)) in enumerate(RUNS.items()):
        table = lambda v: np.array([v + 5 * SPREAD, v + SPREAD])  # noqa: E731 - two checkpoints
        ids[name] = write_run(
            store,
            [0, 100],
            table(kl),
            metric="kl",
            extra={"reward": table(reward), "cost": table(cost)},
            rate=0.1 * (k + 1),
        )
        points.append(({"algorithm.rate": 0.1 * (k + 1)}, ids[name], "finished"))
    doc = fake_sweep(3, ["algorithm.rate"], [], points)
    monkeypatch.setattr(store, "sweep", lambda sweep_id: doc, raising=False)
    yield store, ids
    store.close()


def _view(qtbot, store, objectives):
    view = TradeoffView(store, 3)
    qtbot.addWidget(view)
    view.set_objectives(objectives)
    return view


KL = Objective("kl", Summary("final"), "min")
REWARD = Objective("reward", Summary("final"), "max")
COST = Objective("cost", Summary("final"), "min")


def test_the_highlighted_runs_are_the_front_and_the_hypervolume_is_the_staircase_area(
    qtbot, front_store
):
    store, ids = front_store
    view = _view(qtbot, store, [KL, REWARD])
    assert view.front_run_ids() == [ids["A"], ids["B"], ids["C"]]
    plot = view.plots[0]
    assert sorted(plot.front.data["data"].tolist()) == [ids["A"], ids["B"], ids["C"]]
    assert plot.dominated.data["data"].tolist() == [ids["D"]]
    # reference: worst KL 3 + 0.1 x 2, worst reward 1 - 0.1 x 2
    np.testing.assert_allclose(view.points.reference, [3.2, 0.8], rtol=1e-12)
    # staircase in (KL, -reward) to (3.2, -0.8): 1 x 0.2 + 1 x 1.2 + 0.2 x 2.2
    assert view.points.hypervolume == pytest.approx(1.84, rel=1e-9)
    # error bars: the final checkpoint's 95% t-band, t_{0.975, 2} x 0.1 / sqrt(3) each way
    half = T2 * 0.1 / np.sqrt(3)
    a = view.points.run_ids.index(ids["A"])
    assert plot.bars.opts["left"][a] == pytest.approx(half, rel=1e-5)
    assert plot.bars.opts["top"][a] == pytest.approx(half, rel=1e-5)
    view.stop()


def test_the_weight_slider_picks_the_best_run_for_each_weight(qtbot, front_store):
    store, ids = front_store
    view = _view(qtbot, store, [KL, REWARD])
    # z_KL = 0, .5, 1 and z_reward (as -reward) = 1, .5, 0 for A, B, C
    view.set_weights([0.9])  # 0.9 z_KL + 0.1 z_reward: A 0.1, B 0.5, C 0.9
    assert view.best_run_id() == ids["A"]
    with qtbot.waitSignal(view.best_changed, timeout=1000) as blocker:
        view.set_weights([0.1])  # A 0.9, B 0.5, C 0.1
    assert blocker.args == [ids["C"]] and view.best_run_id() == ids["C"]
    view.method_combo.setCurrentText("Chebyshev")
    view.set_weights([0.5])  # max(0.5 z): A 0.5, B 0.25, C 0.5
    assert view.best_run_id() == ids["B"]
    assert f"run {ids['B']}" in view.summary_label.text()
    view.stop()


def test_a_third_objective_changes_the_front(qtbot, front_store):
    store, ids = front_store
    view = _view(qtbot, store, [KL, REWARD, COST])
    # D has the lowest cost: nothing dominates it now
    assert view.front_run_ids() == [ids["A"], ids["B"], ids["C"], ids["D"]]
    assert all(plot.plot.isVisibleTo(view) for plot in view.plots)
    # reference (3.2, 0.8, 5.4), by slices of cost: from 1 to 5 only D's box, 0.2 x 0.2 high
    # 4; from 5 to 5.4 the 2-D staircase of A, B, C (1.84; D's square lies inside C's box):
    # 0.16 + 0.736
    assert view.points.hypervolume == pytest.approx(0.2 * 0.2 * 4.0 + 1.84 * 0.4, rel=1e-9)
    view.stop()


def test_scalarisation_and_reference_helpers():
    means = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    directions = ["min", "min"]
    np.testing.assert_allclose(auto_reference(means, directions), [3.2, 3.2])
    front = np.array([True, True, True, False])
    assert scalarised_best(means, directions, [1, 0], candidates=front) == 0
    assert scalarised_best(means, directions, [0, 1], candidates=front) == 2
    assert scalarised_best(means, directions, [1, 1], "Chebyshev", front) == 1
    # the same value in every run: the reference still lies beyond it
    np.testing.assert_allclose(auto_reference([[2.0], [2.0]], ["max"]), [1.8])
    assert default_direction("final_true_reward") == "max"
    assert default_direction("cumulative_regret") == "min"


def test_an_auc_objective_reads_the_kept_seeds_for_its_band(qtbot, front_store):
    store, ids = front_store
    view = _view(qtbot, store, [Objective("kl", Summary("auc"), "min"), REWARD])
    assert view.live.seeds
    # A's KL seeds: 0.5, 1, 1.5 at step 0 and 0.9, 1, 1.1 at step 100: areas 70, 100, 130
    a = view.points.run_ids.index(ids["A"])
    assert view.points.means[a, 0] == pytest.approx(100.0)
    half = T2 * 30 / np.sqrt(3)  # sd of (70, 100, 130) is 30
    assert view.points.hi[a, 0] - 100.0 == pytest.approx(half, rel=1e-6)
    view.stop()


def test_a_new_run_moves_into_the_same_items_and_a_refresh_without_news_draws_nothing(
    qtbot, front_store, monkeypatch
):
    import studio.sweeps.tradeoff_view as module

    store, ids = front_store
    view = _view(qtbot, store, [KL, REWARD])
    plot = view.plots[0]
    items = (plot.front, plot.dominated, plot.bars, plot.staircase)
    shows = []
    show = module.ProjectionPlot.show
    monkeypatch.setattr(
        module.ProjectionPlot, "show", lambda self, *a: shows.append(1) or show(self, *a)
    )
    view.redraw()  # nothing new: the plots are left as they are
    assert shows == []
    # a fifth run at KL 0.5, reward 4 dominates them all: the front is that run alone
    table = lambda v: np.array([v + 5 * SPREAD, v + SPREAD])  # noqa: E731
    run_id = write_run(
        store, [0, 100], table(0.5), metric="kl", extra={"reward": table(4.0)}, rate=0.5
    )
    doc = store.sweep(3)
    doc["points"].append(
        {"idx": 4, "values": {"algorithm.rate": 0.5}, "run_id": run_id, "status": "finished",
         "priority": 0}
    )  # fmt: skip
    view.refresh()
    assert shows == [1]
    assert (plot.front, plot.dominated, plot.bars, plot.staircase) == items
    assert plot.front.data["data"].tolist() == [run_id]
    assert plot.front.data["x"].tolist() == pytest.approx([0.5])
    assert plot.front.data["y"].tolist() == pytest.approx([4.0])
    assert sorted(plot.dominated.data["data"].tolist()) == sorted(ids.values())
    view.stop()
