"""Changing the priority of queued sweep points after submit, and cancelling a sweep, some
of its points or the point of a run: the store's functions, the CLI's answers and errors,
and a scheduler serving the store (another process) taking the new order at its next claim."""

import json

import pytest

from engine import cli, sweep, sweep_store
from engine.registry import Catalogue
from engine.store import Store
from tests.helpers import (
    json_lines,
    run_engine,
    running_run_of_point,
    start_engine,
    wait_until,
    write_spec,
)

SPEC = """
[run]
seeds = 2
steps = 30
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.3, 0.3, 0.3]
[hardware]
device = "cpu"
threads = 1
"""


def _sweep(tail: str):
    return sweep.from_toml(SPEC + tail, Catalogue.live(), "s.toml")


def _priorities(store, sweep_id):
    return [p["priority"] for p in store.sweep(sweep_id)["points"]]


def test_set_priority_reorders_the_claims_and_leaves_running_points(tmp_path):
    s = Store(tmp_path / "a.db")
    first = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [1.0, 2.0, 3.0]\n'))
    second = s.create_sweep(_sweep('[sweep.grid]\n"run.seed" = [5, 6]\n'), priority=2)
    claimed = sweep_store.claim_next(s.conn)
    assert (claimed["sweep_id"], claimed["idx"]) == (second, 0)

    # (second, 0) is running now: named, but unchanged and said so
    done = sweep_store.set_priority(s.conn, 7, second, None)
    assert done == {"priority": 7, "changed": [(second, 1)], "not_queued": [(second, 0, "running")]}
    assert _priorities(s, second) == [2, 7]

    # "first": one above every other queued point (7), for the points named only
    done = sweep_store.set_priority(s.conn, "first", first, [2, 1, 2])
    assert done == {"priority": 8, "changed": [(first, 1), (first, 2)], "not_queued": []}
    assert _priorities(s, first) == [0, 8, 8]
    # "last": one below every other queued point (0 of point 0)
    assert sweep_store.set_priority(s.conn, "last", first, [2])["priority"] == -1
    assert _priorities(s, first) == [0, 8, -1]
    # the claims follow: priority, then sweep, then index; the studio shows that order
    assert sweep_store.queue_positions(s.conn) == {
        (first, 1): 1,
        (second, 1): 2,
        (first, 0): 3,
        (first, 2): 4,
    }
    order = []
    while (point := sweep_store.claim_next(s.conn)) is not None:
        order.append((point["sweep_id"], point["idx"]))
    assert order == [(first, 1), (second, 1), (first, 0), (first, 2)]

    # nothing is queued: "first" for a sweep changes nothing and names every point
    done = sweep_store.set_priority(s.conn, "first", first, None)
    assert done["changed"] == [] and [p[2] for p in done["not_queued"]] == ["running"] * 3


def test_first_with_no_other_queued_point_keeps_the_order_within_the_sweep(tmp_path):
    s = Store(tmp_path / "a.db")
    only = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [1.0, 2.0]\n'), priority=3)
    assert sweep_store.set_priority(s.conn, "first", only, None)["priority"] == 3
    assert sweep_store.set_priority(s.conn, "last", only, None)["priority"] == 3


def test_unknown_sweep_point_or_run_is_refused_and_nothing_changes(tmp_path):
    s = Store(tmp_path / "a.db")
    sid = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [1.0, 2.0]\n'))
    with pytest.raises(sweep_store.PointLookupError, match="no sweep 9"):
        sweep_store.set_priority(s.conn, 4, 9, None)
    # one bad index refuses the whole command: point 0 keeps its priority
    with pytest.raises(
        sweep_store.PointLookupError, match=r"has no point 5 \(its points are 0 to 1\)"
    ):
        sweep_store.set_priority(s.conn, 4, sid, [0, 5])
    assert _priorities(s, sid) == [0, 0]
    with pytest.raises(sweep_store.PointLookupError, match="no run 3"):
        sweep_store.set_priority(s.conn, 4, run_id=3)
    with pytest.raises(sweep_store.PointLookupError, match="no sweep 9"):
        sweep_store.cancel_points(s.conn, 9, None)
    with pytest.raises(sweep_store.PointLookupError, match="has no point 2"):
        sweep_store.cancel_points(s.conn, sid, [2])
    assert [p["status"] for p in s.sweep(sid)["points"]] == ["queued", "queued"]


def test_cancel_points_marks_only_the_live_ones_named(tmp_path):
    s = Store(tmp_path / "a.db")
    sid = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [1.0, 2.0, 3.0, 4.0]\n'))
    sweep_store.claim_next(s.conn)  # point 0 running
    sweep_store.claim_next(s.conn)
    sweep_store.finish_point(s.conn, sid, 1, "finished")
    done = sweep_store.cancel_points(s.conn, sid, [0, 1, 3])
    assert done == {
        "cancelled": [(sid, 0, None), (sid, 3, None)],
        "not_live": [(sid, 1, "finished")],
    }
    stored = s.conn.execute(
        "SELECT status FROM sweep_points WHERE sweep_id=? ORDER BY idx", (sid,)
    ).fetchall()
    assert [r[0] for r in stored] == ["cancelled", "finished", "queued", "cancelled"]
    # point 2 is still queued: the sweep is not over, and the scheduler may take it
    assert sweep_store.claim_next(s.conn)["idx"] == 2


def _cli(db, *args):
    """The command in its own process (as the studio runs it)."""
    result = run_engine(*args, "--db", db)
    return result.returncode, result.stdout, result.stderr


def test_the_cli_answers_and_refuses_clearly(tmp_path, capsys):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "s.toml", SPEC + '[sweep.grid]\n"algorithm.c" = [1.0, 2.0]\n')

    def _cli(db, *args):  # in this process: quicker, and the same parser and handlers
        code = cli.main([str(a) for a in (*args, "--db", db)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert _cli(db, "submit", spec)[0] == 0
    code, out, err = _cli(db, "priority", "--sweep", "1", "--point", "1", "-4", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "priority": -4,
        "changed": [{"sweep_id": 1, "idx": 1}],
        "not_queued": [],
    }
    code, out, err = _cli(db, "cancel", "--sweep", "1", "--point", "0", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "cancelled": [{"sweep_id": 1, "idx": 0, "run_id": None}],
        "not_live": [],
    }
    code, out, _ = _cli(db, "priority", "--sweep", "1", "first")
    assert code == 0
    assert (
        out
        == "priority -4 for 1 queued point(s); not queued (unchanged): sweep 1 point 0 (cancelled)\n"
    )
    for args, error in [
        (("priority", "--sweep", "1", "--point", "2", "3"), "sweep 1 has no point 2"),
        (("priority", "--sweep", "7", "3"), "no sweep 7"),
        (("priority", "--run", "1", "3"), "no run 1"),
        (("priority", "--sweep", "1", "soon"), "priority must be an integer, first or last"),
        (("priority", "--run", "1", "--point", "0", "3"), "--point goes with --sweep"),
        (("cancel", "--sweep", "1", "--point", "x"), "point must be a number"),
        (("cancel", "--sweep", "1", "--point", "4"), "sweep 1 has no point 4"),
    ]:
        code, out, err = _cli(db, *args)
        assert code == 2, args
        assert err.splitlines() == [err.splitlines()[0]] and err.startswith(f"error: {error}"), err
    assert _priorities(Store(db), 1) == [0, -4]


def test_a_serving_scheduler_takes_the_new_order_and_cancels_one_running_point(tmp_path):
    """One worker; point 0 runs (long), points 1-3 wait. Raising point 3's priority makes it
    run next, before 1 and 2; cancelling point 2 (queued) drops it; cancelling point 0
    (running) stops its run, which ends cancelled."""
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml", SPEC + '[sweep.zip]\n"run.steps" = [100000000, 30, 30, 30]\n'
    )
    assert _cli(db, "submit", spec)[0] == 0
    sched = start_engine("scheduler", "--db", db, "--workers", "1", "--json")
    try:
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        code, out, err = _cli(
            db, "priority", "--sweep", "1", "--point", "3", "--point", "0", "5", "--json"
        )
        assert code == 0, err
        assert json.loads(out) == {
            "priority": 5,
            "changed": [{"sweep_id": 1, "idx": 3}],
            "not_queued": [{"sweep_id": 1, "idx": 0, "status": "running"}],
        }
        code, out, err = _cli(db, "cancel", "--sweep", "1", "--point", "2", "--json")
        assert json.loads(out)["cancelled"] == [{"sweep_id": 1, "idx": 2, "run_id": None}]
        code, out, err = _cli(db, "cancel", "--sweep", "1", "--point", "0", "--json")
        assert code == 0, err
        assert json.loads(out)["cancelled"] == [{"sweep_id": 1, "idx": 0, "run_id": run0}]
        out, err = sched.communicate(timeout=120)
    finally:
        if sched.poll() is None:
            sched.kill()
    assert sched.returncode == 0, err
    ended = [(e["idx"], e["status"]) for e in json_lines(out) if e["kind"] == "ended"]
    assert ended == [(0, "cancelled"), (3, "finished"), (1, "finished")]
    points = store.sweep(1)["points"]
    assert [p["status"] for p in points] == ["cancelled", "finished", "cancelled", "finished"]
    assert points[2]["run_id"] is None  # never started
    assert store.get_run(run0)["status"] == "cancelled"
    assert points[3]["run_id"] < points[1]["run_id"]  # started in the new order
    assert store.sweep(1)["status"] == "cancelled"


def test_a_run_names_its_point_queued_again_by_resume(tmp_path):
    s = Store(tmp_path / "a.db")
    sid = s.create_sweep(_sweep('[sweep.grid]\n"algorithm.c" = [1.0, 2.0]\n'))
    for run_id in (1, 2):  # point 0's interrupted run, and a run outside any sweep
        s.conn.execute(
            "INSERT INTO runs(id, name, status, algorithm, problem, seeds, steps, steps_done, "
            "spec_toml, created_at, tags, notes) VALUES (?, 'r', 'interrupted', 'bandits.ucb1', "
            "'bandits.bernoulli', 2, 30, 5, '[run]', 1000.0, '[]', '')",
            (run_id,),
        )
    sweep_store.claim_next(s.conn)
    sweep_store.set_point_run(s.conn, sid, 0, 1)
    sweep_store.finish_point(s.conn, sid, 0, "interrupted")
    done = sweep_store.set_priority(s.conn, 3, run_id=1)
    assert done == {"priority": 3, "changed": [], "not_queued": [(sid, 0, "interrupted")]}
    assert sweep_store.requeue(s.conn, sid, stale_running=False) == [0, 1]
    done = sweep_store.set_priority(s.conn, -3, run_id=1)
    assert done == {"priority": -3, "changed": [(sid, 0)], "not_queued": []}
    assert [sweep_store.claim_next(s.conn)["idx"] for _ in range(2)] == [1, 0]  # 0 sent last
    with pytest.raises(sweep_store.PointLookupError, match="run 2 is no sweep point's run"):
        sweep_store.set_priority(s.conn, 3, run_id=2)
    # cancel: the point of run 1 (running again); run 2 is its caller's (no point marked)
    assert sweep_store.cancel_points(s.conn, run_id=1)["cancelled"] == [(sid, 0, 1)]
    assert sweep_store.cancel_points(s.conn, run_id=2) == {"cancelled": [], "not_live": []}
