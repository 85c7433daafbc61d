"""A run's summary at a metric, read from a store written through the Store's APIs, against
means, bands and areas worked out by hand."""

import math

import numpy as np
import pytest

from engine.metrics.run_summary import Summary, run_summary
from engine.store import Store
from tests.sweep_runs import write_run

STEPS = [0, 10, 20, 30]
# rows: checkpoints, columns: seeds. Means 2.5, 5, 3, 4; variances 5/3, 20/3, 0, 20/3.
VALUES = [[1, 2, 3, 4], [2, 4, 6, 8], [3, 3, 3, 3], [1, 3, 5, 7]]
T3, T1 = 3.182446, 12.706205  # t_{0.975} with 3 and 1 degrees of freedom


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.db") as opened:
        yield opened


def test_final_is_the_last_checkpoint_with_its_t_band(store):
    run = write_run(store, STEPS, VALUES)
    s = run_summary(store, run, "loss", Summary("final"), per_seed=True)
    half = T3 * math.sqrt((20 / 3) / 4)
    assert (s.mean, s.n, s.step) == (4.0, 4, 30)
    assert s.lo == pytest.approx(4 - half, abs=1e-6) and s.hi == pytest.approx(4 + half, abs=1e-6)
    assert sorted(s.seed_values.tolist()) == [1, 3, 5, 7]


def test_at_step_reads_the_last_checkpoint_at_or_before_it(store):
    run = write_run(store, STEPS, VALUES)
    s = run_summary(store, run, "loss", Summary("at_step", step=25))
    assert (s.mean, s.lo, s.hi, s.step) == (3.0, 3.0, 3.0, 20)  # no spread: the band collapses
    assert run_summary(store, run, "loss", Summary("at_step", step=9)).mean == 2.5
    before = run_summary(store, run, "loss", Summary("at_step", step=0))
    assert before.step == 0
    assert not run_summary(store, run, "other", Summary("final")).has_value


def test_best_is_the_best_checkpoint_of_the_mean_curve(store):
    run = write_run(store, STEPS, VALUES)
    high = run_summary(store, run, "loss", Summary("best", best="max"), per_seed=True)
    half = T3 * math.sqrt((20 / 3) / 4)
    assert (high.mean, high.step) == (5.0, 10)
    assert high.hi == pytest.approx(5 + half, abs=1e-6)
    # every seed at the mean's best checkpoint, not each seed's own best
    assert sorted(high.seed_values.tolist()) == [2, 4, 6, 8]
    low = run_summary(store, run, "loss", Summary("best", best="min"))
    assert (low.mean, low.step) == (2.5, 0)


def test_auc_is_the_trapezoid_of_the_mean_and_its_band_comes_from_the_seeds(store):
    run = write_run(store, STEPS, VALUES)
    s = run_summary(store, run, "loss", Summary("auc"))
    # 10 (2.5 + 5)/2 + 10 (5 + 3)/2 + 10 (3 + 4)/2
    assert s.mean == pytest.approx(112.5, rel=1e-12)
    # per-seed areas 60, 95, 130, 165 (mean 112.5 again), sample variance 6125 / 3
    assert sorted(s.seed_values.tolist()) == pytest.approx([60, 95, 130, 165])
    half = T3 * math.sqrt(6125 / 3) / 2
    assert s.lo == pytest.approx(112.5 - half, abs=1e-4)
    assert s.hi == pytest.approx(112.5 + half, abs=1e-4)
    assert s.n == 4 and s.band_from_kept and s.step is None


def test_with_two_kept_seeds_the_mean_is_still_every_seeds(store):
    run = write_run(store, STEPS, VALUES, keep=2)
    final = run_summary(store, run, "loss", Summary("final"), per_seed=True)
    assert (final.mean, final.n) == (4.0, 4)  # from the aggregates over all four seeds
    assert sorted(final.seed_values.tolist()) == [1, 3]  # only the kept seeds 0 and 1
    auc = run_summary(store, run, "loss", Summary("auc"))
    # the kept seeds' areas are 60 and 95: half-width t_1 * sd / sqrt(2), centred on 112.5
    half = T1 * np.std([60, 95], ddof=1) / math.sqrt(2)
    assert auc.mean == pytest.approx(112.5) and auc.n == 2
    assert auc.hi - auc.mean == pytest.approx(half, rel=1e-6)


def test_summary_choices_are_checked():
    with pytest.raises(ValueError, match="at step"):
        Summary("at_step")
    with pytest.raises(ValueError, match="summary must be one of"):
        Summary("last")
    with pytest.raises(ValueError, match="best must be"):
        Summary("best", best="top")
    assert Summary("best", best="min").label("loss") == "min of loss"
