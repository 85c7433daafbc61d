"""The multiplicative cyclic learning-rate schedule and the accuracy-versus-training-time
curve it gives from one run, against hand-computed values and the paper's claimed trade-off."""

import math

import numpy as np
import pytest
import torch

from engine.labs.pareto.classification import BlobClassification
from engine.labs.pareto.cyclic_schedule import CyclicTradeoff, cycle_ends, cyclic_learning_rate
from engine.metrics import hypervolume
from engine.params import ParamError
from tests.labs.pareto.pareto_runs import last_values, recorded_objectives, run_spec, stored_fronts

PROBLEM = {"id": "pareto.blob_classification"}


def test_cycle_ends_grow_multiplicatively():
    # 620 steps, 5 cycles, m = 2: lengths 20, 40, 80, 160, 320 (20 x (1 + 2 + 4 + 8 + 16) = 620),
    # so the ends are the partial sums 20, 60, 140, 300, 620.
    assert cycle_ends(620, 5, 2.0) == [20, 60, 140, 300, 620]
    # m = 1: equal cycles; 100 / 3 rounds to 33 and 67, the last end is exactly 100.
    assert cycle_ends(100, 3, 1.0) == [33, 67, 100]
    # m = 3, 2 cycles of 26 steps: lengths 26 / 4 = 6.5 -> rounds to 6 (banker's) then 20.
    assert cycle_ends(26, 2, 3.0) == [6, 26]


def test_learning_rate_by_hand():
    # Ends [4, 12]: cycle 1 is steps 1..4 (L = 4), cycle 2 steps 5..12 (L = 8). Linear decay:
    # step t in cycle 1 has u = (t - 1) / 4, rate 0.8 (1 - u) = 0.8, 0.6, 0.4, 0.2; step 5
    # restarts at 0.8, step 8 has u = 3 / 8 -> 0.5, step 12 u = 7 / 8 -> 0.1.
    ends = [4, 12]
    linear = [cyclic_learning_rate(t, ends, 0.8, "linear") for t in (1, 2, 3, 4, 5, 8, 12)]
    np.testing.assert_allclose(linear, [0.8, 0.6, 0.4, 0.2, 0.8, 0.5, 0.1], rtol=1e-15)
    # Cosine: 0.8 (1 + cos(pi u)) / 2: u = 1/2 at step 3 -> 0.4; u = 1/4 at step 2 ->
    # 0.4 (1 + sqrt(2) / 2); step 7 in cycle 2 has u = 2 / 8 likewise; step 9 u = 1/2 -> 0.4.
    cosine = [cyclic_learning_rate(t, ends, 0.8, "cosine") for t in (1, 2, 3, 5, 7, 9)]
    quarter = 0.4 * (1 + math.sqrt(2) / 2)
    np.testing.assert_allclose(cosine, [0.8, quarter, 0.4, 0.8, quarter, 0.4], rtol=1e-15)
    with pytest.raises(ValueError, match="step 13 is past the schedule's last step 12"):
        cyclic_learning_rate(13, ends, 0.8, "linear")


def test_one_run_gives_one_point_per_cycle_end_and_accuracy_rises_with_time(tmp_path):
    # The paper's claim: snapshots at the ends of growing cycles trace the accuracy-vs-time
    # trade-off, more training buying more accuracy. Seeded run, 5 seeds; measured mean test
    # accuracy at the cycle ends 0.70, 0.78, 0.81, 0.82, 0.84.
    store, row, _ = run_spec(
        tmp_path,
        {"id": "pareto.cyclic_lr", "cycles": 5},
        PROBLEM,
        steps=620,
        seeds=5,
        record_every=20,
    )
    objectives = recorded_objectives(row)
    assert objectives["names"] == ["accuracy", "training_steps"]
    assert objectives["directions"] == ["max", "min"]
    assert objectives["reference_point"] == pytest.approx([0.0, 1.1 * 620])
    fronts = stored_fronts(store, row["id"])
    # Pareto rows are written exactly at the cycle ends, each with all snapshots so far.
    assert sorted(fronts) == [20, 60, 140, 300, 620]
    for count, step in enumerate(sorted(fronts), start=1):
        points, labels = fronts[step]
        assert points.shape == (5, count, 2)
        assert [lab["cycle_end_step"] for lab in labels] == [20, 60, 140, 300, 620][:count]
        np.testing.assert_array_equal(
            points[..., 1], np.broadcast_to([20, 60, 140, 300, 620][:count], (5, count))
        )
    points, _ = fronts[620]
    # The snapshot is the model at the cycle end: its accuracy is the test_accuracy series there.
    np.testing.assert_allclose(
        points[:, -1, 0], last_values(store, row["id"], "test_accuracy"), rtol=1e-12
    )
    mean = points[..., 0].mean(axis=0)
    assert np.all(np.diff(mean) > 0.005), mean
    assert mean[-1] > mean[0] + 0.1
    # The hypervolume of the snapshots, by the exact 2-D sweep, is the last recorded value.
    expected = [hypervolume(points[s], [0.0, 682.0], ["max", "min"]) for s in range(5)]
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume"), expected, rtol=1e-12)
    # The learning rate at the last step is the bottom of the last cycle: 0.02 (1 - 319/320).
    np.testing.assert_allclose(
        last_values(store, row["id"], "learning_rate"), 0.02 / 320, rtol=1e-12
    )


def test_a_cycle_of_no_steps_is_refused():
    # 10 steps in 5 cycles doubling: the first cycle would be 10 / 31 -> 0 steps. The run
    # length is known only when the run starts, so the refusal comes from run().
    problem = BlobClassification(
        params_of(BlobClassification), 1, torch.device("cpu"), torch.float64, 0
    )
    algorithm = CyclicTradeoff(
        params_of(CyclicTradeoff), problem, 1, torch.device("cpu"), torch.float64, 0
    )
    with pytest.raises(
        ParamError, match="algorithm.cycles: 5 cycles with multiplier 2.0 leave a cycle of no steps"
    ):
        algorithm.run(10, rec=None)
    with pytest.raises(
        ParamError, match=r"run.steps: must be at least algorithm.cycles \(5\), got 3"
    ):
        algorithm.run(3, rec=None)


def params_of(cls) -> dict:
    return {p.name: p.default for p in cls.params}


def test_one_cyclic_run_matches_separate_runs_of_each_budget(tmp_path):
    # The paper's main claim: the curve from one cyclic run stands in for separate runs, each
    # trained with its own budget e_k and a single decay. A separate run of e_k steps is a
    # one-cycle run of the same peak rate; with the same seed it sees the same first batches,
    # so at e_1 it is the cyclic run itself (equal exactly). Measured mean accuracy over 5
    # seeds, cyclic vs separate: 0.700/0.700, 0.779/0.785, 0.806/0.801, 0.827/0.824, 0.840/0.840.
    ends = [20, 60, 140, 300, 620]
    store, row, _ = run_spec(
        tmp_path,
        {"id": "pareto.cyclic_lr", "cycles": 5},
        PROBLEM,
        steps=620,
        seeds=5,
        record_every=100,
    )
    cyclic = stored_fronts(store, row["id"])[620][0][..., 0]
    separate = []
    for budget in ends:
        one, one_row, _ = run_spec(
            tmp_path,
            {"id": "pareto.cyclic_lr", "cycles": 1},
            PROBLEM,
            steps=budget,
            seeds=5,
            record_every=100,
        )
        separate.append(stored_fronts(one, one_row["id"])[budget][0][:, 0, 0])
    separate = np.stack(separate, axis=1)
    np.testing.assert_array_equal(cyclic[:, 0], separate[:, 0])
    np.testing.assert_allclose(cyclic.mean(axis=0), separate.mean(axis=0), atol=0.015)
