"""The store's sweep tables (schema 6): sweeps, their points, and the scheduler's lock.

`Store` methods delegate here; every function takes the store's connection (isolation
level None: each write opens its own BEGIN IMMEDIATE transaction). The queue is the
`sweep_points` rows with status `queued`: it survives any process, and the scheduler
serving a store takes them highest priority first, then by sweep, then by index.

The scheduler's lock is the `meta` row `scheduler`: JSON {pid, pid_start, host, beat_at,
created_at}; a lock whose process is gone (judged as runs are, `engine_liveness`) is free.
"""

from __future__ import annotations

import json
import os
import socket
import time

SWEEP_STATUSES = ("queued", "running", "finished", "cancelled", "interrupted", "failed")
POINT_STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
LOCK_KEY = "scheduler"

SWEEPS_SQL = """CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  name TEXT,
  spec_toml TEXT NOT NULL,
  keys_json TEXT NOT NULL,
  log_keys_json TEXT NOT NULL,
  created_at REAL NOT NULL,
  status TEXT NOT NULL
)"""
SWEEP_POINTS_SQL = """CREATE TABLE sweep_points (
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  idx INTEGER NOT NULL,
  values_json TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  run_id INTEGER REFERENCES runs(id),
  status TEXT NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (sweep_id, idx)
)"""


def migrate_5_to_6(db) -> None:
    # Sweeps: a spec expanded into points, each point one ordinary run once it starts.
    db.execute(SWEEPS_SQL)
    db.execute(SWEEP_POINTS_SQL)
    db.execute("CREATE INDEX idx_sweep_points_status ON sweep_points(status, priority)")
    db.execute("CREATE INDEX idx_sweep_points_run_id ON sweep_points(run_id)")


class _Transaction:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, *_):
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


# -- writing (engine processes) ----------------------------------------------------------
def create_sweep(conn, sweep, priority: int = 0) -> int:
    """Record a validated `engine.sweep.Sweep` and queue all its points; returns its id."""
    with _Transaction(conn):
        cur = conn.execute(
            "INSERT INTO sweeps(name, spec_toml, keys_json, log_keys_json, created_at, status) "
            "VALUES (?,?,?,?,?,?)",
            (
                sweep.name or None,
                sweep.spec_toml,
                json.dumps(sweep.keys),
                json.dumps(sweep.log_keys),
                time.time(),
                "queued",
            ),
        )
        sweep_id = cur.lastrowid
        if not sweep.name:
            conn.execute("UPDATE sweeps SET name=? WHERE id=?", (f"sweep {sweep_id}", sweep_id))
        conn.executemany(
            "INSERT INTO sweep_points(sweep_id, idx, values_json, spec_json, run_id, status, priority) "
            "VALUES (?,?,?,?,NULL,'queued',?)",
            [
                (sweep_id, p.idx, json.dumps(p.values), json.dumps(p.spec.to_dict()), int(priority))
                for p in sweep.points
            ],
        )
    return sweep_id


def create_run_point(conn, spec, priority: int = 0) -> int:
    """Queue one plain run (a validated RunSpec) for the scheduler: a sweep of one point
    that sweeps no key (keys `[]`, which no real sweep has: `engine.sweep.expand` refuses
    one), named after the run. Returns the sweep's id; the run is its point 0."""
    from engine.sweep import Sweep, SweepPoint

    one = Sweep(
        spec_toml=spec.to_toml(),
        keys=[],
        log_keys=[],
        points=[SweepPoint(0, {}, spec)],
        name=spec.title,
        source=spec.source,
    )
    return create_sweep(conn, one, priority)


def claim_next(conn) -> dict | None:
    """Take the next queued point (highest priority, then oldest sweep, then index) and mark
    it running; None when the queue is empty."""
    with _Transaction(conn):
        row = conn.execute(
            "SELECT sweep_id, idx, values_json, spec_json FROM sweep_points WHERE status='queued' "
            "ORDER BY priority DESC, sweep_id, idx LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE sweep_points SET status='running' WHERE sweep_id=? AND idx=?", row[:2])
        conn.execute("UPDATE sweeps SET status='running' WHERE id=? AND status='queued'", row[:1])
    return {
        "sweep_id": row[0],
        "idx": row[1],
        "values": json.loads(row[2]),
        "spec": json.loads(row[3]),
    }


def shown_status(status: str, run_id) -> str:
    """A point's status as the studio shows it: a point given to a worker whose run has
    not begun yet (its worker builds it, or a Ray runner will begin it when it ends the
    point before) is "starting", not yet "running"."""
    return "starting" if status == "running" and run_id is None else status


def queued_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM sweep_points WHERE status='queued'").fetchone()[0]


def running_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM sweep_points WHERE status='running'").fetchone()[0]


def point_status(conn, sweep_id: int, idx: int) -> str | None:
    row = conn.execute(
        "SELECT status FROM sweep_points WHERE sweep_id=? AND idx=?", (sweep_id, idx)
    ).fetchone()
    return row[0] if row else None


def set_point_run(conn, sweep_id: int, idx: int, run_id: int) -> None:
    with _Transaction(conn):
        conn.execute(
            "UPDATE sweep_points SET run_id=? WHERE sweep_id=? AND idx=?", (run_id, sweep_id, idx)
        )


def finish_point(conn, sweep_id: int, idx: int, status: str) -> None:
    """A point's final status (its run's), then the sweep's status from its points."""
    if status not in POINT_STATUSES:
        raise ValueError(status)
    with _Transaction(conn):
        conn.execute(
            "UPDATE sweep_points SET status=? WHERE sweep_id=? AND idx=?", (status, sweep_id, idx)
        )
        _refresh(conn, sweep_id)


def _refresh(conn, sweep_id: int) -> None:
    """Set a sweep's status from its points' (inside a transaction)."""
    counts = dict(
        conn.execute(
            "SELECT status, count(*) FROM sweep_points WHERE sweep_id=? GROUP BY status",
            (sweep_id,),
        ).fetchall()
    )
    if counts.get("running"):
        status = "running"
    elif counts.get("queued"):
        started = sum(counts.get(s, 0) for s in POINT_STATUSES[2:])
        status = "running" if started else "queued"
    elif set(counts) <= {"finished"}:
        status = "finished"
    elif counts.get("cancelled"):
        status = "cancelled"
    elif counts.get("failed"):
        status = "failed"
    else:
        status = "interrupted"
    conn.execute("UPDATE sweeps SET status=? WHERE id=?", (status, sweep_id))


def cancel(conn, sweep_id: int | None = None, idx: int | None = None, run_id: int | None = None):
    """Mark queued and running points cancelled: a whole sweep, one point, or the point of a
    run. Returns [(sweep_id, idx, run_id)] of the points marked (see `cancel_points`)."""
    return cancel_points(conn, sweep_id, None if idx is None else [idx], run_id)["cancelled"]


def cancel_points(conn, sweep_id: int | None = None, idxs=None, run_id: int | None = None):
    """Mark the named points that are queued or running cancelled, in one transaction: a
    whole sweep, some of its points (`idxs`), or the point of a run (none: a run outside any
    sweep is its caller's to stop). The worker running a cancelled point sees the mark and
    stops its run (the run ends `cancelled`). Returns {"cancelled": [(sweep_id, idx,
    run_id)], "not_live": [(sweep_id, idx, status)]}; raises PointLookupError for a sweep
    or point the store lacks."""
    with _Transaction(conn):
        if run_id is not None:
            rows = conn.execute(
                "SELECT sweep_id, idx, run_id, status FROM sweep_points WHERE run_id=?", (run_id,)
            ).fetchall()
        else:
            rows = _named_points(conn, sweep_id, idxs, None)
        live = [r for r in rows if r[3] in ("queued", "running")]
        conn.executemany(
            "UPDATE sweep_points SET status='cancelled' WHERE sweep_id=? AND idx=?",
            [r[:2] for r in live],
        )
        for sid in {r[0] for r in live}:
            # A running point stays in the sweep's count as running until its run ends.
            left = conn.execute(
                "SELECT count(*) FROM sweep_points WHERE sweep_id=? AND status IN ('queued','running')",
                (sid,),
            ).fetchone()[0]
            if not left:
                _refresh(conn, sid)
    return {
        "cancelled": [r[:3] for r in live],
        "not_live": [(r[0], r[1], r[3]) for r in rows if r[3] not in ("queued", "running")],
    }


class PointLookupError(LookupError):
    """A sweep, point or run named to `set_priority` or `cancel` that the store lacks."""


def _named_points(conn, sweep_id, idxs, run_id) -> list[tuple]:
    """(sweep_id, idx, run_id, status) of the points named: the point of a run, some points
    of a sweep, or all of them (inside a transaction). Raises PointLookupError for a sweep,
    point or run that is not there, or a run that is no sweep point's."""
    if run_id is not None:
        rows = conn.execute(
            "SELECT sweep_id, idx, run_id, status FROM sweep_points WHERE run_id=?", (run_id,)
        ).fetchall()
        if not rows:
            there = conn.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone()
            raise PointLookupError(
                f"run {run_id} is no sweep point's run" if there else f"no run {run_id}"
            )
        return rows
    if conn.execute("SELECT 1 FROM sweeps WHERE id=?", (sweep_id,)).fetchone() is None:
        raise PointLookupError(f"no sweep {sweep_id}")
    rows = conn.execute(
        "SELECT sweep_id, idx, run_id, status FROM sweep_points WHERE sweep_id=? ORDER BY idx",
        (sweep_id,),
    ).fetchall()
    if idxs is None:
        return rows
    by_idx = {r[1]: r for r in rows}
    missing = [i for i in idxs if i not in by_idx]
    if missing:
        raise PointLookupError(
            f"sweep {sweep_id} has no point {missing[0]} (its points are 0 to {len(rows) - 1})"
        )
    return [by_idx[i] for i in sorted(set(idxs))]


def set_priority(
    conn, priority, sweep_id: int | None = None, idxs=None, run_id: int | None = None
) -> dict:
    """Give the named points that are still queued a new priority, in one transaction; a
    scheduler serving the store takes the new order at its next claim (`claim_next`).

    priority: an int, or "first" / "last": one above the highest (below the lowest)
    priority of the other queued points in the store, so that the named points run before
    (after) every one of them. Points that are running or ended keep theirs. Returns
    {"priority": the value set, "changed": [(sweep_id, idx)], "not_queued": [(sweep_id,
    idx, status)]}; raises PointLookupError for what the store lacks."""
    with _Transaction(conn):
        rows = _named_points(conn, sweep_id, idxs, run_id)
        queued = [r[:2] for r in rows if r[3] == "queued"]
        if priority in ("first", "last"):
            value = _edge_priority(conn, priority, queued)
        else:
            value = int(priority)
        conn.executemany(
            "UPDATE sweep_points SET priority=? WHERE sweep_id=? AND idx=?",
            [(value, s, i) for s, i in queued],
        )
    return {
        "priority": value,
        "changed": queued,
        "not_queued": [(r[0], r[1], r[3]) for r in rows if r[3] != "queued"],
    }


def _edge_priority(conn, edge: str, named: list[tuple]) -> int:
    """The priority that puts `named` before ("first") or after ("last") every other queued
    point (inside a transaction). With no other queued point, the named ones' present
    highest (lowest) one: nothing else to pass."""
    named_set = set(named)
    others, mine = [], []
    for s, i, p in conn.execute(
        "SELECT sweep_id, idx, priority FROM sweep_points WHERE status='queued'"
    ):
        (mine if (s, i) in named_set else others).append(p)
    if edge == "first":
        return max(others) + 1 if others else max(mine, default=0)
    return min(others) - 1 if others else min(mine, default=0)


def interrupt_running(conn) -> list[tuple[int, int]]:
    """Points left `running` by a scheduler that is gone become `interrupted` (called by the
    scheduler that takes the lock after it)."""
    with _Transaction(conn):
        rows = conn.execute(
            "SELECT sweep_id, idx FROM sweep_points WHERE status='running'"
        ).fetchall()
        conn.executemany(
            "UPDATE sweep_points SET status='interrupted' WHERE sweep_id=? AND idx=?", rows
        )
        for sid in {r[0] for r in rows}:
            _refresh(conn, sid)
    return rows


def requeue(conn, sweep_id: int, stale_running: bool) -> list[int]:
    """Queue again the points of a sweep that did not finish (failed, cancelled, interrupted;
    and running ones when `stale_running`: no scheduler serves them). Returns the indexes of
    the sweep's points now queued (those and the ones that were queued already)."""
    statuses = ["failed", "cancelled", "interrupted"] + (["running"] if stale_running else [])
    with _Transaction(conn):
        if conn.execute("SELECT 1 FROM sweeps WHERE id=?", (sweep_id,)).fetchone() is None:
            raise KeyError(sweep_id)
        rows = [
            r[0]
            for r in conn.execute(
                f"SELECT idx FROM sweep_points WHERE sweep_id=? AND status IN ({','.join('?' * len(statuses))}) "
                "ORDER BY idx",
                (sweep_id, *statuses),
            )
        ]
        conn.executemany(
            "UPDATE sweep_points SET status='queued' WHERE sweep_id=? AND idx=?",
            [(sweep_id, i) for i in rows],
        )
        _refresh(conn, sweep_id)
        return [
            r[0]
            for r in conn.execute(
                "SELECT idx FROM sweep_points WHERE sweep_id=? AND status='queued' ORDER BY idx",
                (sweep_id,),
            )
        ]


def forget_runs(conn, run_ids) -> None:
    """Points whose runs are deleted keep their values but no run (inside a transaction)."""
    conn.executemany("UPDATE sweep_points SET run_id=NULL WHERE run_id=?", [(i,) for i in run_ids])


# -- the scheduler's lock ----------------------------------------------------------------
def _lock_row(conn) -> dict | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (LOCK_KEY,)).fetchone()
    if row is None:
        return None
    try:
        info = json.loads(row[0])
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def lock_alive(info: dict | None, now: float | None = None) -> bool:
    from engine.store import engine_liveness

    if not info:
        return False
    row = {
        "pid": info.get("pid"),
        "host": info.get("host"),
        "pid_start": info.get("pid_start"),
        "beat_at": info.get("beat_at"),
        "created_at": info.get("created_at") or 0.0,
        "steps_done": 0,
    }
    return engine_liveness(row, now)[0] == "alive"


def _own_lock() -> dict:
    from engine.store import own_process_start

    now = time.time()
    return {
        "pid": os.getpid(),
        "pid_start": own_process_start(),
        "host": socket.gethostname(),
        "created_at": now,
        "beat_at": now,
    }


def _is_own(info: dict | None) -> bool:
    from engine.store import own_process_start

    return bool(
        info
        and info.get("pid") == os.getpid()
        and info.get("pid_start") == own_process_start()
        and info.get("host") == socket.gethostname()
    )


def acquire_lock(conn) -> bool:
    """Become the store's scheduler unless a live one is; True when this process holds it."""
    with _Transaction(conn):
        info = _lock_row(conn)
        if _is_own(info):
            return True
        if lock_alive(info):
            return False
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            (LOCK_KEY, json.dumps(_own_lock())),
        )
    return True


def beat_lock(conn) -> None:
    with _Transaction(conn):
        info = _lock_row(conn)
        if _is_own(info):
            info["beat_at"] = time.time()
            conn.execute("UPDATE meta SET value=? WHERE key=?", (json.dumps(info), LOCK_KEY))


def release_lock_if_idle(conn) -> bool:
    """Give the lock back if the queue is empty, in one transaction (so a point queued
    meanwhile is either seen here or finds the lock free); True when released."""
    with _Transaction(conn):
        if queued_count(conn):
            return False
        if _is_own(_lock_row(conn)):
            conn.execute("DELETE FROM meta WHERE key=?", (LOCK_KEY,))
    return True


def release_lock(conn) -> None:
    with _Transaction(conn):
        if _is_own(_lock_row(conn)):
            conn.execute("DELETE FROM meta WHERE key=?", (LOCK_KEY,))


def scheduler(conn) -> dict | None:
    """The live scheduler's lock row ({pid, host, ...}) or None."""
    info = _lock_row(conn)
    return info if lock_alive(info) else None


# -- reading (torch-free; the studio uses these through Store) ----------------------------
def _effective(status: str, served: bool) -> str:
    """A point stored as running with no live scheduler was interrupted."""
    return "interrupted" if status == "running" and not served else status


def _effective_sweep(status: str, served: bool, running_points: int) -> str:
    """A sweep stored as running with no live scheduler: interrupted where points were left
    running, else queued (its queued points wait for a scheduler)."""
    if status != "running" or served:
        return status
    return "interrupted" if running_points else "queued"


def sweeps(conn) -> list[dict]:
    served = scheduler(conn) is not None
    rows = conn.execute(
        "SELECT s.id, s.name, s.created_at, s.status, s.keys_json, s.log_keys_json, "
        "count(p.idx), sum(p.status='finished'), sum(p.status='running') FROM sweeps s "
        "LEFT JOIN sweep_points p ON p.sweep_id = s.id GROUP BY s.id ORDER BY s.id DESC"
    ).fetchall()
    return [
        {
            "id": r[0],
            "name": r[1],
            "created_at": r[2],
            "status": _effective_sweep(r[3], served, r[8] or 0),
            "keys": json.loads(r[4]),
            "log_keys": json.loads(r[5]),
            "points": r[6],
            "finished": r[7] or 0,
        }
        for r in rows
    ]


def sweep(conn, sweep_id: int) -> dict:
    row = conn.execute(
        "SELECT id, name, created_at, status, spec_toml, keys_json, log_keys_json FROM sweeps "
        "WHERE id=?",
        (sweep_id,),
    ).fetchone()
    if row is None:
        raise KeyError(sweep_id)
    served = scheduler(conn) is not None
    points = conn.execute(
        "SELECT idx, values_json, run_id, status, priority FROM sweep_points WHERE sweep_id=? "
        "ORDER BY idx",
        (sweep_id,),
    ).fetchall()
    return {
        "id": row[0],
        "name": row[1],
        "created_at": row[2],
        "status": _effective_sweep(row[3], served, sum(p[3] == "running" for p in points)),
        "spec_toml": row[4],
        "keys": json.loads(row[5]),
        "log_keys": json.loads(row[6]),
        "points": [
            {
                "idx": p[0],
                "values": json.loads(p[1]),
                "run_id": p[2],
                "status": _effective(p[3], served),
                "priority": p[4],
            }
            for p in points
        ],
    }


def queue_positions(conn) -> dict[tuple[int, int], int]:
    """{(sweep_id, idx): position} of every queued point, 1 for the one a scheduler takes
    next: the order of `claim_next`."""
    rows = conn.execute(
        "SELECT sweep_id, idx FROM sweep_points WHERE status='queued' "
        "ORDER BY priority DESC, sweep_id, idx"
    ).fetchall()
    return {(r[0], r[1]): i for i, r in enumerate(rows, start=1)}


def sweep_of_run(conn, run_id: int) -> int | None:
    row = conn.execute(
        "SELECT sweep_id FROM sweep_points WHERE run_id=? LIMIT 1", (run_id,)
    ).fetchone()
    return row[0] if row else None


def point_specs(conn, sweep_id: int) -> list[dict]:
    """Each point's full run spec as stored (for exports and resumes)."""
    return [
        {"idx": r[0], "spec": json.loads(r[1])}
        for r in conn.execute(
            "SELECT idx, spec_json FROM sweep_points WHERE sweep_id=? ORDER BY idx", (sweep_id,)
        )
    ]


# -- runs queued one by one (one-point sweeps that sweep no key) -----------------------------
RUN_POINT_KEYS = "[]"


def run_points(conn, sweep_ids=()) -> list[dict]:
    """The runs queued one by one (`create_run_point`) that are queued or running, and those
    of `sweep_ids` whatever their status: {sweep_id, status (a running point with no live
    scheduler: interrupted), run_id, priority, spec (the run's spec as a dict),
    created_at}, oldest first."""
    ids = sorted({int(i) for i in sweep_ids})
    named = f" OR p.sweep_id IN ({','.join('?' * len(ids))})" if ids else ""
    rows = conn.execute(
        "SELECT p.sweep_id, p.status, p.run_id, p.priority, p.spec_json, s.created_at "
        "FROM sweep_points p JOIN sweeps s ON s.id = p.sweep_id "
        f"WHERE s.keys_json = ? AND (p.status IN ('queued', 'running'){named}) "
        "ORDER BY p.sweep_id",
        (RUN_POINT_KEYS, *ids),
    ).fetchall()
    served = scheduler(conn) is not None if rows else False
    return [
        {
            "sweep_id": r[0],
            "status": _effective(r[1], served),
            "run_id": r[2],
            "priority": r[3],
            "spec": json.loads(r[4]),
            "created_at": r[5],
        }
        for r in rows
    ]


def queue_position(conn, sweep_id: int, idx: int = 0) -> int | None:
    """A queued point's place in the store's queue (1: the one a scheduler takes next, the
    order of `claim_next`); None for a point that is not queued."""
    row = conn.execute(
        "SELECT priority FROM sweep_points WHERE sweep_id=? AND idx=? AND status='queued'",
        (sweep_id, idx),
    ).fetchone()
    if row is None:
        return None
    ahead = conn.execute(
        "SELECT count(*) FROM sweep_points WHERE status='queued' AND (priority > ? OR "
        "(priority = ? AND (sweep_id < ? OR (sweep_id = ? AND idx < ?))))",
        (row[0], row[0], sweep_id, sweep_id, idx),
    ).fetchone()[0]
    return ahead + 1
