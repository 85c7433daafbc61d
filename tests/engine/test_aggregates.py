"""Aggregates over seeds in the store: schema 5's `series_aggregates`, its read API, the
migration that computes them for runs written before, and pooling across runs."""

import math
import sqlite3

import numpy as np
import pytest

from engine.blocks import Block
from engine.metrics.aggregate import (
    AGGREGATE_FIELDS,
    QUANTILES,
    band_from_aggregate,
    pool_aggregates,
    seed_aggregates,
    t_quantile_975,
)
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import BOUND_SEED, SCHEMA_VERSION, Store, aggregate_row

SPEC = """
[run]
seeds = 5
steps = 3
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.3, 0.6]
[hardware]
device = "cpu"
"""

# 3 checkpoints x 5 seeds, by hand: a NaN at step 2, ties at step 3.
STEPS = np.array([1, 2, 3])
TABLE = np.array(
    [[0.5, 1.0, 2.0, 4.0, 8.0], [-3.0, np.nan, 7.5, 0.25, 1.0], [2.0, 2.0, 2.0, 5.0, -1.0]]
)


def numpy_aggregates(values) -> dict:
    """The reference: numpy's own functions on the non-NaN values."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    out = {
        "n": len(v),
        "mean": v.mean(),
        "var": v.var(ddof=1) if len(v) > 1 else math.nan,
        "min": v.min(),
        "max": v.max(),
    }
    out.update({f"q{round(q * 100):02d}": np.quantile(v, q) for q in QUANTILES})
    return out


def _close(a, b, rel=1e-12):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rel, abs=1e-300)


def test_aggregates_of_a_hand_made_table_equal_numpy():
    for row in TABLE:
        got, want = seed_aggregates(row), numpy_aggregates(row)
        assert set(got) == set(AGGREGATE_FIELDS)
        for field in AGGREGATE_FIELDS:
            assert _close(got[field], want[field]), (field, got[field], want[field])
    # by hand, step 2: values -3, 7.5, 0.25, 1 -> sorted -3, 0.25, 1, 7.5
    step2 = seed_aggregates(TABLE[1])
    assert step2["n"] == 4 and step2["mean"] == pytest.approx(5.75 / 4)
    assert step2["q50"] == pytest.approx(0.625)  # halfway between 0.25 and 1
    assert step2["q05"] == pytest.approx(-3 + 0.15 * 3.25)  # position 0.15 between -3 and 0.25
    assert step2["q95"] == pytest.approx(1 + 0.85 * 6.5)


@pytest.mark.parametrize(
    "size", [1001, 40_001]
)  # sorted, and partitioned around each rank (> SORT_UP_TO)
def test_float32_values_give_the_quantiles_of_their_float64_values(size):
    from engine.metrics.aggregate import SORT_UP_TO

    assert (size > SORT_UP_TO) == (size == 40_001)
    rng = np.random.default_rng(3)
    values = rng.standard_normal(size).astype(np.float32)
    values[::7] = np.round(values[::7])  # ties
    for array in (values, values.astype(np.float64)):
        got, want = seed_aggregates(array), numpy_aggregates(values.astype(np.float64))
        for field in AGGREGATE_FIELDS:
            assert _close(got[field], want[field]), (array.dtype, field)


def test_order_statistics_are_those_of_a_sort():
    from engine.metrics.aggregate import order_statistics

    rng = np.random.default_rng(8)
    for values in (
        rng.standard_normal(9999),
        rng.integers(0, 5, 1000).astype(float),
        np.array([3.0]),
    ):
        ranks = sorted(set(rng.integers(0, len(values), 12).tolist() + [0, len(values) - 1]))
        got = order_statistics(values, ranks)
        assert got[ranks].tolist() == np.sort(values)[ranks].tolist()
        assert sorted(got.tolist()) == sorted(values.tolist())  # a permutation, the input untouched


def test_empty_and_single_seed_aggregates():
    empty = seed_aggregates(np.array([np.nan, np.nan]))
    assert empty["n"] == 0 and all(math.isnan(empty[f]) for f in AGGREGATE_FIELDS[1:])
    one = seed_aggregates(np.array([np.nan, 2.5]))
    assert one["n"] == 1 and math.isnan(one["var"])
    assert [one[f] for f in ("mean", "min", "max", "q05", "q50", "q95")] == [2.5] * 6


def test_band_from_aggregate_is_the_t_band_and_collapses_at_one_seed():
    lo, hi = band_from_aggregate(4, 1.0, 2.0)
    half = t_quantile_975(3) * math.sqrt(2.0 / 4)
    assert (lo, hi) == (pytest.approx(1.0 - half, rel=1e-15), pytest.approx(1.0 + half, rel=1e-15))
    assert band_from_aggregate(1, 3.0, float("nan")) == (3.0, 3.0)
    lo, hi = band_from_aggregate(
        np.array([3, 3, 0]), np.array([1.0, 1.0, np.nan]), np.array([-1e-18, 0.0, np.nan])
    )
    assert lo[:2].tolist() == [1.0, 1.0] and hi[:2].tolist() == [
        1.0,
        1.0,
    ]  # a rounding residue below 0 is 0
    assert math.isnan(lo[2]) and math.isnan(hi[2])


def _arrays(table, steps=STEPS, first_seed=0):
    rows = [seed_aggregates(r) for r in table]
    return {
        "step": np.asarray(steps),
        **{f: np.array([r[f] for r in rows], dtype=float) for f in AGGREGATE_FIELDS},
        "wall_time": np.zeros(len(steps)),
    }


def test_pooling_split_halves_gives_the_aggregate_of_the_whole():
    rng = np.random.default_rng(11)
    whole = rng.normal(loc=[[1.0], [-2.0], [10.0]], scale=[[1.0], [3.0], [0.5]], size=(3, 101))
    whole[1, 7] = np.nan
    parts = [_arrays(whole[:, :40]), _arrays(whole[:, 40:77]), _arrays(whole[:, 77:])]
    pooled, reference = pool_aggregates(parts), _arrays(whole)
    assert pooled["step"].tolist() == [1, 2, 3]
    assert pooled["n"].tolist() == [101, 100, 101]
    for field in ("mean", "var"):
        np.testing.assert_allclose(pooled[field], reference[field], rtol=1e-12)
    assert pooled["min"].tolist() == reference["min"].tolist()
    assert pooled["max"].tolist() == reference["max"].tolist()
    # a mean far from zero against the spread: both variances lose digits to rounding alike
    offset = whole + 1e6
    np.testing.assert_allclose(
        pool_aggregates([_arrays(offset[:, :40]), _arrays(offset[:, 40:])])["var"],
        _arrays(offset)["var"],
        rtol=1e-9,
    )
    # quantiles are approximate: near the whole's (the parts come from one distribution)
    spread = reference["q75"] - reference["q25"]
    for field in ("q05", "q25", "q50", "q75", "q95"):
        assert np.all(np.abs(pooled[field] - reference[field]) < 0.5 * spread), field


def test_pooling_one_part_gives_it_back_and_parts_may_lack_steps():
    part = _arrays(TABLE)
    alone = pool_aggregates([part])
    for field in AGGREGATE_FIELDS:
        np.testing.assert_array_equal(alone[field], part[field])
    longer = _arrays(np.vstack([TABLE, [[10.0, 20.0, 30.0, 40.0, 50.0]]]), steps=[1, 2, 3, 4])
    pooled = pool_aggregates([part, longer])
    assert pooled["step"].tolist() == [1, 2, 3, 4] and pooled["n"].tolist() == [10, 8, 10, 5]
    assert pooled["mean"][3] == 30.0 and pooled["q50"][3] == 30.0
    # two separated groups: the pooled median lies between them, where the mixture puts it
    low, high = _arrays([[0.0, 1.0, 2.0]], [1]), _arrays([[100.0, 101.0, 102.0]], [1])
    both = pool_aggregates([low, high])
    assert 2.0 <= both["q50"][0] <= 100.0 and both["q05"][0] < 1.0 and both["q95"][0] > 101.0


def _store(tmp_path, spec=SPEC):
    store = Store(tmp_path / "a.db")
    return store, store.create_run(
        RunSpec.from_toml(spec, Catalogue.live()), family="bandits", plot="regret"
    )


def test_aggregate_rows_round_trip_with_cursor_and_arrays(tmp_path):
    store, run_id = _store(tmp_path)
    rows = [aggregate_row("r", step, values, 0.1 * step) for step, values in zip(STEPS, TABLE)]
    store.append(run_id, aggregate_rows=rows[:2])
    got, cursor = store.aggregates_since(run_id)
    assert [r[:3] for r in got] == [("r", 1, 5), ("r", 2, 4)] and len(got[0]) == 13
    store.append(run_id, aggregate_rows=rows[2:] + [aggregate_row("s", 1, [np.nan], 0.0)])
    more, cursor2 = store.aggregates_since(run_id, cursor)
    assert [r[:3] for r in more] == [("r", 3, 5), ("s", 1, 0)] and cursor2 > cursor
    assert more[1][3:12] == (None,) * 9  # n = 0: nothing but the count
    arrays = store.aggregate_arrays(run_id, "r")
    assert arrays["step"].tolist() == [1, 2, 3] and arrays["n"].dtype == np.int64
    for i, row in enumerate(TABLE):
        want = numpy_aggregates(row)
        for field in AGGREGATE_FIELDS:
            assert _close(float(arrays[field][i]), float(want[field]))
    assert arrays["wall_time"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert store.metrics_of(run_id) == ["r", "s"]
    store.conn.execute("UPDATE runs SET status='finished'")
    store.delete_runs([run_id])
    assert store.aggregates_since(run_id) == ([], 0)


def _schema_4(path):
    """Make a store file what the schema-4 code wrote: no sweep tables, no aggregates table, no
    kept_seeds column, version 4. Its sqlite_master then equals, row for row, that of a store
    made by the schema-4 code (checked against that code when this migration was written)."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE sweep_points")  # schema 6
    conn.execute("DROP TABLE sweeps")
    conn.execute("DROP TABLE series_aggregates")
    conn.execute("ALTER TABLE runs DROP COLUMN kept_seeds")
    conn.execute("UPDATE meta SET value='4' WHERE key='schema_version'")
    conn.commit()
    conn.close()


def test_migration_from_schema_4_computes_aggregates_equal_to_numpy(tmp_path):
    store, run_id = _store(tmp_path)
    other = store.create_run(
        RunSpec.from_toml(SPEC, Catalogue.live()), family="bandits", plot="regret"
    )
    # how schema-4 engines wrote: packed blocks of every seed (two flushes), a bound
    store.append(
        run_id,
        blocks=[
            Block("r", 0, STEPS[:2], TABLE[:2], np.array([0.5, 1.0])),
            Block("regret_upper_bound", BOUND_SEED, STEPS, np.ones((3, 1)), np.zeros(3)),
        ],
    )
    store.append(run_id, blocks=[Block("r", 0, STEPS[2:], TABLE[2:], np.array([1.5]))])
    # and one value per row (`series_rows`), seeds in separate blocks
    store.append(other, series_rows=[("m", 1, seed, float(seed) ** 2, 0.25) for seed in range(4)])
    store.close()
    path = tmp_path / "a.db"
    _schema_4(path)
    old = sqlite3.connect(path)
    assert "series_aggregates" not in {r[0] for r in old.execute("SELECT name FROM sqlite_master")}
    old.close()

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 6
    arrays = store.aggregate_arrays(run_id, "r")
    assert arrays["step"].tolist() == [1, 2, 3] and arrays["wall_time"].tolist() == [0.5, 1.0, 1.5]
    for i, row in enumerate(TABLE):
        want = numpy_aggregates(row)
        for field in AGGREGATE_FIELDS:
            assert _close(float(arrays[field][i]), float(want[field])), (i, field)
    assert (
        store.aggregate_arrays(run_id, "regret_upper_bound")["step"].size == 0
    )  # bounds are not aggregated
    m = store.aggregate_arrays(other, "m")
    assert (
        m["n"].tolist() == [4]
        and m["mean"][0] == pytest.approx(14 / 4)
        and m["q50"][0] == pytest.approx(2.5)
    )
    assert store.get_run(run_id)["kept_seeds"] is None  # old runs kept every seed
    # once: opening again computes nothing more
    before = store.conn.execute("SELECT count(*) FROM series_aggregates").fetchone()[0]
    store.close()
    assert (
        Store(path).conn.execute("SELECT count(*) FROM series_aggregates").fetchone()[0]
        == before
        == 4
    )


def test_migration_skips_a_damaged_block_and_opens(tmp_path):
    store, run_id = _store(tmp_path)
    store.append(run_id, blocks=[Block("r", 0, STEPS, TABLE, np.zeros(3))])
    store.close()
    path = tmp_path / "a.db"
    _schema_4(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE series_blocks SET vals = x'00'")
    conn.commit()
    conn.close()
    assert Store(path).aggregate_arrays(run_id, "r")["step"].size == 0


def test_kept_seeds_is_stored_only_when_fewer_than_all_seeds_are_kept(tmp_path):
    store, all_kept = _store(tmp_path)  # default 100 >= 5 seeds
    few = store.create_run(
        RunSpec.from_toml(SPEC.replace("steps = 3", "steps = 3\nkeep_seeds = 2"), Catalogue.live()),
        family="bandits",
        plot="regret",
    )
    every = store.create_run(
        RunSpec.from_toml(
            SPEC.replace("steps = 3", 'steps = 3\nkeep_seeds = "all"'), Catalogue.live()
        ),
        family="bandits",
        plot="regret",
    )
    assert [store.get_run(i)["kept_seeds"] for i in (all_kept, few, every)] == [None, 2, None]


# -- the recorder: aggregates where the values live, per-seed values for the kept seeds ----------
RUN = """
[run]
seeds = 150
steps = 300
seed = 4
{keep}
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.5, 0.55]
[hardware]
device = "cpu"
threads = 1
dtype = "float64"
"""


def _run(store, keep=""):
    from engine import runner

    spec = RunSpec.from_toml(RUN.format(keep=keep), Catalogue.live())
    run_id, status = runner.execute(spec, store, "cpu")
    assert status == "finished"
    return run_id


def _per_seed_table(store, run_id, metric):
    steps, seeds, values = store.series_arrays(run_id, metric)
    own = seeds >= 0
    unique_steps = np.unique(steps[own])
    return unique_steps, values[own].reshape(len(unique_steps), -1), np.unique(seeds[own])


def test_a_real_run_stores_aggregates_equal_to_those_of_every_seed(tmp_path):
    from engine.metrics import seed_summary

    store = Store(tmp_path / "r.db")
    every, default = _run(store, 'keep_seeds = "all"'), _run(store)
    for metric in ("cumulative_regret", "best_arm_fraction"):
        steps, table, seeds = _per_seed_table(store, every, metric)
        assert seeds.tolist() == list(range(150))
        summary = seed_summary(table, axis=1)
        stored = store.aggregate_arrays(default, metric)
        assert stored["step"].tolist() == steps.tolist() and stored["n"].tolist() == [150] * len(
            steps
        )
        lo, hi = band_from_aggregate(stored["n"], stored["mean"], stored["var"])
        np.testing.assert_allclose(stored["mean"], summary["mean"], rtol=1e-9)
        np.testing.assert_allclose(lo, summary["lo"], rtol=1e-9)
        np.testing.assert_allclose(hi, summary["hi"], rtol=1e-9)
        for row, values in zip(range(len(steps)), table):
            want = numpy_aggregates(values)
            for field in AGGREGATE_FIELDS:
                assert _close(float(stored[field][row]), float(want[field]), rel=1e-9), (
                    metric,
                    row,
                    field,
                )
        # the default run kept the first 100 seeds, value for value the same as the full run's
        kept_steps, kept, kept_seeds = _per_seed_table(store, default, metric)
        assert kept_seeds.tolist() == list(range(100))
        np.testing.assert_array_equal(kept, table[:, :100])
    assert (
        store.get_run(default)["kept_seeds"] == 100 and store.get_run(every)["kept_seeds"] is None
    )
    bounds = store.series(default, "regret_upper_bound")
    assert list(bounds) == [BOUND_SEED]  # bounds stay per-seed blocks


def test_keep_seeds_3_stores_three_seeds_and_aggregates_all(tmp_path):
    store = Store(tmp_path / "k.db")
    run_id = _run(store, "keep_seeds = 3")
    steps, seeds, _ = store.series_arrays(run_id, "cumulative_regret")
    assert sorted(set(seeds.tolist())) == [0, 1, 2]
    assert set(store.aggregate_arrays(run_id, "cumulative_regret")["n"].tolist()) == {150}
    nothing = _run(store, "keep_seeds = 0")
    assert store.series_arrays(nothing, "cumulative_regret")[0].size == 0
    assert store.metrics_of(nothing) == [
        "best_arm_fraction",
        "cumulative_regret",
        "regret_lower_bound",
        "regret_upper_bound",
    ]


def test_the_device_aggregates_equal_numpy_on_any_device():
    """The CUDA path's arithmetic (sort, indices from the count, interpolation), run on the
    CPU here; on a CUDA machine the same checks run there too."""
    import torch

    from engine.runner import device_aggregates

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rng = np.random.default_rng(5)
    cases = [
        *TABLE,
        rng.standard_normal(1000),
        np.array([np.nan, np.nan]),
        np.array([np.nan, 4.0]),
        np.zeros(0),
        np.array([1.0, np.inf, 2.0]),
    ]
    for device in devices:
        for values in cases:
            for dtype in (torch.float64, torch.float32):
                tensor = torch.tensor(values, dtype=dtype, device=device)
                got = device_aggregates(tensor).cpu().numpy()
                want = seed_aggregates(tensor.cpu().double().numpy())
                for i, field in enumerate(AGGREGATE_FIELDS):
                    assert _close(float(got[i]), float(want[field])), (device, dtype, values, field)


def test_export_aggregate_csv_of_a_hand_made_run(tmp_path, capsys):
    import csv
    import io

    from engine import cli

    store, run_id = _store(tmp_path)
    store.append(
        run_id,
        aggregate_rows=[
            aggregate_row("r", step, values, 0.0) for step, values in zip(STEPS, TABLE)
        ],
        blocks=[
            Block("r", 0, STEPS, TABLE[:, :2], np.zeros(3)),
            Block("regret_upper_bound", BOUND_SEED, STEPS, np.ones((3, 1)), np.zeros(3)),
        ],
    )
    store.close()
    db = str(tmp_path / "a.db")
    assert cli.main(["export", str(run_id), "--db", db, "--aggregate", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == [
        "step",
        "metric",
        "n",
        "mean",
        "lo",
        "hi",
        "min",
        "q05",
        "q25",
        "q50",
        "q75",
        "q95",
        "max",
    ]
    assert [(r["step"], r["metric"], r["n"]) for r in rows] == [
        ("1", "r", "5"),
        ("2", "r", "4"),
        ("3", "r", "5"),
    ]
    # step 1: 0.5, 1, 2, 4, 8 -> mean 3.1, var 37.2 / 4 = 9.3 (by hand), t(0.975, 4) = 2.776445
    first = {k: float(v) for k, v in rows[0].items() if k != "metric"}
    half = 2.776445 * math.sqrt(9.3 / 5)
    assert first["mean"] == pytest.approx(3.1) and first["lo"] == pytest.approx(
        3.1 - half, rel=1e-12
    )
    assert first["hi"] == pytest.approx(3.1 + half, rel=1e-12)
    assert (first["min"], first["q25"], first["q50"], first["q75"], first["max"]) == (
        0.5,
        1.0,
        2.0,
        4.0,
        8.0,
    )
    assert first["q05"] == pytest.approx(0.6) and first["q95"] == pytest.approx(7.2)
    # step 3: 2, 2, 2, 5, -1 -> mean 2, var 4.5
    third = {k: float(v) for k, v in rows[2].items() if k != "metric"}
    assert third["lo"] == pytest.approx(2 - 2.776445 * math.sqrt(4.5 / 5), rel=1e-12)
    # the per-seed form stays, for the kept seeds
    assert cli.main(["export", str(run_id), "--db", db, "--format", "csv"]) == 0
    per_seed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted({r["seed"] for r in per_seed if r["metric"] == "r"}) == ["0", "1"]
    assert cli.main(["export", str(run_id), "--db", db, "--aggregate", "--format", "json"]) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    assert [a["n"] for a in doc["aggregates"]] == [5, 4, 5] and doc["aggregates"][1][
        "q50"
    ] == pytest.approx(0.625)
    assert cli.main(["export", str(run_id), "--db", db, "--aggregate", "--table", "pareto"]) == 2
    assert "does not go with --table pareto" in capsys.readouterr().err


@pytest.mark.parametrize("count", [1, 63, 64, 65, 130])
def test_aggregate_rows_go_many_to_a_statement_in_their_order(tmp_path, count):
    """A batch's aggregate rows are inserted AGGREGATE_ROWS_PER_INSERT to a statement (each
    statement lets the GIL go once, not each row): every row comes back, in order, with its
    values, whatever the remainder."""
    from engine.store import AGGREGATE_ROWS_PER_INSERT

    store, run_id = _store(tmp_path)
    rows = [
        ("m", step, 3, step + 0.5, 1.25, -1.0, 2.0 * step, 0.1, 0.2, 0.3, 0.4, None, 0.01 * step)
        for step in range(1, count + 1)
    ]
    inserts = []
    store.conn.set_trace_callback(
        lambda sql: inserts.append(sql) if sql.startswith("INSERT INTO series_aggregates") else None
    )
    store.append(run_id, aggregate_rows=rows)
    store.conn.set_trace_callback(None)
    assert len(inserts) == -(-count // AGGREGATE_ROWS_PER_INSERT)
    got, _ = store.aggregates_since(run_id)
    assert got == rows
