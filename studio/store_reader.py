"""Series rows read from the store straight into numpy columns, for the plots.

Two reads, both read-only and parameterised:

- `series_since`: the rows of one run after a cursor (rowid), in rowid order, at most
  `limit` of them: the live views' poll. The `+run_id` keeps SQLite on the rowid range
  (a primary-key search that starts at the cursor); with the (run_id, metric, step)
  index it would gather every row of the run and sort them on each poll, which for a
  run of a million rows costs a quarter of a second per poll.
- `series_all`: every row of a run, in one read transaction, and the cursor a live
  view continues from. The run's first rowid comes from its index entries; the rows
  are then read in one sequential rowid scan (looking each row up through the index
  instead is slower by half), and the metric comes back as a small integer per row.

Python's sqlite3 builds one tuple per row: about a microsecond per row of five
columns on a slow core, which is the floor of loading a large finished run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROW_WIDTH = 5  # metric index, step, seed, value, wall_time


@dataclass
class SeriesColumns:
    """Rows of `series` as columns; `metric_index[i]` indexes `metrics`. NaN where stored as NULL."""

    metrics: list[str]
    metric_index: np.ndarray
    steps: np.ndarray
    seeds: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    cursor: int

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_table(cls, metrics: list[str], table: np.ndarray, cursor: int) -> "SeriesColumns":
        table = table.reshape(-1, ROW_WIDTH)
        return cls(metrics, table[:, 0].astype(np.int64), table[:, 1].astype(np.int64),
                   table[:, 2].astype(np.int64), table[:, 3].copy(), table[:, 4].copy(), cursor)

    def of_metric(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(steps, seeds, values, wall_times) of the rows of one metric, in read order."""
        rows = self.metric_index == index
        return self.steps[rows], self.seeds[rows], self.values[rows], self.wall_times[rows]


def _table(cursor) -> np.ndarray:
    # Row by row from the cursor (no list of tuples); None (a NULL value) becomes NaN.
    return np.fromiter(cursor, dtype=np.dtype((float, ROW_WIDTH)))


def series_since(store, run_id: int, after_rowid: int, limit: int) -> SeriesColumns:
    """At most `limit` rows of `run_id` with rowid > `after_rowid`, and the new cursor.

    The metric names come first (a small query over the same rows), so that the rows
    themselves stream from the cursor into numpy one at a time: thousands of row tuples
    alive at once would wake Python's garbage collector, whose full passes over every
    Qt wrapper in the studio cost tens of milliseconds.
    """
    conn = store.conn
    metrics = [name for name, _ in conn.execute(
        "SELECT metric, min(rowid) AS first FROM (SELECT rowid, metric FROM series WHERE rowid > ? AND +run_id = ? "
        "ORDER BY rowid LIMIT ?) GROUP BY metric ORDER BY first", (after_rowid, run_id, limit))]
    if not metrics:
        return SeriesColumns.from_table([], np.empty((0, ROW_WIDTH)), after_rowid)
    number = " ".join(f"WHEN ? THEN {i}" for i in range(len(metrics)))
    rows = np.fromiter(conn.execute(
        f"SELECT rowid, CASE metric {number} END, step, seed, value, wall_time FROM series "
        "WHERE rowid > ? AND +run_id = ? ORDER BY rowid LIMIT ?", (*metrics, after_rowid, run_id, limit)),
        dtype=np.dtype((float, ROW_WIDTH + 1)))
    if len(rows) == 0:
        return SeriesColumns.from_table([], np.empty((0, ROW_WIDTH)), after_rowid)
    return SeriesColumns.from_table(metrics, rows[:, 1:], int(rows[-1, 0]))


def series_all(store, run_id: int) -> SeriesColumns:
    """Every series row of a run, read as one consistent snapshot; `cursor` is where it ends."""
    conn = store.conn
    own_transaction = not conn.in_transaction
    if own_transaction:
        conn.execute("BEGIN")
    try:
        top = conn.execute("SELECT max(rowid) FROM series").fetchone()[0] or 0
        firsts = conn.execute("SELECT metric, min(rowid) FROM series WHERE run_id = ? GROUP BY metric",
                              (run_id,)).fetchall()
        if not firsts:
            return SeriesColumns.from_table([], np.empty((0, ROW_WIDTH)), top)
        metrics = [name for name, _ in sorted(firsts, key=lambda pair: pair[1])]
        first = min(rowid for _, rowid in firsts)
        number = " ".join(f"WHEN ? THEN {i}" for i in range(len(metrics)))
        table = _table(conn.execute(
            f"SELECT CASE metric {number} END, step, seed, value, wall_time FROM series "
            "WHERE rowid BETWEEN ? AND ? AND +run_id = ?", (*metrics, first, top, run_id)))
    finally:
        if own_transaction:
            conn.execute("COMMIT")
    return SeriesColumns.from_table(metrics, table, top)
