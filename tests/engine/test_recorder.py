"""The recorder's two ways of keeping the loop going: copies from a CUDA device that do
not stop it (HostCopies) and store writes from a thread of their own (StoreWriter).

The CUDA tests run only where a device is present; the ordering and failure rules are
the same code on the CPU and are checked here on every machine."""

import sqlite3

import numpy as np
import pytest
import torch

from engine import runner
from engine.runner import HostCopies, Recorder, StoreWriter
from tests.engine.test_blocks import _store

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_values_are_copied_at_once_and_come_back_in_order():
    copies = HostCopies()
    regret = torch.zeros(3, dtype=torch.float32)
    for step in range(1, 4):
        regret += step  # in place: each record keeps its own step's values
        copies.put(step, {"r": regret, "scalar": 2})
    assert len(copies) == 3  # nothing is taken before ready() is asked
    got = copies.ready()
    assert [k for k, _ in got] == [1, 2, 3] and len(copies) == 0
    assert [v["r"].tolist() for _, v in got] == [[1.0] * 3, [3.0] * 3, [6.0] * 3]
    assert all(v["r"].dtype == np.float64 and v["scalar"].tolist() == [2.0] for _, v in got)


@cuda
def test_cuda_copies_keep_each_checkpoint_though_the_tensor_changes_in_place_after():
    copies = HostCopies()
    x = torch.zeros(1_000_000, dtype=torch.float32, device="cuda")
    got, expected, value = [], {}, 0.0
    for step in range(1, 13):  # more than MAX_COPIES_IN_FLIGHT: the oldest are waited for
        x.add_(1.0).mul_(1.5)  # queued before the copy
        value = expected[step] = (value + 1.0) * 1.5  # exact in float32 for these 12 steps
        copies.put(step, {"x": x, "cpu": step})
        assert len(copies) <= runner.MAX_COPIES_IN_FLIGHT + 1
        x.neg_()  # queued after the copy: a late read would see the negative
        got += copies.ready()
        x.neg_()
    got += copies.ready(wait=True)
    assert [step for step, _ in got] == list(range(1, 13)) and len(copies) == 0
    for step, values in got:
        assert values["x"].dtype == np.float64 and values["x"].shape == (1_000_000,)
        assert np.all(values["x"] == expected[step]) and values["cpu"].tolist() == [float(step)]


@cuda
def test_cuda_recorder_writes_the_values_of_each_step(tmp_path):
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=50)
    x = torch.arange(4, dtype=torch.float64, device="cuda")
    for step in range(1, 51):
        x += 1
        rec.metrics(step, {"m": x})
        rec.progress(step)
    rec.close()
    per_seed = store.series(run_id, "m")
    steps, values = per_seed[3]
    assert steps.tolist() == list(range(1, 51)) and values.tolist() == [
        3.0 + t for t in range(1, 51)
    ]


def test_the_writer_appends_in_order_from_its_own_thread_and_flush_waits_for_it(tmp_path):
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=3000)
    regret = torch.zeros(40_000, dtype=torch.float64)
    for step in range(1, 4):  # 40,000 values a step: every second step passes FLUSH_ROWS
        regret += 1
        rec.metrics(step, {"r": regret})
        rec.progress(step)
    rec.flush()
    assert rec._writer.is_alive()
    steps, values = store.series(run_id, "r")[39_999]
    assert steps.tolist() == [1, 2, 3] and values.tolist() == [1.0, 2.0, 3.0]
    rec.close()
    assert not rec._writer.is_alive()


def test_a_failed_write_reaches_the_recording_thread(tmp_path):
    store, run_id = _store(tmp_path)
    store.conn.execute("DROP TABLE series_blocks")
    rec = Recorder(store, run_id, steps=10)
    rec.metrics(1, {"r": np.ones(3)})
    with pytest.raises(
        RuntimeError, match="writing to the store failed: no such table: series_blocks"
    ):
        rec.close()
    assert isinstance(rec._writer.error, sqlite3.OperationalError)


def test_a_writer_whose_store_will_not_open_reports_it_and_drains(tmp_path):
    bad = tmp_path / "not-a-store.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    writer = StoreWriter(bad, 1)
    writer.batches.put({"blocks": []})
    with pytest.raises(RuntimeError, match="is not a Tradeoff Studio store"):
        writer.wait()
    writer.stop()
    assert not writer.is_alive()


@pytest.mark.parametrize("steps", [10, 1_000, 1_000_000, 10**9])
def test_every_decade_from_the_first_step_has_recorded_points(steps):
    """On a log axis a decade is the same width wherever it lies: each one up to the run's
    length holds at least 15 recorded steps (all nine of 1..9 in the first), consecutive
    recorded steps from 10 on are at most 25% apart (20 per decade: 12%, and rounding), and the run's
    first and last steps are both recorded."""
    recorded = runner.record_steps(steps)
    assert recorded[0] == 1 and recorded[-1] == steps and np.all(np.diff(recorded) > 0)
    assert recorded[: min(10, steps)].tolist() == list(range(1, min(10, steps) + 1))
    for decade in range(len(str(steps)) - 1):
        inside = (recorded >= 10**decade) & (recorded < 10 ** (decade + 1))
        assert inside.sum() >= (9 if decade == 0 else 15), (steps, decade, inside.sum())
    later = recorded[recorded >= 10]
    assert np.all(later[1:] / later[:-1] <= 1.25)


def test_the_number_of_recorded_steps_stays_bounded():
    """10 dense steps + 20 per decade (+ 1) + the ~500 strided steps + the last: 632 at most
    for 10^6 steps, 692 for 10^9; with the stride set to the run's length only the log part."""
    assert len(runner.record_steps(1_000_000)) <= 10 + 20 * 6 + 1 + 500 + 1
    assert len(runner.record_steps(10**9)) <= 10 + 20 * 9 + 1 + 500 + 1
    assert len(runner.record_steps(1_000_000, record_every=1_000_000)) <= 10 + 20 * 6 + 1
    assert runner.record_steps(7).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert runner.record_steps(1).tolist() == [1]
    strided = runner.record_steps(1_000_000)
    assert np.all(
        np.isin(np.arange(2000, 1_000_001, 2000), strided)
    )  # the automatic stride: 10^6 // 500
