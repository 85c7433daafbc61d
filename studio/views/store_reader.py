"""Series read from the store straight into numpy columns, for the plots.

The store keeps series as packed blocks (engine/blocks.py): a few rows, each holding
many values as BLOBs, so a read is a handful of `frombuffer` calls whatever the number
of values. Two reads, both read-only and parameterised:

- `series_since`: the blocks of one run written after a cursor (a rowid), whole
  blocks until at least `limit` values have come: the live views' poll.
- `series_all`: every block of a run, in one read transaction, and the cursor a live
  view continues from.

Either way the blocks come back as they are (what the studio's tables take, block by
block) and, when asked, as one row per value (metric index, step, seed, value, wall time).
"""

from __future__ import annotations

import numpy as np

from engine import blocks as series_blocks


class SeriesColumns:
    """Blocks read from the store, and the same values as columns, one entry per value.

    The columns (`metrics`, `metric_index` indexing it, `steps`, `seeds`, `values`,
    `wall_times`) are built on first use: a table takes whole blocks (`blocks`) without
    them, which for a run of many seeds saves expanding every value into five arrays.
    `more` says that the read stopped at its limit and more may be waiting.
    """

    def __init__(self, blocks, cursor: int, more: bool = False):
        self.blocks = list(blocks)
        self.cursor = cursor
        self.more = more
        self._columns = None

    def __len__(self) -> int:
        return sum(block.values.size for block in self.blocks)

    @classmethod
    def from_blocks(cls, blocks, cursor: int, more: bool = False) -> SeriesColumns:
        return cls(blocks, cursor, more)

    def _column(self, index: int):
        if self._columns is None:
            self._columns = series_blocks.columns(self.blocks)
        return self._columns[index]

    metrics = property(lambda self: self._column(0))
    metric_index = property(lambda self: self._column(1))
    steps = property(lambda self: self._column(2))
    seeds = property(lambda self: self._column(3))
    values = property(lambda self: self._column(4))
    wall_times = property(lambda self: self._column(5))

    def of_metric(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(steps, seeds, values, wall_times) of the values of one metric, in read order."""
        rows = self.metric_index == index
        return self.steps[rows], self.seeds[rows], self.values[rows], self.wall_times[rows]


def series_since(store, run_id: int, after_rowid: int, limit: int) -> SeriesColumns:
    """Blocks of `run_id` after the cursor, until at least `limit` values; and the new cursor."""
    blocks, cursor = store.blocks_since(run_id, after_rowid, limit)
    more = sum(b.values.size for b in blocks) >= limit
    return SeriesColumns.from_blocks(blocks, cursor, more)


def series_all(store, run_id: int) -> SeriesColumns:
    """Every value of a run, read as one consistent snapshot; `cursor` is where it ends."""
    blocks, cursor = store.blocks_snapshot(run_id)
    return SeriesColumns.from_blocks(blocks, cursor)
