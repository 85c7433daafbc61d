"""The store: schema and migrations, concurrent writers and readers, a killed engine."""

import json
import signal
import sqlite3
import subprocess
import time

import numpy as np
import pytest
import sqlite_utils

from engine import store as store_mod
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import SCHEMA_VERSION, Store, StoreError
from tests.helpers import ROOT, engine_command, write_spec

LONG = """
[run]
seeds = 2
steps = 2000000
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.3, 0.6]
[hardware]
device = "cpu"
threads = 1
"""


def _spec(steps=100):
    return RunSpec.from_toml(LONG.replace("2000000", str(steps)), Catalogue.live())


def test_new_store_is_wal_and_current(tmp_path):
    s = Store(tmp_path / "a.db")
    assert s.schema_version() == SCHEMA_VERSION
    assert s.db.journal_mode == "wal"
    assert {"runs", "series_blocks", "pareto_points", "heartbeats", "meta"} <= set(
        s.db.table_names()
    )
    assert "series" not in s.db.table_names()  # the row-per-value table of version 2 and before


def test_migration_from_an_empty_file_and_refusal_of_a_newer_schema(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # version 0: an empty database
    assert Store(path).schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store(path)


def test_not_a_database_is_refused_clearly(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(
        StoreError, match="junk.db: is not a Tradeoff Studio store \\(not an SQLite database\\)"
    ):
        Store(path)
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_default_path_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEOFF_STUDIO_DB", str(tmp_path / "env.db"))
    assert store_mod.default_path() == tmp_path / "env.db"
    monkeypatch.delenv("TRADEOFF_STUDIO_DB")
    assert store_mod.default_path().name == "runs.db"


def test_batched_append_and_cursor_reads(tmp_path):
    s = Store(tmp_path / "a.db")
    run_id = s.create_run(_spec(), family="bandits", plot="regret")
    s.append(run_id, [("m", 1, 0, 1.0, 0.1), ("m", 1, 1, 3.0, 0.1)])
    rows, cursor = s.series_since(run_id, 0)
    assert [r[:4] for r in rows] == [("m", 1, 0, 1.0), ("m", 1, 1, 3.0)]
    s.append(
        run_id,
        [("m", 2, 0, float("nan"), 0.2), ("m", 2, 1, float("inf"), 0.2)],
        [(2, 0, 0, [1.0, 2.0], {"weight": 0.5})],
    )
    rows, cursor2 = s.series_since(run_id, cursor)
    assert len(rows) == 2 and cursor2 > cursor
    assert rows[0][3] != rows[0][3]  # NaN survives the round trip (SQLite stores it as NULL)
    assert rows[1][3] == float("inf")
    assert s.series_since(run_id, cursor2) == ([], cursor2)
    points, _ = s.pareto_since(run_id)
    assert points == [
        {"step": 2, "seed": 0, "point": 0, "objectives": [1.0, 2.0], "label": {"weight": 0.5}}
    ]


def test_heartbeat_staleness_marks_a_run_of_another_host_interrupted(tmp_path):
    s = Store(tmp_path / "a.db")
    run_id = s.create_run(_spec(), family="bandits", plot="regret")
    s.start_run(run_id, {"device": "cpu"})
    s.conn.execute("UPDATE runs SET host='elsewhere' WHERE id=?", (run_id,))
    beat = s.get_run(run_id)["beat_at"]
    # Its process cannot be checked from here, so only the heartbeat's age decides.
    assert s.get_run(run_id, now=beat + store_mod.STALE_AFTER_SECONDS - 1)["status"] == "running"
    assert (
        s.get_run(run_id, now=beat + store_mod.STALE_AFTER_SECONDS + 1)["status"] == "interrupted"
    )
    assert s.reap_stale(now=beat + 100) == [run_id]
    run = s.get_run(run_id)
    assert run["stored_status"] == "interrupted" and run["finished_at"] == beat
    assert "host elsewhere" in run["error"] and "by time alone" in run["error"]


def _start_engine(spec_path, db):
    return subprocess.Popen(
        engine_command("run", spec_path, "--db", db, "--quiet"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_rows(db, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if (
                        conn.execute(
                            "SELECT coalesce(sum(n * width), 0) FROM series_blocks"
                        ).fetchone()[0]
                        >= n
                    ):
                        return
            except sqlite3.OperationalError:
                pass  # the engine is still creating the schema
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} series rows after {timeout} s")


def test_engine_killed_mid_run_leaves_a_consistent_store(tmp_path):
    db = tmp_path / "k.db"
    proc = _start_engine(write_spec(tmp_path / "long.toml", LONG), db)
    try:
        _wait_for_rows(db, 200)
        reader = Store(db)
        seen, cursor = reader.series_since(1, 0)
        assert reader.get_run(1)["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert reader.integrity_check() == "ok"
    after, _ = reader.series_since(1, 0)
    assert after[: len(seen)] == seen  # every record read before the kill is still there
    run = reader.get_run(1)
    assert run["stored_status"] == "running" and run["status"] == "interrupted"
    assert reader.reap_stale() == [1]
    assert reader.get_run(1)["stored_status"] == "interrupted"


def test_two_engines_write_while_a_reader_polls(tmp_path):
    db = tmp_path / "c.db"
    spec = write_spec(tmp_path / "mid.toml", LONG.replace("2000000", "20000"))
    procs = [_start_engine(spec, db) for _ in range(2)]
    _wait_for_rows(db, 1)
    reader = Store(db)
    cursors = {1: 0, 2: 0}
    counts = {1: 0, 2: 0}
    while any(p.poll() is None for p in procs):
        for run_id in cursors:
            rows, new = reader.series_since(run_id, cursors[run_id])
            assert new >= cursors[run_id]
            cursors[run_id] = new
            counts[run_id] += len(rows)
        time.sleep(0.02)
    for p in procs:
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "locked" not in err
    for run_id in cursors:
        rows, _ = reader.series_since(run_id, cursors[run_id])
        counts[run_id] += len(rows)
        total = reader.conn.execute(
            "SELECT sum(n * width) FROM series_blocks WHERE run_id=?", (run_id,)
        ).fetchone()[0]
        assert counts[run_id] == total  # cursor reads saw every row exactly once
        assert reader.get_run(run_id)["status"] == "finished"


def _version_1_store(path):
    """A store exactly as schema version 1 left it: the first migration only, one run with data."""
    db = sqlite_utils.Database(path)
    store_mod.MIGRATIONS[0](db)
    db["meta"].insert({"key": "schema_version", "value": "1"})
    db["runs"].insert(
        {
            "id": 1,
            "name": "old",
            "status": "finished",
            "algorithm": "bandits.ucb1",
            "problem": "bandits.bernoulli",
            "family": "bandits",
            "plot": "regret",
            "seeds": 2,
            "steps": 10,
            "steps_done": 10,
            "spec_toml": "[run]\nsteps = 10\n",
            "spec_json": "{}",
            "created_at": 1000.0,
            "finished_at": 1010.0,
        }
    )
    db["series"].insert_all(
        [
            {
                "run_id": 1,
                "metric": "cumulative_regret",
                "step": s,
                "seed": seed,
                "value": 0.5 * s + seed,
                "wall_time": 0.1 * s,
            }
            for s in range(1, 11)
            for seed in (0, 1)
        ]
    )
    db["series"].insert_all(
        [
            {
                "run_id": 1,
                "metric": "ucb_bound",
                "step": 5,
                "seed": -1,
                "value": None,
                "wall_time": 0.0,
            },
            {
                "run_id": 1,
                "metric": "ucb_bound",
                "step": 10,
                "seed": -1,
                "value": 7.5,
                "wall_time": 0.0,
            },
        ]
    )
    db["pareto_points"].insert(
        {"run_id": 1, "step": 10, "seed": 0, "point": 0, "objectives": "[1.0, 2.0]", "label": "{}"}
    )
    db.conn.close()


def test_a_version_1_store_is_migrated_to_the_current_version_with_its_data_intact(tmp_path):
    """Migration 1 -> 2 adds tags (empty JSON list) and notes (empty text); 2 -> 3 packs the
    series rows into blocks (a NULL value becomes NaN); 3 -> 4 adds the engine's start time
    (NULL: unknown); 4 -> 5 computes the aggregates over seeds; 5 -> 6 adds the (empty)
    sweep tables; every value is kept."""
    path = tmp_path / "v1.db"
    _version_1_store(path)
    s = Store(path)
    assert s.schema_version() == 6 == SCHEMA_VERSION
    run = s.get_run(1)
    assert (run["name"], run["status"], run["steps_done"], run["finished_at"]) == (
        "old",
        "finished",
        10,
        1010.0,
    )
    assert run["tags"] == "[]" and run["notes"] == ""
    regret = s.series(1, "cumulative_regret")
    assert regret[0][1].tolist() == [0.5 * k for k in range(1, 11)]
    assert regret[1][1].tolist() == [0.5 * k + 1 for k in range(1, 11)]
    assert regret[1][0].tolist() == list(range(1, 11))
    bound_steps, bound = s.series(1, "ucb_bound")[-1]
    assert bound_steps.tolist() == [5, 10] and np.isnan(bound[0]) and bound[1] == 7.5
    assert s.metrics_of(1) == ["cumulative_regret", "ucb_bound"]
    assert s.pareto_since(1)[0][0]["objectives"] == [1.0, 2.0]
    assert "series" not in s.db.table_names()
    assert s.integrity_check() == "ok"
    s.close()
    assert run["pid_start"] is None  # 3 -> 4: the engine's start time, unknown for old runs
    assert Store(path).schema_version() == 6  # opening again migrates nothing
    aggregates = Store(path).aggregate_arrays(1, "cumulative_regret")  # 4 -> 5: seeds 0 and 1
    assert (
        aggregates["step"].tolist() == list(range(1, 11)) and aggregates["n"].tolist() == [2] * 10
    )
    assert aggregates["mean"].tolist() == [0.5 * k + 0.5 for k in range(1, 11)]
    assert aggregates["var"].tolist() == [0.5] * 10


def test_tags_notes_and_their_refusals(tmp_path):
    s = Store(tmp_path / "a.db")
    run_id = s.create_run(_spec(), family="bandits", plot="regret")
    assert s.set_tags(run_id, add=["baseline", " c=2 ", "baseline"]) == ["baseline", "c=2"]
    assert s.set_tags(run_id, add=["paper"], remove=["baseline"]) == ["c=2", "paper"]
    assert json.loads(s.get_run(run_id)["tags"]) == ["c=2", "paper"]
    for bad, reason in (("", "must not be empty"), ("a,b", "comma"), ("x" * 65, "longer than 64")):
        with pytest.raises(StoreError, match=reason):
            s.set_tags(run_id, add=[bad])
    with pytest.raises(StoreError, match="no run 99"):
        s.set_tags(99, add=["x"])
    s.set_notes(run_id, "first try;\nsecond line")
    assert s.get_run(run_id)["notes"] == "first try;\nsecond line"
    with pytest.raises(StoreError, match="no run 99"):
        s.set_notes(99, "x")


def test_delete_removes_every_record_of_a_run_and_refuses_a_live_one(tmp_path):
    s = Store(tmp_path / "a.db")
    keep, gone, live = (s.create_run(_spec(), family="bandits", plot="regret") for _ in range(3))
    for run_id in (keep, gone, live):
        s.start_run(run_id, {"device": "cpu"})
        s.append(run_id, [("m", 1, 0, 1.0, 0.1)], [(1, 0, 0, [1.0, 2.0], {})])
    s.finish_run(keep, "finished")
    s.finish_run(gone, "finished")
    with pytest.raises(StoreError, match=f"run {live} is still running"):
        s.delete_runs([gone, live])  # our own pid is alive, and the heartbeat is fresh
    assert s.get_run(gone) is not None  # refused as a whole: nothing deleted
    with pytest.raises(StoreError, match="no run 42"):
        s.delete_runs([gone, 42])
    s.delete_runs([gone])
    counts = {
        t: s.conn.execute(f"SELECT count(*) FROM {t} WHERE {c}=?", (gone,)).fetchone()[0]
        for t, c in (
            ("runs", "id"),
            ("series_blocks", "run_id"),
            ("pareto_points", "run_id"),
            ("heartbeats", "run_id"),
        )
    }
    assert counts == {"runs": 0, "series_blocks": 0, "pareto_points": 0, "heartbeats": 0}
    assert s.series_since(keep)[0] and s.pareto_since(keep)[0]  # the other runs keep theirs
    # Its pid now belongs to a process that started at another time: the engine is gone.
    s.conn.execute("UPDATE runs SET pid_start='another boot:1' WHERE id=?", (live,))
    s.delete_runs([live])
    assert [r["id"] for r in s.list_runs()] == [keep]


def test_run_states_and_data_version_see_another_connections_writes(tmp_path):
    s = Store(tmp_path / "a.db")
    reader = Store(tmp_path / "a.db")
    before = reader.data_version()
    run_id = s.create_run(_spec(), family="bandits", plot="regret")
    assert reader.data_version() != before
    state = reader.run_states()
    assert [(r["id"], r["status"], r["steps_done"], r["tags"]) for r in state] == [
        (run_id, "queued", 0, "[]")
    ]
    assert "spec_toml" not in state[0]


def test_series_arrays_give_every_row_of_one_metric_in_step_order(tmp_path):
    s = Store(tmp_path / "a.db")
    run_id = s.create_run(_spec(), family="bandits", plot="regret")
    s.append(
        run_id,
        [
            ("m", 2, 1, 4.0, 0.0),
            ("m", 1, 0, 1.0, 0.0),
            ("m", 2, 0, float("nan"), 0.0),
            ("bound", 1, -1, 9.0, 0.0),
            ("m", 1, 1, 2.0, 0.0),
        ],
    )
    steps, seeds, values = s.series_arrays(run_id, "m")
    assert steps.tolist() == [1, 1, 2, 2] and seeds.tolist() == [0, 1, 0, 1]
    assert values[[0, 1, 3]].tolist() == [1.0, 2.0, 4.0] and np.isnan(values[2])
    assert [a.tolist() for a in s.series_arrays(run_id, "absent")] == [[], [], []]
