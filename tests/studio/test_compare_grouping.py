"""Compare's "group by" pools only runs that were run the same way, on every step they recorded.

Runs are written with the engine's Store API and read back through the Compare panel,
as a user sees them.
"""

import math

import numpy as np
import pytest

from engine.spec import RunSpec
from engine.store import StoreReader
from studio.compare.grouping import group_runs
from studio.compare.panel import ComparePanel

T_975_DF1 = 12.706205  # Student t, 0.975 quantile
T_975_DF2 = 4.302653
T_975_DF3 = 3.182446
BERNOULLI = {"means": [0.1, 0.2, 0.5]}
GAUSSIAN = {"means": [0.0, 0.5], "sigma": 1.0}


def _write_run(
    store,
    c,
    problem="bandits.bernoulli",
    steps=1000,
    seed=0,
    values=None,
    dtype="float32",
    threads=1,
    problem_params=None,
    status="finished",
):
    """A UCB1 run with hand-made cumulative regret: values is {step: (seed 0's value, seed 1's, ...)}."""
    if problem_params is None:
        problem_params = BERNOULLI if problem == "bandits.bernoulli" else GAUSSIAN
    seeds = len(next(iter(values.values())))
    spec = RunSpec(
        algorithm="bandits.ucb1",
        problem=problem,
        steps=steps,
        seeds=seeds,
        seed=seed,
        algorithm_params={"c": c},
        problem_params=dict(problem_params),
        dtype=dtype,
        threads=threads,
    )
    run_id = store.create_run(spec, family="bandits", plot="regret")
    store.start_run(run_id, {"device": "cpu", "threads": threads})
    store.append(
        run_id,
        [
            ("cumulative_regret", step, s, v, 0.0)
            for step, vs in values.items()
            for s, v in enumerate(vs)
        ],
    )
    store.finish_run(run_id, status)
    return run_id


@pytest.fixture
def compare(qtbot, store):
    readers = []

    def open_panel(run_ids, group_key):
        reader = StoreReader(store.path)
        readers.append(reader)
        panel = ComparePanel(reader)
        qtbot.addWidget(panel)
        panel.set_runs(run_ids)
        panel.set_metric("cumulative_regret")
        panel.set_group_key(group_key)
        return panel

    yield open_panel
    for reader in readers:
        reader.close()


def _curves(panel):
    return {c.label: c for c in panel.current_figure().curves}


def test_runs_of_two_problems_are_not_pooled_and_the_notice_names_the_problem(store, compare):
    ids = [
        _write_run(store, c, problem, values={1: (v, v + 2), 10: (2 * v, 2 * v + 2)})
        for c, problem, v in (
            (1.0, "bandits.bernoulli", 1.0),
            (2.0, "bandits.bernoulli", 3.0),
            (1.0, "bandits.gaussian", 10.0),
            (2.0, "bandits.gaussian", 20.0),
        )
    ]
    panel = compare(ids, "algorithm.c")
    notice = panel.split_notice.text()
    assert notice == (
        "problem.id differs: bandits.bernoulli vs bandits.gaussian; "
        "problem.means differs: [0.1, 0.2, 0.5] vs [0.0, 0.5]; "
        "split into 2 sets, each pooled on its own"
    )
    assert not panel.split_notice.isHidden()
    # The labels name what tells the sets apart (the problem), the notice everything that differs.
    bernoulli, gaussian = "problem.id = bandits.bernoulli", "problem.id = bandits.gaussian"
    curves = _curves(panel)
    assert list(curves) == [
        f"algorithm.c = 1.0 | {bernoulli} (1 run, 2 seeds)",
        f"algorithm.c = 2.0 | {bernoulli} (1 run, 2 seeds)",
        f"algorithm.c = 1.0 | {gaussian} (1 run, 2 seeds)",
        f"algorithm.c = 2.0 | {gaussian} (1 run, 2 seeds)",
    ]
    # Each curve is its own run's seed-mean, nothing from the other problem mixed in.
    assert [c.mean.tolist() for c in curves.values()] == [
        [2.0, 3.0],
        [4.0, 7.0],
        [11.0, 21.0],
        [21.0, 41.0],
    ]

    # Runs that agree on everything but the seed and the threads are pooled, and no notice shows.
    same = [
        ids[0],
        _write_run(store, 1.0, seed=7, threads=4, values={1: (5.0, 7.0), 10: (6.0, 8.0)}),
    ]
    panel = compare(same, "algorithm.c")
    assert panel.split_notice.isHidden() and panel.split_notice.text() == ""
    assert list(_curves(panel)) == ["algorithm.c = 1.0 (2 runs, 4 seeds)"]


def test_dtype_is_part_of_the_setting(store, compare):
    ids = [
        _write_run(store, 1.0, values={1: (1.0,)}, dtype="float32"),
        _write_run(store, 1.0, values={1: (3.0,)}, dtype="float64"),
    ]
    panel = compare(ids, "algorithm.c")
    assert panel.split_notice.text() == (
        "hardware.dtype differs: float32 vs float64; split into 2 sets, each pooled on its own"
    )
    assert [c.mean.tolist() for c in panel.current_figure().curves] == [[1.0], [3.0]]


def test_runs_of_different_lengths_are_split_and_never_truncated(store, compare):
    long_run = _write_run(
        store, 1.0, steps=1000, values={1: (1.0,), 10: (2.0,), 100: (3.0,), 1000: (4.0,)}
    )
    short_run = _write_run(store, 1.0, steps=10, values={1: (5.0,), 10: (6.0,)})
    panel = compare([long_run, short_run], "algorithm.c")
    assert (
        panel.split_notice.text()
        == "run.steps differs: 1000 vs 10; split into 2 sets, each pooled on its own"
    )
    curves = panel.current_figure().curves
    assert [c.steps.tolist() for c in curves] == [[1, 10, 100, 1000], [1, 10]]
    assert [c.mean.tolist() for c in curves] == [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0]]


def test_a_run_that_stopped_early_keeps_the_others_steps_and_says_so(store, compare):
    """Same setting, one run interrupted after step 2: the union of steps, fewer seeds after it.

    Step 1 pools 1, 3, 5: mean 3, sd 2, half-width t(0.975, 2) * 2 / sqrt(3); step 2 pools 2, 4, 6
    (the same spread); step 3 only the full run's 3 and 5: mean 4, sd sqrt(2), half-width t(0.975, 1) * 1.
    """
    full = _write_run(store, 1.0, values={1: (1.0, 3.0), 2: (2.0, 4.0), 3: (3.0, 5.0)})
    early = _write_run(store, 1.0, seed=1, values={1: (5.0,), 2: (6.0,)}, status="interrupted")
    panel = compare([full, early], "algorithm.c")
    assert panel.split_notice.isHidden()
    (curve,) = panel.current_figure().curves
    assert curve.steps.tolist() == [1, 2, 3] and curve.mean.tolist() == [3.0, 4.0, 4.0]
    half = np.array([T_975_DF2 * 2 / math.sqrt(3)] * 2 + [T_975_DF1])
    assert np.allclose(curve.hi - curve.mean, half, rtol=1e-6, atol=0)
    assert np.allclose(curve.mean - curve.lo, half, rtol=1e-6, atol=0)
    assert panel.notes.text() == (
        "algorithm.c = 1.0 (2 runs, 3 seeds): 3 steps, 3 seeds pooled (2 to 3 per step: "
        f"its runs recorded different steps (last: run {full} at step 3, run {early} at "
        "step 2); each point pools the seeds that reached it)"
    )


def test_pooled_mean_and_band_of_two_stored_runs_by_hand(store, compare):
    """Two runs with c = 0.5 (seeds 1, 3 and 5, 7) and one with c = 2 (seeds 10, 20), read from a store.

    c = 0.5 at step 1 pools 1, 3, 5, 7: mean 4, sample variance 20/3, half-width t(0.975, 3) * sqrt(20/3) / 2.
    At step 2 it pools 2, 4, 12, 16: mean 8.5, variance (6.5^2 + 4.5^2 + 3.5^2 + 7.5^2) / 3 = 131/3,
    half-width t(0.975, 3) * sqrt(131/3) / 2. c = 2 at step 1: 10, 20: mean 15, sd sqrt(50),
    half-width t(0.975, 1) * sqrt(50) / sqrt(2) = t * 5.
    """
    ids = [
        _write_run(store, 0.5, values={1: (1.0, 3.0), 2: (2.0, 4.0)}),
        _write_run(store, 0.5, seed=1, values={1: (5.0, 7.0), 2: (12.0, 16.0)}),
        _write_run(store, 2.0, values={1: (10.0, 20.0), 2: (30.0, 40.0)}),
    ]
    panel = compare(ids, "algorithm.c")
    curves = _curves(panel)
    assert list(curves) == [
        "algorithm.c = 0.5 (2 runs, 4 seeds)",
        "algorithm.c = 2.0 (1 run, 2 seeds)",
    ]
    pooled = curves["algorithm.c = 0.5 (2 runs, 4 seeds)"]
    half = T_975_DF3 / 2 * np.sqrt([20 / 3, 131 / 3])
    assert pooled.mean.tolist() == [4.0, 8.5]
    assert np.allclose(pooled.lo, [4.0, 8.5] - half, rtol=0, atol=1e-5)
    assert np.allclose(pooled.hi, [4.0, 8.5] + half, rtol=0, atol=1e-5)
    single = curves["algorithm.c = 2.0 (1 run, 2 seeds)"]
    assert math.isclose(single.hi[0] - single.mean[0], T_975_DF1 * 5, rel_tol=1e-6)


def test_grouped_curves_keep_the_order_the_individual_runs_show(store, compare):
    """The reported case: c = 1 beats c = 2 at the end of every run, on both problems.

    Pooling both problems and keeping only the steps they share (1 to 50) put c = 2 first:
    (10 + 3) / 2 = 6.5 for c = 1 against (5 + 4) / 2 = 4.5 for c = 2 at step 50.
    """
    bernoulli = {1: (1.0,), 50: (10.0,), 1000: (50.0,)}, {1: (1.0,), 50: (5.0,), 1000: (100.0,)}
    gaussian = {1: (1.0,), 50: (3.0,)}, {1: (1.0,), 50: (4.0,)}
    ids = [
        _write_run(store, 1.0, steps=1000, values=bernoulli[0]),
        _write_run(store, 2.0, steps=1000, values=bernoulli[1]),
        _write_run(store, 1.0, "bandits.gaussian", steps=50, values=gaussian[0]),
        _write_run(store, 2.0, "bandits.gaussian", steps=50, values=gaussian[1]),
    ]
    individual = compare(ids, "").current_figure().curves
    final = [c.mean[-1] for c in individual]
    assert final[0] < final[1] and final[2] < final[3]  # c = 1 ends below c = 2 on each problem

    panel = compare(ids, "algorithm.c")
    assert panel.split_notice.text() == (
        "problem.id differs: bandits.bernoulli vs bandits.gaussian; problem.means differs: [0.1, 0.2, 0.5] vs "
        "[0.0, 0.5]; run.steps differs: 1000 vs 50; "
        "split into 2 sets, each pooled on its own"
    )
    grouped = panel.current_figure().curves
    # The labels name the problem (what was compared), not the length, though both tell the sets apart.
    assert [c.label for c in grouped] == [
        f"algorithm.c = {c} | problem.id = bandits.{p} (1 run, 1 seed)"
        for p in ("bernoulli", "gaussian")
        for c in ("1.0", "2.0")
    ]
    for c1, c2 in (grouped[0:2], grouped[2:4]):
        assert c1.label.startswith("algorithm.c = 1.0") and c2.label.startswith("algorithm.c = 2.0")
        assert c1.steps.tolist() == c2.steps.tolist()
        assert c1.mean[-1] < c2.mean[-1]
    assert [c.steps[-1] for c in grouped] == [1000, 1000, 50, 50]
    assert [c.mean[-1] for c in grouped] == final


def test_grouping_by_an_algorithm_keeps_its_parameters_apart_and_labels_them():
    specs = [
        (
            1,
            {"algorithm": {"id": "bandits.ucb1", "c": 1.0}, "problem": {"id": "bandits.bernoulli"}},
        ),
        (
            2,
            {"algorithm": {"id": "bandits.ucb1", "c": 2.0}, "problem": {"id": "bandits.bernoulli"}},
        ),
        (
            3,
            {
                "algorithm": {"id": "bandits.thompson_beta", "prior_a": 1.0},
                "problem": {"id": "bandits.bernoulli"},
            },
        ),
    ]
    grouping = group_runs(specs, "algorithm.id")
    assert grouping.notice == ""
    assert [(g.label, g.run_ids) for _, g in grouping.groups] == [
        ("algorithm.id = bandits.ucb1 (c = 1.0)", [1]),
        ("algorithm.id = bandits.ucb1 (c = 2.0)", [2]),
        ("algorithm.id = bandits.thompson_beta", [3]),
    ]
    # Grouped by c, Thompson sampling (no c) is another algorithm: its own set, labelled (none).
    # Its prior is implied by its id: not listed as a difference, here or above.
    by_c = group_runs(specs, "algorithm.c")
    assert by_c.notice == (
        "algorithm.id differs: bandits.ucb1 vs bandits.thompson_beta; "
        "split into 2 sets, each pooled on its own"
    )
    assert [(s, g.label, g.run_ids) for s, g in by_c.groups] == [
        ("algorithm.id = bandits.ucb1", "algorithm.c = 1.0", [1]),
        ("algorithm.id = bandits.ucb1", "algorithm.c = 2.0", [2]),
        ("algorithm.id = bandits.thompson_beta", "algorithm.c = (none)", [3]),
    ]
