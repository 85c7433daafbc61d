"""Series as packed blocks: the recorder's packing, the store's reads, damaged blocks."""

import numpy as np
import pytest
import torch

from engine.blocks import Block, BlockError, columns, from_rows
from engine.registry import Catalogue
from engine.runner import Recorder
from engine.spec import RunSpec
from engine.store import BOUND_SEED, Store, StoreError

SPEC = """
[run]
seeds = 3
steps = 10
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.3, 0.6]
"""


def _store(tmp_path):
    store = Store(tmp_path / "b.db")
    run_id = store.create_run(
        RunSpec.from_toml(SPEC, Catalogue.live()), family="bandits", plot="regret"
    )
    return store, run_id


def test_block_round_trip_keeps_every_value_bit_for_bit():
    values = np.array([[1.5, np.nan, np.inf], [-0.0, 1e-300, -np.inf]])
    block = Block("m", 4, np.array([3, 7]), values, np.array([0.25, 0.5]))
    back = Block.decode(*block.encode())
    assert back.steps.tolist() == [3, 7] and back.seeds().tolist() == [4, 5, 6]
    assert back.values.tobytes() == values.tobytes() and back.wall_times.tolist() == [0.25, 0.5]
    rows = back.rows()
    assert [rows[0], rows[2], rows[5]] == [
        ("m", 3, 4, 1.5, 0.25),
        ("m", 3, 6, np.inf, 0.25),
        ("m", 7, 6, -np.inf, 0.5),
    ]
    assert rows[1][:3] == ("m", 3, 5) and np.isnan(rows[1][3])


def test_a_block_whose_arrays_disagree_is_refused():
    metric, seed0, width, n, steps, values, wall = Block(
        "m", 0, np.arange(4), np.ones((4, 2)), np.zeros(4)
    ).encode()
    with pytest.raises(BlockError, match="4 steps x 2 seeds but 32, 56 and 32 bytes"):
        Block.decode(metric, seed0, width, n, steps, values[:-8], wall)


def test_a_damaged_block_in_a_store_gives_a_store_error(tmp_path):
    store, run_id = _store(tmp_path)
    store.append(run_id, [("m", 1, 0, 1.0, 0.0)])
    store.conn.execute("UPDATE series_blocks SET n = 5")
    with pytest.raises(StoreError, match="series block of 'm' is damaged"):
        store.series(run_id, "m")


def test_rows_become_one_block_per_metric_and_seed_and_columns_expand_them_back():
    rows = [
        ("a", 1, 0, 1.0, 0.1),
        ("a", 1, 1, 2.0, 0.1),
        ("b", 1, -1, None, 0.0),
        ("a", 2, 0, 3.0, 0.2),
    ]
    blocks = from_rows(rows)
    assert [(b.metric, b.seed0, b.steps.tolist()) for b in blocks] == [
        ("a", 0, [1, 2]),
        ("a", 1, [1]),
        ("b", -1, [1]),
    ]
    metrics, index, steps, seeds, values, wall = columns(blocks)
    assert metrics == ["a", "b"] and index.tolist() == [0, 0, 0, 1]
    assert steps.tolist() == [1, 2, 1, 1] and seeds.tolist() == [0, 0, 1, -1]
    assert values[:3].tolist() == [1.0, 3.0, 2.0] and np.isnan(values[3])
    assert wall.tolist() == [0.1, 0.2, 0.1, 0.0]


def test_the_recorder_writes_one_block_per_metric_per_flush_and_copies_what_it_is_given(tmp_path):
    store, run_id = _store(tmp_path)
    rec = Recorder(store, run_id, steps=10)
    regret = torch.zeros(3, dtype=torch.float64)
    for step in range(1, 5):
        regret += step  # in place, as the algorithms do: the recorder must keep each step's values
        rec.metrics(step, {"cumulative_regret": regret, "arms": 2})
    rec.bound("ucb1_bound", [1, 2, 4], torch.tensor([1.0, float("inf"), 3.0]))
    rec.flush()
    assert store.conn.execute("SELECT count(*) FROM series_blocks").fetchone()[0] == 3
    per_seed = store.series(run_id, "cumulative_regret")
    assert sorted(per_seed) == [0, 1, 2]
    assert per_seed[2][0].tolist() == [1, 2, 3, 4] and per_seed[2][1].tolist() == [1, 3, 6, 10]
    arms = store.series(run_id, "arms")
    assert sorted(arms) == [0] and arms[0][1].tolist() == [2.0] * 4  # a scalar is one value, seed 0
    steps, bound = store.series(run_id, "ucb1_bound")[BOUND_SEED]
    assert (
        steps.tolist() == [1, 2, 4] and bound[0] == 1.0 and np.isnan(bound[1]) and bound[2] == 3.0
    )


def test_blocks_since_reads_whole_blocks_up_to_a_value_limit_and_resumes(tmp_path):
    store, run_id = _store(tmp_path)
    for first in (1, 4, 7):
        store.append(
            run_id,
            blocks=[Block("m", 0, np.arange(first, first + 3), np.ones((3, 3)), np.zeros(3))],
        )
    blocks, cursor = store.blocks_since(
        run_id, 0, max_values=10
    )  # 9 values, then the block reaching 18
    assert [b.steps[0] for b in blocks] == [1, 4]
    rest, end = store.blocks_since(run_id, cursor)
    assert [b.steps[0] for b in rest] == [7] and store.blocks_since(run_id, end) == ([], end)
    snapshot, top = store.blocks_snapshot(run_id)
    assert len(snapshot) == 3 and top == end


def test_series_splits_many_seeds_from_several_blocks_by_seed_in_step_order(tmp_path):
    """Three flushes of 500 seeds plus a bound: each seed gets its own steps ascending with
    its own values (seed s at step t holds 1000 t + s), and the bound keeps seed -1."""
    store, run_id = _store(tmp_path)
    seeds = 500
    for first in (1, 4, 7):
        steps = np.arange(first, first + 3)
        store.append(
            run_id,
            blocks=[
                Block(
                    "m", 0, steps, 1000.0 * steps[:, None] + np.arange(seeds)[None, :], np.zeros(3)
                )
            ],
        )
    store.append(
        run_id, blocks=[Block("m", BOUND_SEED, np.array([9]), np.array([[5.0]]), np.zeros(1))]
    )
    per_seed = store.series(run_id, "m")
    assert sorted(per_seed) == [BOUND_SEED, *range(seeds)]
    for seed in (0, 1, 257, seeds - 1):
        steps, values = per_seed[seed]
        assert steps.tolist() == list(range(1, 10))
        assert values.tolist() == [1000.0 * t + seed for t in range(1, 10)]
    assert per_seed[BOUND_SEED][0].tolist() == [9] and per_seed[BOUND_SEED][1].tolist() == [5.0]
