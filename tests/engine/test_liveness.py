"""Liveness: a paused engine is alive, a gone one is interrupted with what is known, and an
engine whose run was deleted or marked ended stops without writing anything more."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from engine import cli
from engine import store as store_mod
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import RunLost, Store, StoreError
from tests.helpers import ROOT, engine_command, write_spec

SPEC = """
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
STALE = store_mod.STALE_AFTER_SECONDS


def _clock(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "a.db")
    yield s
    s.close()


def _started(store, steps_done=0):
    """A run started by this (alive) process, as the engine starts one."""
    spec = RunSpec.from_toml(SPEC.replace("2000000", "100"), Catalogue.live())
    run_id = store.create_run(spec, family="bandits", plot="regret")
    store.start_run(run_id, {"device": "cpu"})
    if steps_done:
        store.heartbeat(run_id, steps_done)
    return run_id, store.get_run(run_id)["beat_at"]


def _set(store, run_id, **columns):
    for column, value in columns.items():
        store.conn.execute(f"UPDATE runs SET {column}=? WHERE id=?", (value, run_id))


def _exited_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not os.path.exists(f"/proc/{child.pid}")  # reaped; not reused in these few microseconds
    return child.pid


# -- the verdicts ------------------------------------------------------------------------
def test_a_live_process_with_a_stale_heartbeat_is_paused_not_interrupted(store):
    run_id, beat = _started(store, steps_done=40)
    row = store.get_run(run_id)
    assert row["pid"] == os.getpid() and row["pid_start"] == store_mod.process_start(os.getpid())
    late = beat + 10 * STALE
    row = store.get_run(run_id, now=late)
    assert (row["status"], row["error"]) == ("running", None)
    assert row["engine_note"] == (
        f"no heartbeat since {_clock(beat)}, but its engine process "
        f"(pid {os.getpid()}) is alive: paused or busy"
    )
    assert (
        store.get_run(run_id, now=beat + 1)["engine_note"] is None
    )  # a fresh heartbeat: nothing to say
    assert store.reap_stale(now=late) == []
    with pytest.raises(StoreError) as refused:
        store.delete_runs([run_id], now=late)
    assert str(refused.value) == (
        f"run {run_id} is still running: no heartbeat since {_clock(beat)}, but its "
        f"engine process (pid {os.getpid()}) is alive: paused or busy; stop it first; "
        "nothing deleted"
    )
    assert store.get_run(run_id)["stored_status"] == "running"


def test_an_ended_process_is_interrupted_with_its_last_heartbeat(store):
    run_id, beat = _started(store, steps_done=40)
    pid = _exited_pid()
    _set(store, run_id, pid=pid)
    # Even with a fresh heartbeat: the process is gone.
    row = store.get_run(run_id, now=beat + 1)
    reason = (
        f"the engine process (pid {pid}) ended without finishing (killed or crashed); "
        f"last heartbeat at {_clock(beat)} (step 40)"
    )
    assert (row["status"], row["stored_status"], row["error"], row["finished_at"]) == (
        "interrupted",
        "running",
        reason,
        beat,
    )
    assert store.reap_stale() == [run_id]
    row = store.get_run(run_id)
    assert (row["stored_status"], row["error"], row["finished_at"]) == ("interrupted", reason, beat)
    assert store.reap_stale() == []  # once


def test_a_reused_pid_is_not_taken_for_the_engine(store):
    """This process's pid, but a start time of another boot: the engine's process is gone."""
    run_id, beat = _started(store)
    _set(
        store,
        run_id,
        pid_start="another-boot:" + store_mod.process_start(os.getpid()).split(":")[1],
    )
    row = store.get_run(run_id, now=beat + 1)
    assert row["status"] == "interrupted"
    assert row["error"].startswith(
        f"the engine process (pid {os.getpid()}) ended without finishing"
    )


def test_a_zombie_engine_has_ended(store):
    run_id, beat = _started(store)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while store_mod._proc_stat(child.pid)[0] != "Z":  # exited, not yet waited for
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _set(store, run_id, pid=child.pid, pid_start=store_mod.process_start(child.pid))
        assert store.get_run(run_id, now=beat + 1)["status"] == "interrupted"
    finally:
        child.wait()


def test_without_proc_a_live_pid_is_judged_by_time(store, monkeypatch):
    """macOS has no /proc: a dead pid has ended; a live one may have been reused, so a stale
    heartbeat is all there is to go on. The same holds for a run recorded before start times."""
    run_id, beat = _started(store, steps_done=7)
    for setup in ("no /proc", "no start time"):
        with monkeypatch.context() as patch:
            if setup == "no /proc":
                patch.setattr(store_mod, "_proc_available", lambda: False)
            else:
                _set(store, run_id, pid_start=None)
            assert store.get_run(run_id, now=beat + STALE - 1)["status"] == "running"
            row = store.get_run(run_id, now=beat + STALE + 1)
            assert row["status"] == "interrupted", setup
            assert row["error"] == (
                f"no heartbeat since {_clock(beat)} (over {STALE:.0f} s) from the engine process "
                f"(pid {os.getpid()}); this system cannot tell whether that pid is still the "
                f"engine, so it is taken for ended by time alone; last heartbeat at {_clock(beat)}"
                " (step 7)"
            )
    monkeypatch.setattr(store_mod, "_proc_available", lambda: False)
    _set(store, run_id, pid=_exited_pid())
    assert store.get_run(run_id, now=beat + 1)["error"].endswith(
        f"ended without finishing (killed or crashed); last heartbeat at {_clock(beat)} (step 7)"
    )


# -- the engine writes only while the run is its own -------------------------------------
def _counts(conn, run_id):
    return {
        t: conn.execute(f"SELECT count(*) FROM {t} WHERE {c}=?", (run_id,)).fetchone()[0]
        for t, c in (
            ("runs", "id"),
            ("series_blocks", "run_id"),
            ("pareto_points", "run_id"),
            ("heartbeats", "run_id"),
        )
    }


def test_no_write_reaches_a_deleted_run(store, tmp_path):
    run_id, _ = _started(store)
    other = Store(tmp_path / "a.db")
    for table, column in (("heartbeats", "run_id"), ("runs", "id")):
        other.conn.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))
    writes = [
        lambda: store.append(
            run_id, [("m", 1, 0, 1.0, 0.1)], [(1, 0, 0, [1.0, 2.0], {})], steps_done=1
        ),
        lambda: store.heartbeat(run_id, 5),
        lambda: store.set_objectives(run_id, ["a", "b"], ["min", "min"], [1.0, 1.0]),
        lambda: store.start_run(run_id, {"device": "cpu"}),
        lambda: store.finish_run(run_id, "finished"),
    ]
    for write in writes:
        with pytest.raises(
            RunLost,
            match=f"^run {run_id} was deleted from the store while its engine ran; "
            "the engine stopped, writing nothing more$",
        ) as lost:
            write()
        assert lost.value.run_id == run_id
    assert _counts(other.conn, run_id) == {
        "runs": 0,
        "series_blocks": 0,
        "pareto_points": 0,
        "heartbeats": 0,
    }


def test_an_engine_does_not_overwrite_a_run_marked_interrupted(store, tmp_path):
    """Another process marked the run interrupted (by time alone, from another host): the
    engine, resumed, must not turn it into "finished", nor add records."""
    run_id, beat = _started(store, steps_done=3)
    other = Store(tmp_path / "a.db")
    other.conn.execute(
        "UPDATE runs SET status='interrupted', error='judged by time', finished_at=? WHERE id=?",
        (beat, run_id),
    )
    with pytest.raises(
        RunLost,
        match=f"^run {run_id} was marked interrupted by another process while its engine "
        "ran .*paused, suspended or busy.*the run stays interrupted$",
    ):
        store.finish_run(run_id, "finished")
    with pytest.raises(RunLost):
        store.append(run_id, [("m", 1, 0, 1.0, 0.1)])
    row = other.get_run(run_id)
    assert (row["status"], row["error"], row["finished_at"], row["steps_done"]) == (
        "interrupted",
        "judged by time",
        beat,
        3,
    )
    assert _counts(other.conn, run_id)["series_blocks"] == 0


def test_a_run_taken_over_by_another_pid_is_not_written(store):
    run_id, _ = _started(store)
    _set(store, run_id, pid=os.getpid() + 1)
    with pytest.raises(
        RunLost, match=f"belongs to another engine process \\(pid {os.getpid() + 1}\\)"
    ):
        store.heartbeat(run_id, 1)
    _set(store, run_id, pid=os.getpid())  # its own again
    store.heartbeat(run_id, 2)
    assert store.get_run(run_id)["steps_done"] == 2


# -- what `tradeoff show` says --------------------------------------------------------
def test_show_of_an_interrupted_run_says_what_is_known(store, capsys):
    run_id, beat = _started(store, steps_done=40)
    pid = _exited_pid()
    _set(store, run_id, pid=pid)
    assert cli.main(["show", str(run_id), "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        f"interrupted: the engine process (pid {pid}) ended without finishing "
        f"(killed or crashed); last heartbeat at {_clock(beat)} (step 40)"
    )
    assert "error:" not in out
    assert out.startswith(f"run {run_id}: interrupted ")


# -- a real engine, paused -------------------------------------------------------------
def _rows_written(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT coalesce(sum(n * width), 0) FROM series_blocks").fetchone()[0]


def _pause_outside_a_write(proc, db):
    """SIGSTOP the engine at a moment it holds no write lock (else every writer would wait)."""
    for _ in range(50):
        proc.send_signal(signal.SIGSTOP)
        time.sleep(0.05)  # let the stop land
        conn = sqlite3.connect(db, timeout=0.05)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        finally:
            conn.close()
    raise AssertionError("the engine always held the write lock")


def test_a_paused_engine_is_not_taken_for_dead_and_stops_cleanly_when_its_run_is_deleted(
    tmp_path, capsys
):
    db = tmp_path / "p.db"
    proc = subprocess.Popen(
        engine_command("run", write_spec(tmp_path / "long.toml", SPEC), "--db", db, "--quiet"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (db.exists() and _rows_written_safe(db) > 0):
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stderr.read() if proc.poll() else ""
            )
            time.sleep(0.05)
        _pause_outside_a_write(proc, db)
        # Paused for a minute, as a suspended laptop or a debugger would keep it.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE heartbeats SET beat_at = beat_at - 60")
        assert cli.main(["runs", "--json", "--db", str(db)]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [(r["id"], r["status"]) for r in listed] == [(1, "running")]
        assert cli.main(["delete", "1", "--yes", "--db", str(db)]) == cli.EXIT_BAD_INPUT
        refused = capsys.readouterr().err
        assert refused.startswith("error: run 1 is still running: no heartbeat since ")
        assert refused.endswith(
            f"but its engine process (pid {proc.pid}) is alive: paused or busy; "
            "stop it first; nothing deleted\n"
        )
        with Store(db) as reader:
            assert (
                reader.reap_stale() == []
            )  # what `tradeoff run` does first: this run is left alone
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT status FROM runs WHERE id=1").fetchone() == ("running",)
            # Deleted behind its back while it is paused.
            for table, column in (
                ("series_blocks", "run_id"),
                ("pareto_points", "run_id"),
                ("heartbeats", "run_id"),
                ("runs", "id"),
            ):
                conn.execute(f"DELETE FROM {table} WHERE {column}=1", ())
    finally:
        proc.send_signal(signal.SIGCONT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == cli.EXIT_LOST
    assert err == (
        "error: run 1 was deleted from the store while its engine ran; "
        "the engine stopped, writing nothing more\n"
    )
    with sqlite3.connect(db) as conn:
        assert _counts(conn, 1) == {
            "runs": 0,
            "series_blocks": 0,
            "pareto_points": 0,
            "heartbeats": 0,
        }
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def _rows_written_safe(db):
    try:
        return _rows_written(db)
    except sqlite3.OperationalError:
        return 0  # the engine is still creating the schema
