"""Compare: seeds pooled across the runs of a group, the overlay figure, the spec diff."""

import math

import numpy as np
import pytest

from engine.spec import RunSpec
from engine.store import StoreReader
from studio.compare.diff import diff_rows, flatten_run
from studio.compare.grouping import group_keys, group_runs, pooled_summary
from studio.compare.panel import ComparePanel
from studio.views.run_data import SeedTable

T_975_DF1 = 12.706205
T_975_DF2 = 4.302653  # Student t, 0.975 quantile, 2 degrees of freedom
T_975_DF3 = 3.182446


def _table(values_by_step):
    table = SeedTable()
    for step, values in values_by_step.items():
        for seed, value in enumerate(values):
            table.add(step, seed, value)
    return table


def test_pooled_mean_and_band_by_hand_on_the_union_of_steps():
    """Run A (2 seeds, steps 1-3) and run B (1 seed, steps 1-2) pooled on steps 1, 2, 3.

    At step 1 the pooled sample is 1, 3, 5: mean 3, sample sd 2, half-width t(0.975, 2) * 2 / sqrt(3).
    Step 3, recorded by A only, pools A's 3 and 5: mean 4, sd sqrt(2), half-width t(0.975, 1) * 1.
    """
    a = _table({1: (1.0, 3.0), 2: (2.0, 4.0), 3: (3.0, 5.0)})
    b = _table({1: (5.0,), 2: (6.0,)})
    pooled = pooled_summary([a, b])
    half = T_975_DF2 * 2 / math.sqrt(3)
    assert pooled["steps"].tolist() == [1, 2, 3]
    assert pooled["mean"].tolist() == [3.0, 4.0, 4.0] and pooled["n"].tolist() == [3, 3, 2]
    assert np.allclose(pooled["lo"], [3 - half, 4 - half, 4 - T_975_DF1]) and np.allclose(
        pooled["hi"], [3 + half, 4 + half, 4 + T_975_DF1]
    )
    apart = pooled_summary([a, _table({9: (1.0,)})])  # no common step: both kept, nothing dropped
    assert apart["steps"].tolist() == [1, 2, 3, 9] and apart["n"].tolist() == [2, 2, 2, 1]
    assert pooled_summary([None, SeedTable()]) is None


def _spec_doc(c, seed=0, name=""):
    return {
        "run": {"seeds": 2, "steps": 3, "seed": seed, "name": name},
        "algorithm": {"id": "toy.every_type", "rate": c},
        "problem": {"id": "toy.quadratic"},
    }


def test_grouping_by_a_parameter_keeps_first_seen_order(toy_catalogue):
    specs = [
        (i, RunSpec.from_dict(doc, toy_catalogue).to_dict())
        for i, doc in ((1, _spec_doc(0.5)), (2, _spec_doc(0.25)), (3, _spec_doc(0.5, seed=1)))
    ]
    by_rate = group_runs(specs, "algorithm.rate")
    assert (
        by_rate.notice == "" and len(by_rate.sets) == 1
    )  # only run.seed differs, and seeds are pooled
    assert [(g.label, g.run_ids) for _, g in by_rate.groups] == [
        ("algorithm.rate = 0.5", [1, 3]),
        ("algorithm.rate = 0.25", [2]),
    ]
    # An algorithm's parameters belong to it: grouping by its id keeps rate 0.5 and 0.25 apart.
    by_id = group_runs(specs, "algorithm.id")
    assert [(g.label, g.run_ids) for _, g in by_id.groups] == [
        ("algorithm.id = toy.every_type (rate = 0.5)", [1, 3]),
        ("algorithm.id = toy.every_type (rate = 0.25)", [2]),
    ]
    keys = group_keys([s for _, s in specs])
    assert keys[:2] == ["run.seed", "algorithm.rate"]  # the keys that differ come first
    assert "hardware.device" in keys


def test_diff_with_only_differences_lists_exactly_the_differing_keys():
    left = {
        "id": 1,
        "spec_json": '{"run": {"seeds": 2, "steps": 3}, "algorithm": {"id": "x", "c": 2.0}}',
        "hardware_json": '{"device": "cpu", "threads": 1, "host": "a"}',
    }
    right = {
        "id": 2,
        "spec_json": '{"run": {"seeds": 2, "steps": 5}, "algorithm": {"id": "x", "c": 1.0, "k": 3}}',
        "hardware_json": '{"device": "cpu", "threads": 2, "host": "a"}',
    }
    rows = diff_rows(flatten_run(left), flatten_run(right), only_differences=True)
    assert [(r.key, r.left, r.right) for r in rows] == [
        ("run.steps", "3", "5"),
        ("algorithm.c", "2.0", "1.0"),
        ("hardware used.threads", "1", "2"),
        ("algorithm.k", "(absent)", "3"),
    ]
    everything = diff_rows(flatten_run(left), flatten_run(right))
    assert len(everything) == 8 and {r.key for r in everything if not r.differs} == {
        "run.seeds",
        "algorithm.id",
        "hardware used.device",
        "hardware used.host",
    }


@pytest.fixture
def three_runs(store, toy_catalogue):
    """Two runs with rate 0.5 (seeds 0 and 1) and one with rate 0.25, with hand-made losses."""
    values = {
        0.5: [{1: (1.0, 3.0), 2: (2.0, 4.0)}, {1: (5.0, 7.0), 2: (6.0, 8.0)}],
        0.25: [{1: (10.0, 20.0), 2: (30.0, 40.0)}],
    }
    ids = []
    for rate, runs in values.items():
        for seed, by_step in enumerate(runs):
            spec = RunSpec.from_dict(_spec_doc(rate, seed=seed, name=f"rate {rate}"), toy_catalogue)
            run_id = store.create_run(spec, family="toy", plot="curves")
            store.start_run(run_id, {"device": "cpu", "threads": 1 + seed})
            store.append(
                run_id,
                [
                    ("loss", step, s, v, 0.0)
                    for step, vs in by_step.items()
                    for s, v in enumerate(vs)
                ],
            )
            store.finish_run(run_id, "finished")
            ids.append(run_id)
    return ids


def test_panel_overlays_runs_groups_them_and_diffs_two(qtbot, store, three_runs):
    reader = StoreReader(store.path)
    panel = ComparePanel(reader)
    qtbot.addWidget(panel)
    panel.set_runs(three_runs)
    assert panel.metric_combo.currentText() == "loss"
    figure = panel.current_figure()
    assert [c.label for c in figure.curves] == [
        "run 1: rate 0.5",
        "run 2: rate 0.5",
        "run 3: rate 0.25",
    ]
    assert figure.curves[0].mean.tolist() == [2.0, 3.0]
    assert len(panel.plot.getPlotItem().listDataItems()) >= 3

    panel.set_group_key("algorithm.rate")
    grouped = panel.current_figure()
    assert [c.label for c in grouped.curves] == [
        "algorithm.rate = 0.5 (2 runs, 4 seeds)",
        "algorithm.rate = 0.25 (1 run, 2 seeds)",
    ]
    # step 1 pools 1, 3, 5, 7: mean 4, sample sd sqrt(20/3), half-width t(0.975, 3) * sd / 2
    half = T_975_DF3 * math.sqrt(20 / 3) / 2
    assert grouped.curves[0].mean.tolist() == [4.0, 5.0]
    assert math.isclose(grouped.curves[0].lo[0], 4 - half) and math.isclose(
        grouped.curves[0].hi[0], 4 + half
    )
    assert grouped.title == "loss by algorithm.rate" and grouped.y_label == "loss"

    panel.left_combo.setCurrentIndex(0)
    panel.right_combo.setCurrentIndex(2)
    panel.only_differences.setChecked(True)
    assert panel.diff_keys() == ["run.name", "algorithm.rate"]
    panel.right_combo.setCurrentIndex(1)
    assert panel.diff_keys() == ["run.seed", "hardware used.threads"]
    panel.only_differences.setChecked(False)
    assert len(panel.diff_keys()) > 10
    panel.stop_polling()
    reader.close()
