"""Aggregates of many checkpoints at once (`seed_aggregate_rows`) and the recorder that
holds checkpoints to aggregate them so: the same numbers as `seed_aggregates` row by row,
and as numpy's own functions."""

import collections
import math
import threading

import numpy as np
import pytest
import torch

from engine import runner
from engine.metrics.aggregate import (
    AGGREGATE_FIELDS,
    SORT_UP_TO,
    seed_aggregate_rows,
    seed_aggregates,
)
from engine.runner import BATCH_VALUES, HELD_VALUES, Recorder
from tests.engine.test_aggregates import _close, numpy_aggregates
from tests.engine.test_blocks import _store

INF, NAN = math.inf, math.nan


def _same(a: float, b: float) -> bool:
    """Equal bit for bit as numbers: NaN equals NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def _check_rows(table):
    got = seed_aggregate_rows(table)
    assert got.shape == (len(table), len(AGGREGATE_FIELDS)) and got.dtype == np.float64
    for i, row in enumerate(table):
        alone = seed_aggregates(row)
        for j, field in enumerate(AGGREGATE_FIELDS):
            assert _same(float(got[i, j]), float(alone[field])), (i, field, got[i, j], alone[field])
    return got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_table_gives_seed_aggregates_row_by_row_with_nan_rows_and_infinities(dtype):
    rng = np.random.default_rng(21)
    table = rng.standard_normal((9, 6)).astype(dtype)
    table[1] = [2.0, 2.0, 2.0, 5.0, -1.0, 2.0]  # ties
    table[2, [0, 4]] = NAN  # n = 4
    table[3] = NAN  # n = 0
    table[4] = [NAN, NAN, 7.25, NAN, NAN, NAN]  # n = 1
    table[5, 2] = INF  # mean +inf, variance NaN (inf - inf), as numpy's
    table[6, [1, 3]] = [INF, -INF]  # both: the mean is NaN
    table[7, 0] = -INF
    table[8] = np.float32(3e38) if dtype == np.float32 else 1e308  # the sums overflow
    got = _check_rows(table)
    for i in (0, 1, 2):  # finite rows: numpy's functions on the float64 values
        want = numpy_aggregates(table[i].astype(np.float64))
        for j, field in enumerate(AGGREGATE_FIELDS):
            assert _close(float(got[i, j]), float(want[field])), (i, field)
    assert got[1, AGGREGATE_FIELDS.index("q50")] == 2.0 and got[2, 0] == 4
    assert got[3, 0] == 0 and np.isnan(got[3, 1:]).all()
    assert got[4].tolist()[:2] == [1, 7.25] and math.isnan(got[4, 2])
    assert got[4, 3:].tolist() == [7.25] * 7
    mean, var, low, high = (AGGREGATE_FIELDS.index(f) for f in ("mean", "var", "min", "max"))
    assert got[5, mean] == INF and math.isnan(got[5, var]) and got[5, high] == INF
    assert math.isnan(got[6, mean]) and got[6, low] == -INF and got[6, high] == INF
    assert got[7, mean] == -INF and got[7, low] == -INF


def test_tables_of_one_seed_of_no_seed_and_of_no_checkpoint():
    one = _check_rows(np.array([[3.0], [NAN], [-INF]]))
    assert one[:, 0].tolist() == [1, 0, 1] and np.isnan(one[:, 2]).all()
    assert one[0, 3:].tolist() == [3.0] * 7 and one[2, 3:].tolist() == [-INF] * 7
    none = seed_aggregate_rows(np.zeros((2, 0)))
    assert none[:, 0].tolist() == [0, 0] and np.isnan(none[:, 1:]).all()
    assert seed_aggregate_rows(np.zeros((0, 5), dtype=np.float32)).shape == (0, 10)
    assert seed_aggregate_rows(np.array([[1, 2, 4]])).tolist()[0][:2] == [3, 7 / 3]  # ints
    with pytest.raises(ValueError, match="2-D"):
        seed_aggregate_rows(np.zeros(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_rows_partitioned_in_kept_buffers_give_numpy_values(dtype):
    """More than SORT_UP_TO seeds: float64 sums without a converted copy, squared
    deviations a chunk at a time, partitions in a buffer kept between calls, the neighbour
    order statistics as minima; NaN values left out (a row may then be short enough to
    sort). The same buffers serve every row, so a row left over in them would show."""
    width = 2 * SORT_UP_TO + 11
    rng = np.random.default_rng(4)
    table = rng.standard_normal((5, width)).astype(dtype)
    table[0, ::5] = np.round(table[0, ::5])  # ties
    table[1] = table[1] * 0.01 + 1e4  # a mean far from zero against the spread
    table[2, rng.integers(0, width, 500)] = NAN
    table[3, : width - 100] = NAN  # 100 values left: sorted
    table[4, [7, 9]] = [INF, -INF]  # no NaN, but the sum is NaN
    got = _check_rows(table)
    for i in range(4):
        want = numpy_aggregates(table[i].astype(np.float64))
        for j, field in enumerate(AGGREGATE_FIELDS):
            assert _close(float(got[i, j]), float(want[field])), (i, field)
    assert got[3, 0] == 100 and got[2, 0] == width - len(set(np.flatnonzero(np.isnan(table[2]))))
    assert math.isnan(got[4, 1]) and got[4, 3] == -INF and got[4, 4] == INF
    finite = np.sort(np.delete(table[4], [7, 9]).astype(np.float64))
    assert got[4, AGGREGATE_FIELDS.index("q50")] == np.quantile(np.r_[-INF, finite, INF], 0.5)


def test_the_recorder_aggregates_held_checkpoints_as_numpy_does_at_each_step(tmp_path):
    """Tables of checkpoints filled (1,000 float32 seeds: BATCH_VALUES // 1000 a table),
    held until the close (3 seeds), and wide values aggregated at once; the values change
    in place between checkpoints, as an algorithm's tensors do; NaN at some steps."""
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=150, keep_seeds=2)
    assert 150 > BATCH_VALUES // 1000
    small = torch.zeros(1000, dtype=torch.float32)
    tiny = np.zeros(3)
    wide = np.zeros(SORT_UP_TO + 1)
    rng = np.random.default_rng(9)
    seen = {"small": {}, "tiny": {}, "wide": {}}
    for step in range(1, 151):
        small.copy_(torch.from_numpy(rng.standard_normal(1000).astype(np.float32)))
        if step % 7 == 0:
            small[::3] = float("nan")
        tiny[:] = rng.integers(0, 4, 3)
        values = {"small": small, "tiny": tiny}
        if step % 50 == 0:
            wide[:] = rng.standard_normal(wide.size)
            values["wide"] = wide
        rec.metrics(step, values)
        for name, value in values.items():
            seen[name][step] = np.asarray(value, dtype=np.float64).copy()
        rec.progress(step)
    rec.close()
    for name, by_step in seen.items():
        stored = store.aggregate_arrays(run_id, name)
        assert stored["step"].tolist() == sorted(by_step)
        for row, step in enumerate(stored["step"].tolist()):
            want = numpy_aggregates(by_step[step])
            for field in AGGREGATE_FIELDS:
                assert _close(float(stored[field][row]), float(want[field])), (name, step, field)
        steps, seeds, kept = store.series_arrays(run_id, name)
        assert sorted(set(seeds.tolist())) == [0, 1]
        for step, seed, value in zip(steps.tolist(), seeds.tolist(), kept.tolist()):
            assert _same(value, float(by_step[step][seed])), (name, step, seed)
        assert len(steps) == 2 * len(by_step)


def test_the_writer_thread_aggregates_and_the_loop_only_copies(tmp_path, monkeypatch):
    """Narrow and wide metrics are aggregated by the store writer, not in the loop's
    thread; a wide table held past HELD_VALUES values makes the recorder write at the next
    progress; emptied tables come back for reuse and give the same numbers."""
    threads = []

    def spy(table):
        threads.append(threading.current_thread().name)
        return seed_aggregate_rows(table)

    monkeypatch.setattr(runner, "seed_aggregate_rows", spy)
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=300, keep_seeds=3)
    wide_width = HELD_VALUES  # a table of one checkpoint (wider than BATCH_VALUES)
    rng = np.random.default_rng(4)
    small, wide = np.zeros(500), np.zeros(wide_width)
    seen = {}
    for step in range(1, 301):
        small[:] = rng.standard_normal(small.size)
        values = {"small": small}
        if step in (100, 200):
            wide[:] = rng.standard_normal(wide.size)
            values["wide"] = wide
        rec.metrics(step, values)
        seen[step] = {name: v.copy() for name, v in values.items()}
        assert not threads or set(threads) == {"store-writer"}
        held = rec._held_values
        rec.progress(step)
        if step in (100, 200):
            assert held >= wide_width and rec._held_values == 0  # written at once
    rec.close()
    assert threads and set(threads) == {"store-writer"}
    for name in ("small", "wide"):
        stored = store.aggregate_arrays(run_id, name)
        steps = [s for s in seen if name in seen[s]]
        assert stored["step"].tolist() == steps
        for row, step in enumerate(steps):
            want = numpy_aggregates(seen[step][name])
            for field in AGGREGATE_FIELDS:
                assert _close(float(stored[field][row]), float(want[field])), (name, step, field)
        got_steps, seeds, kept = store.series_arrays(run_id, name)
        assert len(got_steps) == 3 * len(steps)
        for step, seed, value in zip(got_steps.tolist(), seeds.tolist(), kept.tolist()):
            assert value == seen[step][name][seed]


def test_an_emptied_table_is_reused_and_holds_nothing_of_its_last_rows(tmp_path):
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=10, keep_seeds=0)
    table = rec._table(4, np.dtype(np.float64))
    table.add((1, 0.0), np.arange(4.0))
    batch = runner.resolve_held({"held": (0, [("m", table)], rec._spare)})
    assert [row[:4] for row in batch["aggregate_rows"]] == [("m", 1, 4, 1.5)]
    assert rec._table(4, np.dtype(np.float64)) is table and table.keys == []
    assert rec._table(5, np.dtype(np.float64)) is not table
    table.add((2, 0.0), np.full(4, 7.0))
    (row,) = runner.resolve_held({"held": (0, [("m", table)], None)})["aggregate_rows"]
    assert row[:5] == ("m", 2, 4, 7.0, 0.0)
    rec.close()


def test_a_table_begun_in_inference_mode_takes_copies_made_outside_it(tmp_path):
    """A loop in `torch.inference_mode()` that records its last checkpoint after leaving
    it: the table's row views, made at the first copy, accept both."""
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=3, keep_seeds="all")
    with torch.inference_mode():
        rec.metrics(1, {"m": torch.arange(100, dtype=torch.float64)})
        rec.metrics(2, {"m": torch.arange(100, dtype=torch.float64) * 2})
    rec.metrics(3, {"m": torch.arange(100, dtype=torch.float64) * 3})
    rec.close()
    stored = store.aggregate_arrays(run_id, "m")
    assert stored["max"].tolist() == [99.0, 198.0, 297.0]
    assert stored["mean"].tolist() == [49.5, 99.0, 148.5]


def test_tables_of_one_width_and_dtype_are_aggregated_by_one_call(monkeypatch):
    """A write's tables, stacked by width and dtype (wide ones alone): one
    `seed_aggregate_rows` call a group, and rows, kept values and emptied tables as table by
    table, in the tables' order; a row with a NaN among them."""
    calls = []

    def spy(table):
        calls.append(table.shape)
        return seed_aggregate_rows(table)

    monkeypatch.setattr(runner, "seed_aggregate_rows", spy)
    rng = np.random.default_rng(23)
    made = [
        ("a", 40, np.float64, 3),
        ("b", 40, np.float64, 5),
        ("c", 40, np.float32, 2),
        ("a", 40, np.float64, 4),
        ("w", SORT_UP_TO + 1, np.float64, 1),
        ("w", SORT_UP_TO + 1, np.float64, 1),
        ("d", 7, np.float64, 6),
    ]
    tables, want = [], []
    step = 0
    for name, width, dtype, rows in made:
        table = runner._Checkpoints(width, dtype)
        for _ in range(rows):
            step += 1
            values = rng.standard_normal(width).astype(dtype)
            if step == 4:
                values[[0, 5]] = NAN
            table.add((step, step / 10), values)
            want.append((name, step, values.astype(np.float64)))
        tables.append((name, table))
    spare = collections.deque()
    batch = runner.resolve_held({"held": (2, tables, spare), "aggregate_rows": [("x", 0)]})
    assert sorted(calls) == sorted(
        [(12, 40), (2, 40), (1, SORT_UP_TO + 1), (1, SORT_UP_TO + 1), (6, 7)]
    )
    rows = batch["aggregate_rows"]
    assert rows[0] == ("x", 0) and len(rows) == 1 + len(want)
    for row, (name, step, values) in zip(rows[1:], want):
        assert row[:2] == (name, step) and row[-1] == step / 10
        alone = seed_aggregates(values)
        for got, field in zip(row[2:-1], AGGREGATE_FIELDS):
            assert _same(float(got), float(alone[field])), (name, step, field)
    blocks = {(b.metric, b.width): b for b in batch["blocks"]}
    for (name, _), block in blocks.items():
        mine = [(step, values) for n, step, values in want if n == name]
        assert block.steps.tolist() == [step for step, _ in mine]
        np.testing.assert_array_equal(block.values, [values[:2] for _, values in mine])
    assert sorted(blocks) == [("a", 2), ("b", 2), ("c", 2), ("d", 2), ("w", 2)]
    assert list(spare) == [table for _, table in tables] and all(not t.keys for t in spare)


def test_a_metric_whose_width_changes_keeps_no_table_per_width_past_a_write(tmp_path):
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=40, keep_seeds=0)
    for step in range(1, 41):
        rec.metrics(step, {"m": np.arange(step, dtype=np.float64)})  # step values: 0..step-1
    assert len(rec._checkpoints) == 40  # one table per width until the recorder writes
    rec.flush()
    assert rec._checkpoints == {}
    rec.close()
    stored = store.aggregate_arrays(run_id, "m")
    assert stored["n"].tolist() == list(range(1, 41))
    assert stored["mean"].tolist() == [(step - 1) / 2 for step in range(1, 41)]
    assert stored["max"].tolist() == [float(step - 1) for step in range(1, 41)]


def test_tensors_copied_by_torch_store_what_their_arrays_store(tmp_path):
    """1-D float32 and float64 CPU tensors go into the tables by torch's own copy (row
    views, or numpy's for a table of more than ROW_VIEWS rows), others as arrays: the same
    rows and kept values as the arrays of the same numbers, updated in place as an
    algorithm's tensors are; a strided view, a tensor that needs a gradient, a 2-D one
    and an integer one included."""
    assert BATCH_VALUES // 10 > runner.ROW_VIEWS >= BATCH_VALUES // 1000
    rng = np.random.default_rng(17)
    steps = 80
    state = torch.zeros(1000, 2, dtype=torch.float64)
    narrow = torch.zeros(10, dtype=torch.float32)
    wide = torch.zeros(1000, dtype=torch.float32)
    grad = torch.zeros(300, dtype=torch.float64, requires_grad=True)
    square = torch.zeros(20, 30, dtype=torch.float64)
    counts = torch.zeros(50, dtype=torch.int64)

    def values():
        return {
            "strided": state[:, 1],  # a view whose rows are 2 apart
            "narrow": narrow,
            "wide": wide,
            "grad": grad,
            "square": square,
            "counts": counts,
        }

    stores = {}
    for as_arrays in (False, True):
        folder = tmp_path / ("arrays" if as_arrays else "tensors")
        folder.mkdir()
        store, run_id = _store(folder)
        rec = Recorder(store, run_id, steps=steps, keep_seeds=5)
        rng = np.random.default_rng(17)
        for step in range(1, steps + 1):
            with torch.no_grad():
                state.copy_(torch.from_numpy(rng.standard_normal(state.shape)))
                narrow.copy_(torch.from_numpy(rng.standard_normal(10).astype(np.float32)))
                wide.copy_(torch.from_numpy(rng.standard_normal(1000).astype(np.float32)))
                grad.copy_(torch.from_numpy(rng.standard_normal(300)))
                square.copy_(torch.from_numpy(rng.standard_normal((20, 30))))
                counts.copy_(torch.from_numpy(rng.integers(0, 9, 50)))
            given = values()
            if as_arrays:
                given = {name: v.detach().numpy().copy() for name, v in given.items()}
            rec.metrics(step, given)
            rec.progress(step)
        rec.close()
        stores[as_arrays] = (store, run_id)
    (by_torch, torch_id), (by_numpy, numpy_id) = stores[False], stores[True]
    for name in values():
        got, want = (
            by_torch.aggregate_arrays(torch_id, name),
            by_numpy.aggregate_arrays(numpy_id, name),
        )
        assert got["step"].tolist() == list(range(1, steps + 1))
        for field in AGGREGATE_FIELDS:
            assert got[field].tolist() == want[field].tolist(), (name, field)
        got_kept = by_torch.series_arrays(torch_id, name)
        want_kept = by_numpy.series_arrays(numpy_id, name)
        for a, b in zip(got_kept, want_kept):
            assert a.tolist() == b.tolist(), name
    # the numbers themselves, at the last step: numpy's own functions
    last = by_torch.aggregate_arrays(torch_id, "strided")
    want = numpy_aggregates(state[:, 1].numpy().copy())
    for field in AGGREGATE_FIELDS:
        assert _close(float(last[field][-1]), float(want[field])), field


def test_partitioned_pairs_are_the_order_statistics_of_a_sort_for_every_length():
    """The pairs the wide path interpolates between, at the ranks of QUANTILES, for lengths
    where ranks coincide or neighbour each other (n = 1..60) and longer ones, with ties and
    infinities: partitioning around the rank nearest each stretch's middle leaves every
    partitioned rank and each next one as a sort puts them."""
    from engine.metrics.aggregate import _partitioned_pairs, _ranks

    rng = np.random.default_rng(11)
    for n in [*range(1, 61), 997, 4096, 10_001]:
        for values in (
            rng.standard_normal(n),
            rng.integers(0, 4, n).astype(np.float64),  # mostly ties
            np.r_[rng.standard_normal(n - 1), INF] if n > 1 else np.array([-INF]),
        ):
            below, above, _ = _ranks(n)
            ordered = np.sort(values)
            lo, hi = _partitioned_pairs(values.copy(), below)
            assert [float(v) for v in lo] == ordered[below].tolist(), n
            assert [float(v) for v in hi] == ordered[above].tolist(), n


def test_bracketed_pairs_are_the_order_statistics_of_a_sort_or_none():
    """The wide path's order statistics from a sorted sample's brackets: equal to a sort's
    at every rank of QUANTILES and the next, for continuous values, ties (a few values, as
    a regret of integer plays takes), sorted and reversed rows, and infinities; and None
    (the caller partitions) where the sample misses a rank: a row whose every sampled
    position holds a value far above the rest."""
    from engine.metrics.aggregate import _bracketed_pairs, _ranks, sample_stride

    rng = np.random.default_rng(12)
    n = 100_003
    rows = {
        "normal": rng.standard_normal(n),
        "ties": rng.integers(0, 5, n).astype(np.float64),
        "one value": np.full(n, 2.5),
        "sorted": np.sort(rng.exponential(size=n)),
        "reversed": np.sort(rng.standard_normal(n))[::-1].copy(),
        "infinities": np.r_[rng.standard_normal(n - 2), INF, -INF],
        "float32": rng.standard_normal(n).astype(np.float32),
    }
    below, above, _ = _ranks(n)
    for name, values in rows.items():
        ordered = np.sort(values)
        pairs = _bracketed_pairs(values, below)
        assert pairs is not None, name
        assert [float(v) for v in pairs[0]] == ordered[below].tolist(), name
        assert [float(v) for v in pairs[1]] == ordered[above].tolist(), name
    fooled = rng.standard_normal(n)
    stride = sample_stride(n)
    fooled[::stride] = 1e9 + np.arange(len(fooled[::stride]))
    assert _bracketed_pairs(fooled, below) is None
    want = numpy_aggregates(fooled)
    got = seed_aggregates(fooled)
    for field in ("q05", "q25", "q50", "q75", "q95", "min", "max"):
        assert _close(float(got[field]), float(want[field])), field
