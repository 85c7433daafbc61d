"""Sweeps end to end through the CLI: JSON lines, common random numbers, export, cancel,
a second command waiting on the running scheduler, a killed worker, and resume after the
whole CLI was killed. Tiny runs: most of each test's time is starting worker processes."""

import csv
import io
import json
import os
import signal

import numpy as np
import pytest

from engine.scheduler import SchedulerError, plan_workers
from engine.store import Store
from tests.helpers import (
    json_lines,
    run_engine,
    running_run_of_point,
    start_engine,
    wait_until,
    write_spec,
)

BASE = """
[run]
seeds = {seeds}
steps = 40
[algorithm]
id = "bandits.ucb1"
regret = "realised"
[problem]
id = "bandits.bernoulli"
means = [0.3, 0.3, 0.3]
[hardware]
device = "cpu"
threads = 1
"""
T_975 = {1: 12.706204736174698, 2: 4.302652729749464}  # Student t quantiles, 1 and 2 dof


def _point(store, sweep_id, idx) -> dict:
    return store.sweep(sweep_id)["points"][idx]


def test_a_2x2_sweep_end_to_end_with_common_random_numbers_and_export(tmp_path):
    """Points (c, run.seed) on three arms of equal mean with realised regret: every arm pays
    the same in a round, so the regret is t/3... minus the rewards drawn, whatever is played.
    Points with the same run.seed must then agree value for value (they see the same draws),
    and points with different seeds must not."""
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "sweep.toml",
        BASE.format(seeds=3) + '[sweep.grid]\n"algorithm.c" = [0.5, 4.0]\n"run.seed" = [0, 1]\n',
    )
    result = run_engine("run", spec, "--db", db, "--json", "--workers", "2")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert len(lines) == 5
    points, last = lines[:4], lines[4]
    assert sorted(p["idx"] for p in points) == [0, 1, 2, 3]
    want_values = [{"algorithm.c": c, "run.seed": seed} for c in (0.5, 4.0) for seed in (0, 1)]
    for p in points:
        assert p["sweep_id"] == 1 and p["status"] == "finished" and p["error"] is None
        assert p["values"] == want_values[p["idx"]]
    by_idx = {p["idx"]: p["run_id"] for p in points}
    assert last == {
        "sweep_id": 1,
        "status": "finished",
        "run_ids": [by_idx[i] for i in range(4)],
        "points": 4,
        "db": str(db),
    }

    store = Store(db)
    assert store.sweep(1)["status"] == "finished"
    assert [p["run_id"] for p in store.sweep(1)["points"]] == [by_idx[i] for i in range(4)]
    assert store.sweep_of_run(by_idx[3]) == 1
    regret = {
        i: store.series(by_idx[i], "cumulative_regret") for i in range(4)
    }  # seed -> (steps, values)
    for seed in range(3):
        same_draws = regret[0][seed][1], regret[2][seed][1]  # c = 0.5 and 4.0, run.seed 0
        np.testing.assert_array_equal(*same_draws)
        np.testing.assert_array_equal(regret[1][seed][1], regret[3][seed][1])  # run.seed 1
        assert not np.array_equal(regret[0][seed][1], regret[1][seed][1])
    # the realised regret is 0.3 t minus the rewards collected: steps of -0.7 or +0.3
    steps, values = regret[0][0]
    increments = np.diff(np.r_[0.0, values[steps <= 10]])
    assert np.allclose(np.minimum(np.abs(increments - 0.3), np.abs(increments + 0.7)), 0, atol=1e-6)

    listed = json.loads(run_engine("sweeps", "--db", db, "--json").stdout)
    assert [(s["id"], s["status"], s["points"], s["finished"]) for s in listed] == [
        (1, "finished", 4, 4)
    ]
    assert listed[0]["keys"] == ["algorithm.c", "run.seed"] and listed[0]["log_keys"] == []

    out = tmp_path / "sweep.csv"
    assert (
        run_engine("export", "--sweep", "1", "--db", db, "--format", "csv", "--out", out).returncode
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == [
        "run_id",
        "algorithm.c",
        "run.seed",
        "best_arm_fraction:mean",
        "best_arm_fraction:lo",
        "best_arm_fraction:hi",
        "cumulative_regret:mean",
        "cumulative_regret:lo",
        "cumulative_regret:hi",
    ]
    assert [int(r["run_id"]) for r in rows] == [by_idx[i] for i in range(4)]
    for i, row in enumerate(rows):
        final = np.array([regret[i][seed][1][-1] for seed in range(3)])
        half = T_975[2] * final.std(ddof=1) / np.sqrt(3)
        assert float(row["cumulative_regret:mean"]) == pytest.approx(final.mean(), abs=1e-9)
        # the t-band's half width (the quantile comes from a 4-digit table)
        mean = float(row["cumulative_regret:mean"])
        assert mean - float(row["cumulative_regret:lo"]) == pytest.approx(half, rel=2e-4)
        assert float(row["cumulative_regret:hi"]) - mean == pytest.approx(half, rel=2e-4)
        assert float(row["best_arm_fraction:mean"]) == 1.0  # every arm is a best arm
        assert float(row["algorithm.c"]) == want_values[i]["algorithm.c"]
    exported = tmp_path / "sweep.json"
    run_engine("export", "--sweep", "1", "--db", db, "--format", "json", "--out", exported)
    doc = json.loads(exported.read_text())
    assert [d["run.seed"] for d in doc] == [0, 1, 0, 1] and list(doc[0]) == list(rows[0])


def test_a_bad_point_refuses_the_sweep_writing_nothing(tmp_path):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "bad.toml", BASE.format(seeds=2))
    result = run_engine("run", spec, "--db", db, "--set", "algorithm.c=[1.0, -2.0]")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {spec}: sweep point 1 (algorithm.c=-2.0): algorithm.c: ")
    assert not db.exists()


def test_workers_never_oversubscribe_the_cores_unless_asked():
    assert plan_workers([1, 1], cores=4) == plan_workers([1, 1], workers=2, cores=4)
    assert (plan_workers([1] * 8, cores=4).workers, plan_workers([1] * 8, cores=4).threads) == (
        4,
        1,
    )
    assert (plan_workers([2] * 8, cores=4).workers, plan_workers([2] * 8, cores=4).threads) == (
        2,
        2,
    )
    unset = plan_workers([0, 0], workers=2, cores=8)
    assert (unset.workers, unset.threads) == (2, 4)  # torch's default would take every core
    with pytest.raises(SchedulerError, match="3 workers x 2 torch threads = 6 threads on 4 cores"):
        plan_workers([2] * 8, workers=3, cores=4)
    assert plan_workers([2] * 8, workers=3, cores=4, oversubscribe=True).workers == 3


def test_cancel_a_run_then_a_sweep_while_a_second_command_waits(tmp_path):
    """Sweep 1 (one worker): a long point, a short one, a long one. A second `tradeoff run`
    queues sweep 2 and waits, served by the first command's scheduler. Cancelling point 0's
    run lets the sweep go on; cancelling sweep 1 stops point 2 and lets sweep 2 run."""
    db = tmp_path / "s.db"
    first = write_spec(
        tmp_path / "first.toml",
        BASE.format(seeds=2) + '[sweep.zip]\n"run.steps" = [100000000, 30, 100000000]\n',
    )
    second = write_spec(
        tmp_path / "second.toml",
        BASE.format(seeds=2) + '[sweep.grid]\n"algorithm.c" = [1.0, 3.0]\n',
    )
    one = start_engine("run", first, "--db", db, "--json", "--workers", "1")
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        two = start_engine("run", second, "--db", db, "--json", "--workers", "1")
        wait_until(lambda: len(store.sweeps()) == 2, "sweep 2 queued")
        cancelled = json.loads(run_engine("cancel", "--run", run0, "--db", db, "--json").stdout)
        assert cancelled == {"cancelled": [{"sweep_id": 1, "idx": 0, "run_id": run0}]}
        wait_until(lambda: running_run_of_point(store, 1, 2), "point 2 running")
        assert _point(store, 1, 1)["status"] == "finished"
        assert [p["status"] for p in store.sweep(2)["points"]] == ["queued", "queued"]
        assert run_engine("cancel", "--sweep", "1", "--db", db).returncode == 0
        out_one, err_one = one.communicate(timeout=120)
        out_two, err_two = two.communicate(timeout=120)
    finally:
        for proc in (one, locals().get("two")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert one.returncode == 3, err_one  # some points cancelled
    lines = json_lines(out_one)
    assert [(p["idx"], p["status"]) for p in lines[:3]] == [
        (0, "cancelled"),
        (1, "finished"),
        (2, "cancelled"),
    ]
    assert lines[3]["status"] == "cancelled" and len(lines[3]["run_ids"]) == 3
    statuses = [store.get_run(p["run_id"])["status"] for p in lines[:3]]
    assert statuses == ["cancelled", "finished", "cancelled"]
    assert two.returncode == 0, err_two
    second_lines = json_lines(out_two)
    assert [p["status"] for p in second_lines[:2]] == ["finished", "finished"]
    assert second_lines[2]["sweep_id"] == 2 and second_lines[2]["status"] == "finished"
    # served by the first command's worker: the same engine process ran both sweeps' runs
    pid = store.get_run(lines[1]["run_id"])["pid"]
    assert {store.get_run(p["run_id"])["pid"] for p in second_lines[:2]} == {pid}


def test_a_killed_worker_fails_its_run_and_the_sweep_goes_on(tmp_path):
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2) + '[sweep.zip]\n"run.steps" = [100000000, 30]\n',
    )
    proc = start_engine("run", spec, "--db", db, "--json", "--workers", "1")
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        worker = store.get_run(run0)["pid"]
        os.kill(worker, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err  # a point failed
    lines = json_lines(out)
    assert [(p["idx"], p["status"]) for p in lines[:2]] == [(0, "failed"), (1, "finished")]
    reason = f"the worker process (pid {worker}) running this point died (killed by signal 9)"
    assert lines[0]["error"].startswith(reason)
    row = store.get_run(run0)
    assert row["status"] == "failed" and row["error"].startswith(reason)
    assert store.get_run(lines[1]["run_id"])["pid"] != worker  # a new worker ran it


def test_resume_after_the_whole_cli_is_killed_runs_only_the_unfinished_points(tmp_path):
    # Point 2 runs long enough to be seen running with a step recorded (the recorder writes
    # every 0.2 s: 20,000 steps of 2 seeds took less than that on an idle machine).
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2) + '[sweep.zip]\n"run.steps" = [30, 30, 100000, 30]\n',
    )
    proc = start_engine("run", spec, "--db", db, "--json", "--workers", "1")
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        killed_run = wait_until(
            lambda: running_run_of_point(store, 1, 2), "point 2 running", timeout=120
        )
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = store.sweep(1)
    assert [p["status"] for p in before["points"]] == [
        "finished",
        "finished",
        "interrupted",
        "queued",
    ]
    assert before["status"] == "interrupted"
    kept = {p["idx"]: p["run_id"] for p in before["points"][:2]}
    last_run = store.conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    # its worker died with the CLI (no orphan keeps writing): the run is seen ended
    wait_until(lambda: store.get_run(killed_run)["status"] == "interrupted", "the worker gone", 30)

    result = run_engine("resume", "1", "--db", db, "--json", "--workers", "1")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert sorted(p["idx"] for p in lines[:-1]) == [2, 3]
    assert all(p["status"] == "finished" for p in lines[:-1])
    after = store.sweep(1)
    assert after["status"] == "finished"
    assert {p["idx"]: p["run_id"] for p in after["points"][:2]} == kept  # finished points kept
    new_runs = [r[0] for r in store.conn.execute("SELECT id FROM runs WHERE id > ?", (last_run,))]
    assert sorted(new_runs) == sorted(p["run_id"] for p in after["points"][2:])  # each ran once
    assert store.get_run(killed_run)["status"] == "interrupted"
    assert lines[-1]["run_ids"] == [after["points"][i]["run_id"] for i in (2, 3)]


def test_submit_returns_at_once_and_the_scheduler_serves_by_priority(tmp_path):
    db = tmp_path / "s.db"
    low = write_spec(
        tmp_path / "low.toml", BASE.format(seeds=2) + '[sweep.grid]\n"algorithm.c" = [1.0, 2.0]\n'
    )
    high = write_spec(
        tmp_path / "high.toml", BASE.format(seeds=2) + '[sweep.grid]\n"run.seed" = [5, 6]\n'
    )
    first = run_engine("submit", low, "--db", db, "--json")
    second = run_engine("submit", high, "--db", db, "--json", "--priority", "5")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == {"sweep_id": 1, "points": 2, "db": str(db)}
    assert json.loads(second.stdout)["sweep_id"] == 2
    store = Store(db)
    assert [s["status"] for s in store.sweeps()] == ["queued", "queued"]
    assert store.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # nothing ran

    served = run_engine("scheduler", "--db", db, "--workers", "1", "--json")
    assert served.returncode == 0, served.stderr
    events = json_lines(served.stdout)
    ended = [(e["sweep_id"], e["idx"]) for e in events if e["kind"] == "ended"]
    assert ended == [(2, 0), (2, 1), (1, 0), (1, 1)]  # priority 5 first, then sweep order
    assert [s["status"] for s in store.sweeps()] == ["finished", "finished"]
    runs = [p["run_id"] for p in store.sweep(2)["points"] + store.sweep(1)["points"]]
    assert runs == sorted(runs)  # started in that order too
    assert sweep_store_scheduler(store) is None  # the lock was given back


def sweep_store_scheduler(store):
    from engine import sweep_store

    return sweep_store.scheduler(store.conn)


def test_a_plain_run_is_submitted_as_one_point_and_served_as_a_point(tmp_path):
    """`submit` of a spec without [sweep]: checked as `run` checks it, queued as a sweep of
    one point that sweeps no key (named after the run), run by the scheduler as any point,
    in the order of the store's queue."""
    db = tmp_path / "s.db"
    sweep = write_spec(
        tmp_path / "sweep.toml", BASE.format(seeds=2) + '[sweep.grid]\n"algorithm.c" = [1.0]\n'
    )
    plain = write_spec(
        tmp_path / "run.toml", BASE.format(seeds=2).replace("[run]", '[run]\nname = "alone"')
    )
    assert run_engine("submit", sweep, "--db", db).returncode == 0
    result = run_engine("submit", plain, "--db", db, "--json", "--priority", "2")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sweep_id": 2, "points": 1, "run": True, "db": str(db)}
    store = Store(db)
    one = store.sweep(2)
    assert (one["name"], one["keys"], one["status"]) == ("alone", [], "queued")
    assert [(p["idx"], p["values"], p["status"], p["priority"]) for p in one["points"]] == [
        (0, {}, "queued", 2)
    ]
    from engine import sweep_store

    (point,) = sweep_store.run_points(store.conn)
    assert point["sweep_id"] == 2 and point["spec"]["run"]["name"] == "alone"
    assert sweep_store.queue_position(store.conn, 2) == 1  # priority 2 before the sweep's 0
    assert sweep_store.queue_position(store.conn, 1) == 2

    served = run_engine("scheduler", "--db", db, "--workers", "1", "--json")
    assert served.returncode == 0, served.stderr
    ended = [
        (e["sweep_id"], e["status"]) for e in json_lines(served.stdout) if e["kind"] == "ended"
    ]
    assert ended == [(2, "finished"), (1, "finished")]
    run = store.get_run(store.sweep(2)["points"][0]["run_id"])
    assert (run["name"], run["status"], run["steps_done"], run["seeds"]) == (
        "alone",
        "finished",
        40,
        2,
    )
    assert sweep_store.run_points(store.conn) == []  # none queued or running now


def test_a_plain_run_the_engine_cannot_run_is_refused_by_submit(tmp_path):
    db = tmp_path / "s.db"
    plain = write_spec(tmp_path / "run.toml", BASE.format(seeds=0))
    result = run_engine("submit", plain, "--db", db)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "run.seeds" in result.stderr
    assert not db.exists() or Store(db).sweeps() == []


def test_a_lingering_scheduler_takes_a_run_queued_after_it_started(tmp_path):
    """`scheduler --linger S` on an empty queue holds the lock and waits: a run submitted a
    moment later is run by it (the studio starts one alongside its submit). With nothing
    queued, it gives the lock back S seconds later and exits 0."""
    db = tmp_path / "s.db"
    plain = write_spec(tmp_path / "run.toml", BASE.format(seeds=1))
    assert run_engine("scheduler", "--db", db, "--linger", "-1").returncode == 2
    store = Store(db)  # made here, so that the test reads it while the schedulers start
    alone = run_engine("scheduler", "--db", db, "--workers", "1", "--linger", "1")
    assert alone.returncode == 0, alone.stderr
    assert sweep_store_scheduler(store) is None
    scheduler = start_engine("scheduler", "--db", db, "--workers", "1", "--linger", "120", "--json")
    try:
        wait_until(lambda: sweep_store_scheduler(store), "the scheduler's lock")
        assert run_engine("submit", plain, "--db", db).returncode == 0
        wait_until(lambda: store.sweep(1)["points"][0]["status"] == "finished", "the run")
        assert sweep_store_scheduler(store) is not None  # still there, waiting for more
        scheduler.send_signal(signal.SIGINT)
        out, err = scheduler.communicate(timeout=60)
    finally:
        scheduler.kill()
    events = json_lines(out)
    assert [(e["kind"], e["sweep_id"], e["status"]) for e in events] == [
        ("started", 1, None),
        ("ended", 1, "finished"),
    ], err
    assert sweep_store_scheduler(store) is None  # the lock was given back
