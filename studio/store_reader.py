"""Series read from the store straight into numpy columns, for the plots.

The store keeps series as packed blocks (engine/blocks.py): a few rows, each holding
many values as BLOBs, so a read is a handful of `frombuffer` calls whatever the number
of values. Two reads, both read-only and parameterised:

- `series_since`: the blocks of one run written after a cursor (a rowid), whole
  blocks until at least `limit` values have come: the live views' poll.
- `series_all`: every block of a run, in one read transaction, and the cursor a live
  view continues from.

Either way the values come back as one row per value (metric index, step, seed,
value, wall time), which is what the studio's tables take.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import blocks as series_blocks


@dataclass
class SeriesColumns:
    """Values as columns, one entry per value; `metric_index[i]` indexes `metrics`.

    `more` says that the read stopped at its limit and more may be waiting.
    """

    metrics: list[str]
    metric_index: np.ndarray
    steps: np.ndarray
    seeds: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    cursor: int
    more: bool = False

    def __len__(self) -> int:
        return len(self.steps)

    @classmethod
    def from_blocks(cls, blocks, cursor: int, more: bool = False) -> "SeriesColumns":
        return cls(*series_blocks.columns(blocks), cursor, more)

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
