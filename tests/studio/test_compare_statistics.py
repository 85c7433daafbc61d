"""Compare's Statistics tab: the groups of the Curves tab, their kept seeds at the summary, and
Welch's t and df worked out by hand from those seeds."""

import math

import pytest

from engine.metrics.run_summary import Summary
from engine.spec import RunSpec
from engine.store import StoreReader
from studio.compare.panel import ComparePanel


@pytest.fixture
def rate_runs(store, toy_catalogue):
    """Rate 0.5: two runs (final losses 2, 4 and 6, 8); rate 0.25: one run (30, 40)."""
    values = {0.5: [(1.0, 3.0, 2.0, 4.0), (5.0, 7.0, 6.0, 8.0)], 0.25: [(10.0, 20.0, 30.0, 40.0)]}
    ids = []
    for rate, runs in values.items():
        for seed, (a1, b1, a2, b2) in enumerate(runs):
            doc = {
                "run": {"seeds": 2, "steps": 3, "seed": seed},
                "algorithm": {"id": "toy.every_type", "rate": rate},
                "problem": {"id": "toy.quadratic"},
            }
            run_id = store.create_run(
                RunSpec.from_dict(doc, toy_catalogue), family="toy", plot="curves"
            )
            store.start_run(run_id, {"device": "cpu"})
            rows = [("loss", 1, 0, a1, 0.0), ("loss", 1, 1, b1, 0.0)]
            rows += [("loss", 2, 0, a2, 0.0), ("loss", 2, 1, b2, 0.0)]
            store.append(run_id, rows)
            store.compute_aggregates(run_id)
            store.finish_run(run_id, "finished")
            ids.append(run_id)
    return ids


def test_statistics_tab_tests_the_groups_of_the_curves(qtbot, store, rate_runs):
    reader = StoreReader(store.path)
    panel = ComparePanel(reader)
    qtbot.addWidget(panel)
    panel.set_runs(rate_runs)
    panel.set_group_key("algorithm.rate")
    assert panel.stats_table.rows == []  # not computed until the tab is shown
    panel.tabs.setCurrentIndex(panel.statistics_tab)
    # scipy.stats is imported in the background: the table fills once it is in (at once
    # when an earlier test imported it already)
    qtbot.waitUntil(lambda: len(panel.stats_table.rows) == 1, timeout=60_000)
    (row,) = panel.stats_table.rows
    assert (row.group_a, row.group_b) == ("algorithm.rate = 0.5", "algorithm.rate = 0.25")
    assert (row.n_a, row.n_b, row.mean_a, row.mean_b) == (4, 2, 5.0, 35.0)
    va, vb = (20 / 3) / 4, 50 / 2  # s^2 / n: seeds 2, 4, 6, 8 and 30, 40
    assert row.welch_t == pytest.approx(-30 / math.sqrt(va + vb), rel=1e-12)
    assert row.welch_df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 1), rel=1e-12)
    # another summary: the first checkpoint (seeds 1, 3, 5, 7 against 10, 20)
    panel.stats_choice.set_choice("loss", Summary("at_step", step=1))
    (row,) = panel.stats_table.rows
    assert (row.mean_a, row.mean_b) == (4.0, 15.0)
    assert "# summary: loss at step 1" in panel.stats_table.csv_text()
    # each run on its own: three groups, three pairs
    panel.set_group_key("")
    assert len(panel.stats_table.rows) == 3
    panel.stop_polling()
    reader.close()
