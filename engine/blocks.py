"""Series as packed blocks: how the store keeps recorded values.

A block is one metric over a run of recorded steps and a contiguous range of seeds:
`steps` [n] (int64), `values` [n, width] (float64, seed `seed0 + j` in column j) and
`wall_times` [n] (float64, seconds since the run started). The store keeps each block
as one row whose arrays are little-endian BLOBs, so a flush of a thousand seeds at a
hundred checkpoints is one row, and reading a million values is a few `frombuffer`
calls instead of a million Python tuples.

Values are stored as they are, NaN and infinities included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_DTYPE = np.dtype("<i8")
VALUE_DTYPE = np.dtype("<f8")


class BlockError(ValueError):
    """A stored block whose arrays do not fit together: the store is damaged."""


@dataclass
class Block:
    metric: str
    seed0: int
    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray

    @property
    def width(self) -> int:
        return self.values.shape[1]

    def __len__(self) -> int:
        return len(self.steps)

    def encode(self) -> tuple:
        """(metric, seed0, width, n, steps, values, wall_times) with the arrays as bytes."""
        return (
            self.metric,
            int(self.seed0),
            self.width,
            len(self.steps),
            np.ascontiguousarray(self.steps, dtype=STEP_DTYPE).tobytes(),
            np.ascontiguousarray(self.values, dtype=VALUE_DTYPE).tobytes(),
            np.ascontiguousarray(self.wall_times, dtype=VALUE_DTYPE).tobytes(),
        )

    @classmethod
    def decode(
        cls,
        metric: str,
        seed0: int,
        width: int,
        n: int,
        steps: bytes,
        values: bytes,
        wall_times: bytes,
    ) -> Block:
        sizes = (len(steps), len(values), len(wall_times))
        if n < 0 or width < 1 or sizes != (8 * n, 8 * n * width, 8 * n):
            raise BlockError(
                f"series block of {metric!r} is damaged: {n} steps x {width} seeds "
                f"but {sizes[0]}, {sizes[1]} and {sizes[2]} bytes"
            )
        return cls(
            metric,
            seed0,
            np.frombuffer(steps, dtype=STEP_DTYPE).astype(np.int64),
            np.frombuffer(values, dtype=VALUE_DTYPE).reshape(n, width).astype(float),
            np.frombuffer(wall_times, dtype=VALUE_DTYPE).astype(float),
        )

    def seeds(self) -> np.ndarray:
        return np.arange(self.seed0, self.seed0 + self.width, dtype=np.int64)

    def rows(self) -> list[tuple]:
        """(metric, step, seed, value, wall_time) per value, step by step, seeds ascending."""
        seeds = self.seeds().tolist()
        return [
            (self.metric, step, seed, value, wall)
            for step, row, wall in zip(
                self.steps.tolist(), self.values.tolist(), self.wall_times.tolist()
            )
            for seed, value in zip(seeds, row)
        ]


def from_rows(rows) -> list[Block]:
    """Blocks holding rows (metric, step, seed, value, wall_time): one block per metric and
    seed, the rows of each in the order given. None as a value is stored as NaN."""
    groups: dict[tuple[str, int], list[tuple]] = {}
    for metric, step, seed, value, wall in rows:
        groups.setdefault((metric, int(seed)), []).append((step, value, wall))
    blocks = []
    for (metric, seed), items in groups.items():
        steps, values, walls = zip(*items)
        blocks.append(
            Block(
                metric,
                seed,
                np.asarray(steps, dtype=np.int64),
                np.asarray([np.nan if v is None else v for v in values], dtype=float).reshape(
                    -1, 1
                ),
                np.asarray([np.nan if w is None else w for w in walls], dtype=float),
            )
        )
    return blocks


def columns(
    blocks: list[Block],
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocks as one row per value: (metrics, metric_index, steps, seeds, values, wall_times).

    `metrics` are in the order first seen; rows keep block order, then step, then seed.
    """
    metrics: dict[str, int] = {}
    parts: list[tuple] = []
    for block in blocks:
        index = metrics.setdefault(block.metric, len(metrics))
        n, width = block.values.shape
        parts.append(
            (
                np.full(n * width, index, dtype=np.int64),
                np.repeat(block.steps, width),
                np.tile(block.seeds(), n),
                block.values.reshape(-1),
                np.repeat(block.wall_times, width),
            )
        )
    if not parts:
        empty_int, empty = np.zeros(0, dtype=np.int64), np.zeros(0)
        return [], empty_int, empty_int.copy(), empty_int.copy(), empty, empty.copy()
    joined = [np.concatenate(column) for column in zip(*parts)]
    return list(metrics), *joined
