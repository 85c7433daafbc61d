"""The store's sweep tables (schema 6): the migration from schema 5, the read methods the
studio uses, the queue's order, cancelling and queueing again, the scheduler's lock."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
import sqlite_utils

from engine import store as store_mod
from engine import sweep, sweep_store
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import SCHEMA_VERSION, Store

SPEC = """
[run]
seeds = 2
steps = 20
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
"""


def _schema_5_store(path):
    """A store exactly as the schema-5 code makes it (its five migrations), with one run."""
    db = sqlite_utils.Database(path)
    for step in store_mod.MIGRATIONS[:5]:
        step(db)
    db["meta"].insert({"key": "schema_version", "value": "5"})
    db.conn.commit()
    db.conn.close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO runs(id, name, status, algorithm, problem, seeds, steps, steps_done, spec_toml, "
        "created_at, tags, notes) VALUES (1, 'old', 'finished', 'bandits.ucb1', 'bandits.bernoulli', "
        "2, 10, 10, '[run]', 1000.0, '[]', '')"
    )
    conn.commit()
    conn.close()


def test_migration_from_schema_5_adds_the_sweep_tables_and_keeps_the_runs(tmp_path):
    path = tmp_path / "v5.db"
    _schema_5_store(path)
    s = Store(path)
    assert s.schema_version() == SCHEMA_VERSION == 6
    assert s.get_run(1)["name"] == "old" and s.get_run(1)["status"] == "finished"
    columns = {
        table: [(r[1], r[2], r[3], r[5]) for r in s.conn.execute(f"PRAGMA table_info({table})")]
        for table in ("sweeps", "sweep_points")
    }
    assert columns["sweeps"] == [
        ("id", "INTEGER", 0, 1),
        ("name", "TEXT", 0, 0),
        ("spec_toml", "TEXT", 1, 0),
        ("keys_json", "TEXT", 1, 0),
        ("log_keys_json", "TEXT", 1, 0),
        ("created_at", "REAL", 1, 0),
        ("status", "TEXT", 1, 0),
    ]
    assert columns["sweep_points"] == [
        ("sweep_id", "INTEGER", 1, 1),
        ("idx", "INTEGER", 1, 2),
        ("values_json", "TEXT", 1, 0),
        ("spec_json", "TEXT", 1, 0),
        ("run_id", "INTEGER", 0, 0),
        ("status", "TEXT", 1, 0),
        ("priority", "INTEGER", 1, 0),
    ]
    assert s.sweeps() == [] and s.sweep_of_run(1) is None
    assert s.integrity_check() == "ok"
    s.close()
    assert Store(path).schema_version() == 6  # opening again migrates nothing


def _sweep(text_tail: str, name: str = ""):
    text = SPEC.replace("[run]\n", f'[run]\nname = "{name}"\n' if name else "[run]\n") + text_tail
    return sweep.from_toml(text, Catalogue.live(), "s.toml")


def test_read_methods_queue_order_cancel_and_requeue(tmp_path):
    s = Store(tmp_path / "a.db")
    first = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [0.1, 1.0, 10.0]\n'))
    second = s.create_sweep(
        _sweep('[sweep.grid]\n"run.seeds" = [1, 3]\n', name="urgent"), priority=5
    )
    listed = s.sweeps()
    assert [r["id"] for r in listed] == [second, first]  # newest first
    assert listed[1] | {"created_at": 0} == {
        "id": first,
        "name": f"sweep {first}",
        "created_at": 0,
        "status": "queued",
        "keys": ["algorithm.c"],
        "log_keys": ["algorithm.c"],
        "points": 3,
        "finished": 0,
    }
    assert listed[0]["name"] == "urgent" and listed[0]["log_keys"] == []
    detail = s.sweep(first)
    assert [p["values"] for p in detail["points"]] == [
        {"algorithm.c": 0.1},
        {"algorithm.c": 1.0},
        {"algorithm.c": 10.0},
    ]
    assert {p["status"] for p in detail["points"]} == {"queued"}
    assert detail["points"][0] == {
        "idx": 0,
        "values": {"algorithm.c": 0.1},
        "run_id": None,
        "status": "queued",
        "priority": 0,
    }
    assert "algorithm.c" in detail["spec_toml"]
    with pytest.raises(KeyError):
        s.sweep(99)

    # higher priority first, then sweep order, then index
    order = [sweep_store.claim_next(s.conn) for _ in range(3)]
    assert [(p["sweep_id"], p["idx"]) for p in order] == [(second, 0), (second, 1), (first, 0)]
    spec = RunSpec.from_dict(order[2]["spec"], Catalogue.live())
    assert spec.algorithm_params["c"] == 0.1
    run_id = s.create_run(spec, family="bandits", plot="regret")
    sweep_store.set_point_run(s.conn, first, 0, run_id)
    assert s.sweep_of_run(run_id) == first
    sweep_store.finish_point(s.conn, first, 0, "finished")
    # one finished, two queued: stored running, shown queued while no scheduler serves
    assert s.sweep(first)["status"] == "queued"
    assert (
        s.conn.execute("SELECT status FROM sweeps WHERE id=?", (first,)).fetchone()[0] == "running"
    )

    marked = s.cancel_sweep(first)
    assert [(m[0], m[1]) for m in marked] == [(first, 1), (first, 2)]
    assert s.sweep(first)["status"] == "cancelled"
    assert s.sweeps()[1]["finished"] == 1
    assert sweep_store.requeue(s.conn, first, stale_running=True) == [1, 2]
    assert [p["status"] for p in s.sweep(first)["points"]] == ["finished", "queued", "queued"]
    # points left running with no live scheduler are shown interrupted
    assert [p["status"] for p in s.sweep(second)["points"]] == ["interrupted", "interrupted"]

    # deleting a point's run leaves the point with no run
    s.conn.execute("UPDATE runs SET status='finished' WHERE id=?", (run_id,))
    s.delete_runs([run_id])
    assert s.sweep(first)["points"][0]["run_id"] is None


def test_one_scheduler_lock_per_store(tmp_path):
    path = tmp_path / "a.db"
    s = Store(path)
    assert sweep_store.acquire_lock(s.conn) and sweep_store.acquire_lock(s.conn)
    assert sweep_store.scheduler(s.conn)["pid"] == os.getpid()
    code = (
        "import sys; from engine.store import Store; from engine import sweep_store; "
        f"print(sweep_store.acquire_lock(Store({str(path)!r}).conn))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert other.stdout.strip() == "False", other.stderr  # this process is alive and holds it
    sweep_store.release_lock(s.conn)
    # a lock left by a process that is gone is free
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert dead.stdout.strip() == "True", dead.stderr
    assert sweep_store.scheduler(s.conn) is None  # its holder exited
    assert sweep_store.acquire_lock(s.conn)
    assert (
        json.loads(s.conn.execute("SELECT value FROM meta WHERE key='scheduler'").fetchone()[0])[
            "pid"
        ]
        == os.getpid()
    )
