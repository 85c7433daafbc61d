"""The SQLite store: the single source of truth for every run.

Engine processes are the only writers; the studio reads, through a `StoreReader`: the
read methods alone, on a connection SQLite itself keeps from writing (`query_only`).
`Store` is a `StoreReader` with the writers; `open_reader` makes or migrates a store
once, with a `Store`, and returns a reader. WAL mode lets readers poll while a writer
appends; every write is a short batched transaction, and every connection waits (busy
timeout) instead of failing with "database is locked".
Live views read by cursor: ``rowid > last_seen``. SQL is always parameterised.

The schema is documented in docs/store.md; `MIGRATIONS[i]` takes a store from
version i to i+1.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import sweep_store
from engine.blocks import Block, BlockError, from_rows
from engine.metrics.aggregate import AGGREGATE_FIELDS, seed_aggregates
from engine.store_file import why_not_a_store

if TYPE_CHECKING:
    import sqlite_utils

SCHEMA_VERSION = 6
BUSY_TIMEOUT_MS = 30_000
HEARTBEAT_SECONDS = 2.0
STALE_AFTER_SECONDS = 15.0
LIVE_STATUSES = ("queued", "running")
STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")
BOUND_SEED = -1  # the seed of series values that belong to no seed (theory bounds)
ENV_VAR = "TRADEOFF_STUDIO_DB"


class StoreError(RuntimeError):
    pass


class StoreNotReady(StoreError):
    """No store can be read at a path yet: there is no file, the file is an empty new store,
    or its schema is older than this program's. A writer (`Store`, as `open_reader` opens
    one) makes or migrates it."""


class RunLost(StoreError):
    """An engine's run row was deleted, ended or taken over by another process while the
    engine ran: the engine stops and writes nothing more."""

    def __init__(self, run_id: int, message: str):
        super().__init__(message)
        self.run_id = run_id


def default_path() -> Path:
    """The store file: $TRADEOFF_STUDIO_DB, else the user data directory."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return user_data_path()


def user_data_path() -> Path:
    """`runs.db` in the user data directory: the one store whose folder is made when missing."""
    import platformdirs

    return Path(platformdirs.user_data_dir("tradeoff-studio", appauthor=False)) / "runs.db"


def _migrate_0_to_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["runs"].create(
        {
            "id": int,
            "name": str,
            "status": str,
            "algorithm": str,
            "problem": str,
            "family": str,
            "plot": str,
            "seeds": int,
            "steps": int,
            "steps_done": int,
            "spec_toml": str,
            "spec_json": str,
            "hardware_json": str,
            "objectives_json": str,
            "created_at": float,
            "started_at": float,
            "finished_at": float,
            "pid": int,
            "host": str,
            "error": str,
        },
        pk="id",
        not_null={"status", "algorithm", "problem", "spec_toml", "created_at"},
    )
    db["heartbeats"].create(
        {"run_id": int, "beat_at": float, "step": int, "pid": int},
        pk="run_id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["series"].create(
        {
            "run_id": int,
            "metric": str,
            "step": int,
            "seed": int,
            "value": float,
            "wall_time": float,
        },
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["series"].create_index(["run_id", "metric", "step"])
    db["pareto_points"].create(
        {"run_id": int, "step": int, "seed": int, "point": int, "objectives": str, "label": str},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["pareto_points"].create_index(["run_id", "step"])
    db["runs"].create_index(["status"])


def _migrate_1_to_2(db: sqlite_utils.Database) -> None:
    # Tags and notes are the user's words about a run; existing runs start with none.
    db.execute("ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT ''")


def _migrate_2_to_3(db: sqlite_utils.Database) -> None:
    # Series move from one row per value to packed blocks (engine/blocks.py): the rows of
    # each run, metric and seed become one block, in the order they were written.
    db["series_blocks"].create(
        {
            "run_id": int,
            "metric": str,
            "seed0": int,
            "width": int,
            "n": int,
            "steps": bytes,
            "vals": bytes,
            "wall": bytes,
        },
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["series_blocks"].create_index(["run_id", "metric"])
    if "series" not in db.table_names():
        return
    runs = [r[0] for r in db.execute("SELECT DISTINCT run_id FROM series ORDER BY run_id")]
    for run_id in runs:
        rows = db.execute(
            "SELECT metric, step, seed, value, wall_time FROM series WHERE run_id=? ORDER BY rowid",
            (run_id,),
        ).fetchall()
        db.conn.executemany(_INSERT_BLOCK, [(run_id, *b.encode()) for b in from_rows(rows)])
    db.execute("DROP TABLE series")


def _migrate_3_to_4(db: sqlite_utils.Database) -> None:
    # When the engine process started, so that a process that later gets the same pid is
    # not taken for it. Runs written before are NULL: their liveness is judged by pid and time.
    db.execute("ALTER TABLE runs ADD COLUMN pid_start TEXT")


def _migrate_4_to_5(db: sqlite_utils.Database) -> None:
    # Aggregates over seeds, one row per run, metric and checkpoint, so that what a run
    # stores and what a reader loads do not grow with the seed count. Runs written before
    # kept every seed: their aggregates are computed here, once, from their series blocks.
    db.execute(f"CREATE TABLE series_aggregates ({_AGGREGATE_SCHEMA})")
    db.execute(
        "CREATE INDEX idx_series_aggregates_run_id_metric_step ON series_aggregates(run_id, metric, step)"
    )
    db.execute("ALTER TABLE runs ADD COLUMN kept_seeds INTEGER")
    for (run_id,) in db.execute(
        "SELECT DISTINCT run_id FROM series_blocks ORDER BY run_id"
    ).fetchall():
        _write_aggregates_from_blocks(db.conn, run_id, skip_damaged=True)


_AGGREGATE_SCHEMA = (
    "run_id INTEGER REFERENCES runs(id), metric TEXT, step INTEGER, n INTEGER, mean REAL, "
    "var REAL, min REAL, max REAL, q05 REAL, q25 REAL, q50 REAL, q75 REAL, q95 REAL, wall_time REAL"
)
AGGREGATE_COLUMNS = ("metric", "step", *AGGREGATE_FIELDS, "wall_time")
# Rows per INSERT statement when a batch's aggregate rows are written (`_insert_aggregates`).
# Each statement's execution lets the GIL go and takes it back: one per row made the store
# writer's thread and the engine's loop hand the GIL back and forth a thousand times a run.
AGGREGATE_ROWS_PER_INSERT = 64


def _insert_aggregates_sql(rows: int) -> str:
    """An INSERT of `rows` rows of series_aggregates (run_id first)."""
    one = f"({', '.join('?' * (len(AGGREGATE_COLUMNS) + 1))})"
    return (
        f"INSERT INTO series_aggregates(run_id, {', '.join(AGGREGATE_COLUMNS)}) "
        f"VALUES {', '.join([one] * rows)}"
    )


_INSERT_AGGREGATE = _insert_aggregates_sql(1)
_INSERT_AGGREGATES = _insert_aggregates_sql(AGGREGATE_ROWS_PER_INSERT)


def _insert_aggregates(conn, params: list[tuple]) -> None:
    """Insert rows of _INSERT_AGGREGATE's parameters, AGGREGATE_ROWS_PER_INSERT rows a
    statement, in their order (the rowids follow it, as row by row)."""
    per = AGGREGATE_ROWS_PER_INSERT
    whole = len(params) - len(params) % per
    flat = itertools.chain.from_iterable
    if whole:
        conn.executemany(
            _INSERT_AGGREGATES, (tuple(flat(params[i : i + per])) for i in range(0, whole, per))
        )
    if whole < len(params):
        conn.execute(_insert_aggregates_sql(len(params) - whole), tuple(flat(params[whole:])))


def aggregate_row(metric: str, step: int, values, wall_time: float) -> tuple:
    """One `series_aggregates` row (without run_id) for one checkpoint's values over seeds."""
    agg = seed_aggregates(values)
    return (metric, int(step), *(_real(agg[f]) for f in AGGREGATE_FIELDS), _real(wall_time))


_PLAIN_TYPES = frozenset((str, int, float, type(None)))


def _aggregate_params(run_id: int, rows) -> list[tuple]:
    """Parameters of _INSERT_AGGREGATE for `rows`. Rows of plain Python values (what the
    engine's recorder makes) go as they are, NaN included (SQLite stores a NaN as NULL);
    any other value (numpy scalars, say) is converted by `_real` first."""
    rows = rows if isinstance(rows, list) else list(rows)
    if set(map(type, itertools.chain.from_iterable(rows))) <= _PLAIN_TYPES:
        return list(map(tuple.__add__, itertools.repeat((run_id,)), map(tuple, rows)))
    return [(run_id, *(_real(v) if i >= 2 else v for i, v in enumerate(row))) for row in rows]


def _real(value):
    """A number as SQLite should keep it: NaN as NULL (SQLite makes NaN NULL anyway), ints as ints."""
    if value is None or isinstance(value, (int, np.integer)):
        return None if value is None else int(value)
    value = float(value)
    return None if math.isnan(value) else value


def _write_aggregates_from_blocks(conn, run_id: int, skip_damaged: bool = False) -> None:
    """Replace a run's aggregates by those of its stored per-seed values (bounds left out).

    A damaged block raises StoreError, or with `skip_damaged` (the migration: one damaged
    run must not make the whole store unreadable) is left out of the aggregates."""
    blocks = []
    for row in conn.execute(
        f"SELECT {_BLOCK_COLUMNS} FROM series_blocks WHERE run_id=? ORDER BY rowid", (run_id,)
    ).fetchall():
        try:
            blocks.append(Block.decode(*row))
        except BlockError as err:
            if not skip_damaged:
                raise StoreError(f"run {run_id}: {err}") from None
    conn.execute("DELETE FROM series_aggregates WHERE run_id=?", (run_id,))
    out = []
    for metric in dict.fromkeys(b.metric for b in blocks):
        own = [b for b in blocks if b.metric == metric and b.seed0 != BOUND_SEED]
        if not own:
            continue
        steps = np.concatenate([np.repeat(b.steps, b.width) for b in own])
        values = np.concatenate([b.values.reshape(-1) for b in own])
        walls = np.concatenate([np.repeat(b.wall_times, b.width) for b in own])
        order = np.argsort(steps, kind="stable")
        steps, values, walls = steps[order], values[order], walls[order]
        firsts = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1]])
        for a, b in zip(firsts.tolist(), np.r_[firsts[1:], len(steps)].tolist()):
            wall = walls[a:b]
            wall = float(np.nanmax(wall)) if not np.isnan(wall).all() else math.nan
            out.append(aggregate_row(metric, steps[a], values[a:b], wall))
    conn.executemany(_INSERT_AGGREGATE, [(run_id, *row) for row in out])


_INSERT_BLOCK = "INSERT INTO series_blocks(run_id, metric, seed0, width, n, steps, vals, wall) VALUES (?,?,?,?,?,?,?,?)"
_BLOCK_COLUMNS = "metric, seed0, width, n, steps, vals, wall"
MIGRATIONS = [
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
    _migrate_3_to_4,
    _migrate_4_to_5,
    sweep_store.migrate_5_to_6,
]
MAX_TAG_LENGTH = 64


def _store_path(path) -> Path:
    return Path(path).expanduser() if path is not None else default_path()


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly) that waits for a
    writer instead of failing with "database is locked"."""
    conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


class StoreReader:
    """One read-only connection to a store file: every read method and no writer. Not shared
    between threads.

    Its connection has `PRAGMA query_only` on, so SQLite refuses any statement that would
    change the file (SQLITE_READONLY), whoever issues it. It is an ordinary read-write
    open otherwise, so that WAL reads keep working: a reader maps the -shm index like any
    other connection and sees each commit of a writer as it lands. (SQLite's own
    housekeeping is unchanged: the last connection to close a store, a reader too, folds
    the -wal back into the file.)
    """

    def __init__(self, path=None):
        """Open the store at `path` (default: `default_path()`) for reading. Makes nothing.

        A file that is not a store this program can use is refused with the StoreError
        that `Store` gives (`engine.store_file.why_not_a_store`) and is left as it was; a
        missing file, an empty new store or an older schema is a `StoreNotReady`
        (`open_reader` has a `Store` make or migrate it first).
        """
        self.path = _store_path(path)
        if not self.path.exists():
            raise StoreNotReady(f"{self.path}: there is no store here yet")
        reason = why_not_a_store(self.path, SCHEMA_VERSION)
        if reason:
            raise StoreError(f"{self.path}: {reason}")
        conn = None
        try:
            # mode=rw: opening never creates a file, should this one vanish meanwhile.
            conn = _connect(f"{self.path.absolute().as_uri()}?mode=rw", uri=True)
            conn.execute("PRAGMA query_only = ON")
            self.conn = conn
            version = self._refuse_newer_schema()
            if version < SCHEMA_VERSION:
                raise StoreNotReady(
                    f"{self.path}: store schema version {version} is older than this "
                    f"program's ({SCHEMA_VERSION}) and must be migrated before it is read"
                    if version
                    else f"{self.path}: an empty store, not made yet"
                )
        except sqlite3.DatabaseError as err:
            if conn is not None:
                conn.close()
            raise StoreError(f"{self.path}: not a usable store ({err})") from None
        except StoreError:
            conn.close()
            raise

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- schema -----------------------------------------------------------------------
    def schema_version(self) -> int:
        if (
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            is None
        ):
            return 0
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _refuse_newer_schema(self):
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {version} is newer than this "
                f"program's ({SCHEMA_VERSION}); update Tradeoff Studio"
            )
        return version

    # -- reading -----------------------------------------------------------------------
    def data_version(self) -> int:
        """Changes whenever another connection has committed a write: a free "anything new?"."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    def run_states(self, now: float | None = None) -> list[dict]:
        """Every run's changing fields only (no spec or hardware text): what a live table polls.

        Keys: id, status (effective), stored_status, steps_done, finished_at, tags, notes,
        created_at, pid, host, pid_start, beat_at, engine_note; and error (the reason) where
        a run stored as live is shown as interrupted.
        """
        rows = self._rows(
            "SELECT r.id, r.status, r.steps_done, r.finished_at, r.tags, r.notes, r.created_at, "
            "r.pid, r.host, r.pid_start, h.beat_at FROM runs r LEFT JOIN heartbeats h ON h.run_id = r.id "
            "ORDER BY r.id"
        )
        return [_with_effective_status(r, now) for r in rows]

    def _rows(self, sql: str, params=()) -> list[dict]:
        cur = self.conn.execute(sql, params)
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def get_run(self, run_id: int, now: float | None = None) -> dict | None:
        rows = self._rows(
            "SELECT r.*, h.beat_at FROM runs r LEFT JOIN heartbeats h ON h.run_id = r.id WHERE r.id=?",
            (run_id,),
        )
        return _with_effective_status(rows[0], now) if rows else None

    def list_runs(self, now: float | None = None) -> list[dict]:
        rows = self._rows(
            "SELECT r.*, h.beat_at FROM runs r LEFT JOIN heartbeats h ON h.run_id = r.id ORDER BY r.id"
        )
        return [_with_effective_status(r, now) for r in rows]

    def live_run_ids(self) -> list[int]:
        """Ids of the runs stored as queued or running (whether or not their engine still lives)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM runs WHERE status IN (?, ?) ORDER BY id", LIVE_STATUSES
            )
        ]

    def metrics_of(self, run_id: int) -> list[str]:
        """The metrics a run recorded: those with per-seed values, aggregates or bounds."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT metric FROM series_blocks WHERE run_id=? UNION SELECT metric FROM series_aggregates "
                "WHERE run_id=? ORDER BY metric",
                (run_id, run_id),
            )
        ]

    def aggregates_since(self, run_id: int, after_rowid: int = 0) -> tuple[list[tuple], int]:
        """Aggregate rows of a run written after a cursor (a rowid), in write order, and the new
        cursor. Rows: (metric, step, n, mean, var, min, max, q05, q25, q50, q75, q95, wall_time);
        NULL (no value: var with n < 2, everything with n = 0) comes back as None."""
        rows = self.conn.execute(
            f"SELECT rowid, {', '.join(AGGREGATE_COLUMNS)} FROM series_aggregates "
            "WHERE rowid > ? AND +run_id = ? ORDER BY rowid",
            (after_rowid, run_id),
        ).fetchall()
        cursor = rows[-1][0] if rows else after_rowid
        return [tuple(row[1:]) for row in rows], cursor

    def aggregate_arrays(self, run_id: int, metric: str) -> dict[str, np.ndarray]:
        """One metric's aggregates as arrays sorted by step: step and n (int64), mean, var, min,
        max, q05 ... q95 and wall_time (float64, NULL as NaN)."""
        rows = self.conn.execute(
            f"SELECT {', '.join(AGGREGATE_COLUMNS[1:])} FROM series_aggregates WHERE run_id=? AND metric=? "
            "ORDER BY step, rowid",
            (run_id, metric),
        ).fetchall()
        names = AGGREGATE_COLUMNS[1:]
        if not rows:
            return {
                name: np.zeros(0, dtype=np.int64 if name in ("step", "n") else float)
                for name in names
            }
        columns = list(zip(*rows))
        return {
            name: (
                np.asarray(col, dtype=np.int64)
                if name in ("step", "n")
                else np.array([np.nan if v is None else v for v in col], dtype=float)
            )
            for name, col in zip(names, columns)
        }

    def _decoded(self, rows) -> list[Block]:
        try:
            return [Block.decode(*row) for row in rows]
        except BlockError as err:
            raise StoreError(f"{self.path}: {err}") from None

    def blocks_since(
        self, run_id: int, after_rowid: int = 0, max_values: int | None = None
    ) -> tuple[list[Block], int]:
        """Series blocks of a run written after a cursor (a rowid), in write order, and the new
        cursor. With `max_values`, stops after the block that reaches that many values."""
        cur = self.conn.execute(
            f"SELECT rowid, {_BLOCK_COLUMNS} FROM series_blocks WHERE rowid > ? AND +run_id = ? ORDER BY rowid",
            (after_rowid, run_id),
        )
        rows, total, cursor = [], 0, after_rowid
        for rowid, *row in cur:
            rows.append(row)
            cursor = rowid
            total += row[2] * row[3]
            if max_values is not None and total >= max_values:
                break
        cur.close()
        return self._decoded(rows), cursor

    def blocks_snapshot(self, run_id: int, metric: str | None = None) -> tuple[list[Block], int]:
        """Every block of a run (or of one metric), read in one transaction, and the cursor a
        reader continues from with `blocks_since`."""
        own = not self.conn.in_transaction
        if own:
            self.conn.execute("BEGIN")
        try:
            top = self.conn.execute("SELECT max(rowid) FROM series_blocks").fetchone()[0] or 0
            where, params = (
                ("run_id=? AND metric=?", (run_id, metric)) if metric else ("run_id=?", (run_id,))
            )
            rows = self.conn.execute(
                f"SELECT {_BLOCK_COLUMNS} FROM series_blocks WHERE {where} ORDER BY rowid", params
            ).fetchall()
        finally:
            if own:
                self.conn.execute("COMMIT")
        return self._decoded(rows), top

    def series_since(
        self, run_id: int, after_rowid: int = 0, limit: int = 200_000
    ) -> tuple[list[tuple], int]:
        """New series values as rows (metric, step, seed, value, wall_time) after a cursor; and the
        new cursor. Whole blocks are read, until at least `limit` values (or all) have come."""
        blocks, cursor = self.blocks_since(run_id, after_rowid, limit)
        return [row for block in blocks for row in block.rows()], cursor

    def series(self, run_id: int, metric: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Full series of one metric: seed -> (steps, values), steps ascending."""
        steps, seeds, values = self.series_arrays(run_id, metric)
        order = np.argsort(seeds, kind="stable")  # by seed, each seed's steps still ascending
        steps, seeds, values = steps[order], seeds[order], values[order]
        firsts = (
            np.flatnonzero(np.r_[True, seeds[1:] != seeds[:-1]])
            if len(seeds)
            else np.zeros(0, dtype=int)
        )
        ends = np.r_[firsts[1:], len(seeds)]
        return {
            int(seeds[a]): (steps[a:b], values[a:b]) for a, b in zip(firsts.tolist(), ends.tolist())
        }

    def series_arrays(self, run_id: int, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One metric's values as arrays (steps, seeds, values), ordered by step then seed.

        Bound values (seed -1) are included; NaN comes back as NaN.
        """
        blocks, _ = self.blocks_snapshot(run_id, metric)
        if not blocks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        steps = np.concatenate([np.repeat(b.steps, b.width) for b in blocks])
        seeds = np.concatenate([np.tile(b.seeds(), len(b)) for b in blocks])
        values = np.concatenate([b.values.reshape(-1) for b in blocks])
        order = np.lexsort((seeds, steps))
        return steps[order], seeds[order], values[order]

    def pareto_since(self, run_id: int, after_rowid: int = 0) -> tuple[list[dict], int]:
        rows = self.conn.execute(
            "SELECT rowid, step, seed, point, objectives, label FROM pareto_points WHERE run_id=? AND rowid>? "
            "ORDER BY rowid",
            (run_id, after_rowid),
        ).fetchall()
        cursor = rows[-1][0] if rows else after_rowid
        return [
            {
                "step": s,
                "seed": sd,
                "point": i,
                "objectives": json.loads(o),
                "label": json.loads(lab),
            }
            for _, s, sd, i, o, lab in rows
        ], cursor

    def run_of_engine(self, pid: int) -> int | None:
        """The live run (queued or running) whose engine is process `pid` on this host, if any."""
        row = self.conn.execute(
            "SELECT id FROM runs WHERE pid=? AND host=? AND status IN (?, ?) ORDER BY id DESC LIMIT 1",
            (pid, socket.gethostname(), *LIVE_STATUSES),
        ).fetchone()
        return row[0] if row else None

    # -- sweeps (SQL in engine/sweep_store.py) ----------------------------------------
    def sweeps(self) -> list[dict]:
        """Every sweep, newest first: {id, name, created_at, status, keys, log_keys, points,
        finished}. A sweep stored as running while no scheduler serves the store is shown
        interrupted."""
        return sweep_store.sweeps(self.conn)

    def sweep(self, sweep_id: int) -> dict:
        """One sweep with its points ordered by idx ({idx, values, run_id, status, priority});
        KeyError for an unknown id."""
        return sweep_store.sweep(self.conn, int(sweep_id))

    def sweep_of_run(self, run_id: int) -> int | None:
        return sweep_store.sweep_of_run(self.conn, int(run_id))

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]


class Store(StoreReader):
    """One connection to a store file that reads and writes: the engine's. Not shared between
    threads."""

    def __init__(self, path=None):
        """Open the store at `path` (default: `default_path()`), making it where there is no file.

        A file that is not a store this program can write is refused with a StoreError
        that names it and says why, and is left byte for byte as it was
        (`engine.store_file.why_not_a_store`).
        """
        # Not StoreReader.__init__: a writer makes a missing store and migrates an old one.
        self.path = _store_path(path)
        at_home = self.path == user_data_path()
        reason = why_not_a_store(self.path, SCHEMA_VERSION, folder_may_be_made=at_home)
        if reason:
            raise StoreError(f"{self.path}: {reason}")
        if at_home:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(
                    f"{self.path}: cannot make its folder ({err.strerror or err})"
                ) from None
        conn = None
        try:
            conn = _connect(str(self.path))
            self.conn, self._db = conn, None
            self._refuse_newer_schema()  # before the first write: a refused file stays as it was
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = wal")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as err:
            if conn is not None:
                conn.close()
            raise StoreError(f"{self.path}: not a usable store ({err})") from None
        except StoreError:
            conn.close()
            raise

    @property
    def db(self) -> sqlite_utils.Database:
        """The connection as a sqlite-utils Database, for migrations.

        Made on first use: sqlite-utils imports pandas whenever it is installed, a cost
        that opening a store (and so the studio's start) need not pay.
        """
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def _migrate(self):
        version = self._refuse_newer_schema()
        if version == SCHEMA_VERSION:
            return
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.schema_version()  # another process may have migrated meanwhile
            for step in MIGRATIONS[version:]:
                step(self.db)
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _write(self, sql: str, params=()):
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn.execute(sql, params)

    # -- writing (engine processes only) ------------------------------------------------
    # An engine writes only while its run is live and its own: every write below checks,
    # in the same transaction, that the row exists, is queued or running, and carries this
    # process's pid and start time. Otherwise it raises RunLost and writes nothing, so an
    # engine that was paused while its run was deleted, or marked interrupted, leaves no
    # orphan rows and never brings the run back.
    def _check_owned(self, run_id: int) -> None:
        row = self.conn.execute(
            "SELECT status, pid, pid_start FROM runs WHERE id=?", (run_id,)
        ).fetchone()
        if row is None:
            raise RunLost(
                run_id,
                f"run {run_id} was deleted from the store while its engine ran; "
                "the engine stopped, writing nothing more",
            )
        status, pid, start = row
        if status not in LIVE_STATUSES:
            why = (
                f" (its heartbeat had stopped for over {STALE_AFTER_SECONDS:.0f} s: paused, suspended or busy)"
                if status == "interrupted"
                else ""
            )
            raise RunLost(
                run_id,
                f"run {run_id} was marked {status} by another process while its engine ran{why}; "
                f"the engine stopped, writing nothing more, and the run stays {status}",
            )
        if pid != os.getpid() or start != own_process_start():
            raise RunLost(
                run_id,
                f"run {run_id} belongs to another engine process (pid {pid}); "
                "this one stopped, writing nothing more",
            )

    def _owned_write(self, run_id: int, statements) -> None:
        """Run (sql, params) statements in one transaction if this process owns the live run."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._check_owned(run_id)
            for sql, params in statements:
                self.conn.execute(sql, params)

    def create_run(self, spec, family: str, plot: str) -> int:
        now = time.time()
        keep = getattr(spec, "keep_seeds", "all")
        kept = (
            keep if isinstance(keep, int) and keep < spec.seeds else None
        )  # NULL: every seed kept
        cur = self._write(
            "INSERT INTO runs(name, status, algorithm, problem, family, plot, seeds, steps, steps_done,"
            " spec_toml, spec_json, created_at, pid, host, pid_start, kept_seeds)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                spec.name,
                "queued",
                spec.algorithm,
                spec.problem,
                family,
                plot,
                spec.seeds,
                spec.steps,
                0,
                spec.to_toml(),
                json.dumps(spec.to_dict()),
                now,
                os.getpid(),
                socket.gethostname(),
                own_process_start(),
                kept,
            ),
        )
        return cur.lastrowid

    def start_run(self, run_id: int, hardware: dict) -> None:
        now = time.time()
        self._owned_write(
            run_id,
            [
                (
                    "UPDATE runs SET status='running', started_at=?, hardware_json=? WHERE id=?",
                    (now, json.dumps(hardware), run_id),
                ),
                (
                    "INSERT OR REPLACE INTO heartbeats(run_id, beat_at, step, pid) VALUES (?,?,?,?)",
                    (run_id, now, 0, os.getpid()),
                ),
            ],
        )

    def set_objectives(self, run_id: int, names, directions, reference_point) -> None:
        """Declare a run's objectives: names, 'min'/'max' each, and the hypervolume reference point."""
        doc = {
            "names": list(names),
            "directions": list(directions),
            "reference_point": [float(v) for v in reference_point],
        }
        self._owned_write(
            run_id, [("UPDATE runs SET objectives_json=? WHERE id=?", (json.dumps(doc), run_id))]
        )

    def heartbeat(self, run_id: int, step: int) -> None:
        self._owned_write(
            run_id,
            [
                (
                    "UPDATE heartbeats SET beat_at=?, step=? WHERE run_id=?",
                    (time.time(), step, run_id),
                ),
                ("UPDATE runs SET steps_done=? WHERE id=?", (step, run_id)),
            ],
        )

    def append(
        self,
        run_id: int,
        series_rows=(),
        pareto_rows=(),
        steps_done: int | None = None,
        blocks=(),
        aggregate_rows=(),
    ) -> None:
        """Write one batch in one transaction.

        blocks: `engine.blocks.Block`s (what the engine's recorder writes);
        series_rows: (metric, step, seed, value, wall_time) tuples, stored as blocks too;
        pareto_rows: (step, seed, point, objectives list, label dict) tuples;
        aggregate_rows: (metric, step, n, mean, var, min, max, q05, q25, q50, q75, q95,
        wall_time) tuples, one per metric and checkpoint (`aggregate_row` makes one).
        Aggregates are not derived from the series written here: a writer that writes
        per-seed values alone can add them afterwards with `compute_aggregates`.
        """
        encoded = [(run_id, *b.encode()) for b in [*blocks, *from_rows(series_rows)] if len(b)]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self._check_owned(run_id)
            self.conn.executemany(_INSERT_BLOCK, encoded)
            _insert_aggregates(self.conn, _aggregate_params(run_id, aggregate_rows))
            self.conn.executemany(
                "INSERT INTO pareto_points(run_id, step, seed, point, objectives, label) VALUES (?,?,?,?,?,?)",
                (
                    (run_id, s, sd, i, json.dumps(obj), json.dumps(lab))
                    for s, sd, i, obj, lab in pareto_rows
                ),
            )
            if steps_done is not None:
                self.conn.execute("UPDATE runs SET steps_done=? WHERE id=?", (steps_done, run_id))

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
        """The engine's last write: the run's final status (RunLost if the run is no longer its own)."""
        if status not in STATUSES:
            raise ValueError(status)
        self._owned_write(
            run_id,
            [
                (
                    "UPDATE runs SET status=?, finished_at=?, error=? WHERE id=?",
                    (status, time.time(), error, run_id),
                )
            ],
        )

    def reap_stale(self, now: float | None = None) -> list[int]:
        """Store `interrupted`, with its reason, for the live runs whose engine is gone (see
        `engine_liveness`); return their ids. Decided inside the write transaction, so a
        heartbeat that lands meanwhile is seen."""
        stamp = time.time() if now is None else now
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = [
                _with_effective_status(r, stamp)
                for r in self._rows(
                    "SELECT r.*, h.beat_at FROM runs r LEFT JOIN heartbeats h ON h.run_id = r.id "
                    "WHERE r.status IN (?, ?)",
                    LIVE_STATUSES,
                )
            ]
            stale = [
                (r["finished_at"], r["error"], r["id"])
                for r in rows
                if r["status"] == "interrupted"
            ]
            self.conn.executemany(
                "UPDATE runs SET status='interrupted', finished_at=?, error=? WHERE id=?", stale
            )
        return [run_id for *_, run_id in stale]

    def fail_run_of_dead_engine(self, run_id: int, reason: str) -> bool:
        """Store `failed` with the reason for a live run whose engine process is known dead
        (a scheduler saw its worker die); False when the run had already ended."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            return (
                self.conn.execute(
                    "UPDATE runs SET status='failed', finished_at=?, error=? WHERE id=? "
                    "AND status IN (?, ?)",
                    (time.time(), reason, run_id, *LIVE_STATUSES),
                ).rowcount
                > 0
            )

    # -- the user's words about runs (written by `tradeoff tag/note/delete`) -------------
    def set_tags(self, run_id: int, add=(), remove=()) -> list[str]:
        """Add and remove tags of a run in one transaction; return its tags, in the order added."""
        add = [check_tag(t) for t in add]
        remove = [check_tag(t) for t in remove]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            row = self.conn.execute("SELECT tags FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run {run_id} in {self.path}")
            tags = [t for t in json.loads(row[0]) if t not in remove]
            tags += [t for t in dict.fromkeys(add) if t not in tags and t not in remove]
            self.conn.execute("UPDATE runs SET tags=? WHERE id=?", (json.dumps(tags), run_id))
        return tags

    def set_notes(self, run_id: int, notes: str) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if (
                self.conn.execute("UPDATE runs SET notes=? WHERE id=?", (notes, run_id)).rowcount
                == 0
            ):
                raise StoreError(f"no run {run_id} in {self.path}")

    def delete_runs(self, run_ids, now: float | None = None) -> None:
        """Delete runs with their series, Pareto points and heartbeats, all in one transaction.

        Refused, deleting nothing, when an id is unknown or a run's engine may still be
        alive (its effective status is queued or running, see `engine_liveness`): a paused
        engine is alive. A run taken for interrupted by time alone (its engine on another
        host) can be deleted: should its engine come back, its writes find the row gone
        and it stops, writing nothing.
        """
        ids = list(dict.fromkeys(int(i) for i in run_ids))
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = {
                r["id"]: _with_effective_status(r, now)
                for r in self._rows(
                    "SELECT r.*, h.beat_at FROM runs r LEFT JOIN heartbeats h ON h.run_id = r.id "
                    f"WHERE r.id IN ({','.join('?' * len(ids))})",
                    ids,
                )
            }
            missing = [i for i in ids if i not in rows]
            if missing:
                raise StoreError(
                    f"no run {', '.join(map(str, missing))} in {self.path}; nothing deleted"
                )
            live = [rows[i] for i in ids if rows[i]["status"] in LIVE_STATUSES]
            if live:
                raise StoreError(f"{_still_alive(live[0])}; stop it first; nothing deleted")
            for table, column in (
                ("series_blocks", "run_id"),
                ("series_aggregates", "run_id"),
                ("pareto_points", "run_id"),
                ("heartbeats", "run_id"),
                ("runs", "id"),
            ):
                self.conn.executemany(f"DELETE FROM {table} WHERE {column}=?", [(i,) for i in ids])
            sweep_store.forget_runs(self.conn, ids)

    def compute_aggregates(self, run_id: int) -> None:
        """Replace a run's aggregates by those of its stored per-seed values: what the migration
        to schema 5 does for the runs written before, for stores written by hand."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            _write_aggregates_from_blocks(self.conn, run_id)

    # -- sweeps (SQL in engine/sweep_store.py) ----------------------------------------
    def create_sweep(self, sweep, priority: int = 0) -> int:
        """Record a validated `engine.sweep.Sweep` with all its points queued."""
        return sweep_store.create_sweep(self.conn, sweep, priority)

    def cancel_sweep(self, sweep_id: int, idx: int | None = None) -> list[tuple]:
        """Cancel a sweep's queued and running points (or one point); [(sweep_id, idx, run_id)]."""
        if sweep_store.point_specs(self.conn, sweep_id) == []:
            raise StoreError(f"no sweep {sweep_id} in {self.path}")
        return sweep_store.cancel(self.conn, sweep_id=sweep_id, idx=idx)

    def cancel_point_of_run(self, run_id: int) -> list[tuple]:
        return sweep_store.cancel(self.conn, run_id=run_id)


def open_reader(path=None) -> StoreReader:
    """A `StoreReader` on the store at `path` (default: `default_path()`), made or migrated first
    where it must be: how the studio opens a store.

    Where there is no store yet (no file, or an empty `.db` file) or its schema is older
    than this program's, a `Store` is opened once and closed: it makes or migrates the
    store, and refuses, leaving it untouched, any file that is not a store, exactly as
    `Store(path)` does. That one-time creation or migration is the only write the studio
    causes; everything else it changes goes through engine processes.
    """
    path = _store_path(path)
    try:
        return StoreReader(path)
    except StoreNotReady:
        pass
    Store(path).close()
    return StoreReader(path)


def check_tag(tag) -> str:
    """A tag as stored: trimmed, non-empty, one line, at most MAX_TAG_LENGTH characters."""
    if not isinstance(tag, str):
        raise StoreError(f"a tag must be text, got {tag!r}")
    text = tag.strip()
    if not text:
        raise StoreError("a tag must not be empty")
    if len(text) > MAX_TAG_LENGTH:
        raise StoreError(f"tag {text[:20]!r}... is longer than {MAX_TAG_LENGTH} characters")
    if any(c in text for c in "\n\r\t,"):
        raise StoreError(f"tag {text!r} must not contain a comma, a tab or a line break")
    return text


# -- liveness: is the engine of a live run still there? ------------------------------------
_boot_id: str | None = None


def _proc_available() -> bool:
    return os.path.exists("/proc/self/stat")


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time) of a process from /proc/<pid>/stat, None if there is none.

    The start time is '<boot id>:<field 22, clock ticks after boot>': with the boot id, a
    process of a later boot that happens to have the same pid and ticks is not the same.
    """
    global _boot_id
    try:
        data = Path(f"/proc/{int(pid)}/stat").read_bytes()
        if _boot_id is None:
            _boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()  # the command name may hold spaces and ')'
    return fields[0].decode(), f"{_boot_id}:{int(fields[19])}"


def process_start(pid: int) -> str | None:
    """When a process started (see `_proc_stat`); None where there is no /proc or no such process."""
    stat = _proc_stat(pid) if _proc_available() else None
    return stat[1] if stat else None


_own_start: dict[int, str | None] = {}


def own_process_start() -> str | None:
    """`process_start` of this process, read once (per pid: a forked child reads its own)."""
    pid = os.getpid()
    if pid not in _own_start:
        _own_start[pid] = process_start(pid)
    return _own_start[pid]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_running(pid: int, start: str | None) -> bool | None:
    """Whether the engine process on this host still runs: True, False, or None when the pid
    exists but this system cannot tell the engine from a later process with its pid (no
    /proc, as on macOS, or a run recorded before start times were)."""
    if _proc_available():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):  # gone, or a zombie: it has exited
            return False
        return stat[1] == start if start else None
    return None if _pid_alive(pid) else False


def _clock(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _last_sign(row: dict) -> str:
    if row.get("beat_at"):
        return f"last heartbeat at {_clock(row['beat_at'])} (step {row.get('steps_done') or 0})"
    return f"created at {_clock(row['created_at'])}, no heartbeat yet"


def engine_liveness(row: dict, now: float | None = None) -> tuple[str, str | None]:
    """Whether the engine of a run stored as queued or running is still there.

    Returns (verdict, text); the text names only fixed times, so it does not change from
    one poll to the next:

    - ("alive", None or a note): its heartbeat is fresh, or it ran on this host and its
      process, the same pid with the same start time, still exists. A stale heartbeat
      then means the engine is paused (SIGSTOP, a debugger, a suspended machine) or
      busy, never dead; the note says so.
    - ("ended", reason): it ran on this host and its process is gone, a zombie, or its
      pid now belongs to another process (a different start time).
    - ("silent", reason): its heartbeat is older than STALE_AFTER_SECONDS and its process
      cannot be checked: it ran on another host, or this system has no /proc and the pid
      exists (it may have been reused), or the run predates recorded start times. Time
      alone judges it ended.

    Readers show "ended" and "silent" runs as interrupted.
    """
    now = time.time() if now is None else now
    beat = row.get("beat_at") or row["created_at"]
    stale = now - beat > STALE_AFTER_SECONDS
    pid, host = row.get("pid"), row.get("host")
    since = f"no heartbeat since {_clock(beat)}"
    if pid and host == socket.gethostname():
        running = _process_running(pid, row.get("pid_start"))
        if running is False:
            return (
                "ended",
                f"the engine process (pid {pid}) ended without finishing (killed or crashed); {_last_sign(row)}",
            )
        if running:
            return "alive", (
                f"{since}, but its engine process (pid {pid}) is alive: paused or busy"
                if stale
                else None
            )
        if not stale:
            return "alive", None
        return "silent", (
            f"{since} (over {STALE_AFTER_SECONDS:.0f} s) from the engine process (pid {pid}); this "
            "system cannot tell whether that pid is still the engine, so it is taken for ended "
            f"by time alone; {_last_sign(row)}"
        )
    if not stale:
        return "alive", None
    where = f" (pid {pid} on host {host})" if host else ""
    return "silent", (
        f"{since} (over {STALE_AFTER_SECONDS:.0f} s) from the engine{where}; its process cannot be "
        f"checked from this host, so it is taken for ended by time alone; {_last_sign(row)}"
    )


def _still_alive(row: dict) -> str:
    """Why a run whose effective status is live cannot be deleted."""
    if row.get("engine_note"):
        who = row["engine_note"]
    elif row.get("host") == socket.gethostname():
        who = f"its engine process (pid {row['pid']}) is alive"
    else:
        who = (
            f"its engine (pid {row['pid']} on host {row['host']}) sent a heartbeat at "
            f"{_clock(row.get('beat_at') or row['created_at'])}"
        )
    return f"run {row['id']} is still {row['status']}: {who}"


def _with_effective_status(row: dict, now: float | None) -> dict:
    """Add `status` as a reader should show it: a live run whose engine is gone is interrupted.

    `stored_status` keeps what the row says. For a run shown as interrupted that is not yet
    stored so, `error` holds the reason and `finished_at` its last sign of life, as
    `reap_stale` will store them. `engine_note` says when a live run's heartbeat is stale
    although its process is alive (paused or busy); else None.
    """
    row["stored_status"] = row["status"]
    row["engine_note"] = None
    if row["status"] in LIVE_STATUSES:
        verdict, text = engine_liveness(row, now)
        if verdict == "alive":
            row["engine_note"] = text
        else:
            row["status"] = "interrupted"
            row["error"] = text
            row["finished_at"] = row.get("beat_at") or row["created_at"]
    return row
