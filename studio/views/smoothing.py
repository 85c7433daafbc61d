"""Debiased exponential moving average: the smoothing TensorBoard draws scalars with.

With weight w in [0, 1), over the finite values x_1, x_2, ... of a series:

    s_0 = 0,   s_k = w s_{k-1} + (1 - w) x_k,   smoothed_k = s_k / (1 - w^k).

Dividing by 1 - w^k removes the pull towards the zero start (a constant series c
smooths to c exactly, not to c (1 - w^k)). Non-finite values are passed through as they
are and do not advance the average; a constant series is returned unchanged. This is
TensorBoard's `classicSmoothing` (webapp/widgets/line_chart_v2/data_transformer.ts).

It always runs on the full-resolution series: the views smooth first and thin for the
screen afterwards, so a spike that was averaged away stays averaged away at every zoom.
The recurrence is solved in blocks of about sqrt(n) (a numpy loop over block positions,
then one carry per block), so a million points smooth in milliseconds, and
`EmaSmoother` recomputes only from the first value that changed since its last call.
"""

from __future__ import annotations

import math

import numpy as np

MAX_WEIGHT = 0.999  # at w = 1 the average would never move from its zero start


def check_weight(weight: float) -> float:
    weight = float(weight)
    if not (0.0 <= weight <= MAX_WEIGHT):
        raise ValueError(f"smoothing weight must be in [0, {MAX_WEIGHT}]; got {weight}")
    return weight


def linear_recurrence(inputs: np.ndarray, decay: float, start: float = 0.0) -> np.ndarray:
    """s_k = decay * s_{k-1} + inputs_k for k = 1..n, from s_0 = start; returns s_1..s_n.

    Blocked: within each block of B ~ sqrt(n) positions the recurrence is run from zero
    for all blocks at once (B vector steps), then each block adds decay^(j+1) times the
    state carried in from the previous block (one scalar step per block). Every power
    of `decay` used is <= 1, so nothing overflows.
    """
    inputs = np.asarray(inputs, dtype=float)
    n = len(inputs)
    if n == 0:
        return np.empty(0)
    if decay == 0.0:
        return inputs.copy()
    width = max(1, math.isqrt(n))
    blocks = -(-n // width)
    padded = np.zeros(blocks * width)
    padded[:n] = inputs
    # Position-major, so each vector step below reads one contiguous row.
    columns = np.ascontiguousarray(padded.reshape(blocks, width).T)
    local = np.empty_like(columns)
    local[0] = columns[0]
    for j in range(1, width):
        np.multiply(local[j - 1], decay, out=local[j])
        local[j] += columns[j]
    ends = local[-1]
    decay_block = decay**width
    carried = np.empty(blocks)
    state = float(start)
    for i in range(blocks):
        carried[i] = state
        state = decay_block * state + ends[i]
    powers = decay ** np.arange(1, width + 1, dtype=float)
    local += powers[:, None] * carried[None, :]
    return local.T.reshape(-1)[:n]


def _debias(weight: float, counts: np.ndarray) -> np.ndarray:
    """1 - weight^count; past the count where weight^count < 1e-18 it is exactly 1.0 in floats."""
    out = np.ones(len(counts))
    if weight > 0.0:
        horizon = math.ceil(math.log(1e-18) / math.log(weight))
        early = counts < horizon
        out[early] = 1.0 - weight ** counts[early].astype(float)
    return out


def debiased_ema(values, weight: float) -> np.ndarray:
    """The whole series smoothed; see the module docstring."""
    return EmaSmoother(weight).smooth(np.asarray(values, dtype=float))


class EmaSmoother:
    """Smooths a growing series, recomputing only from its first changed value.

    A live mean over seeds grows at its end and may change in its last rows (a late
    seed arrives). The caller may say from where it changed (`changed_from`); otherwise
    the smoother compares the new series with the one it last saw. The recurrence
    restarts there from the state kept for that position. The returned array is a view
    of a buffer the next call rewrites from `changed_from` on: callers that keep it see
    the same updates they would draw anyway.
    """

    def __init__(self, weight: float):
        self.weight = check_weight(weight)
        self._length = 0
        self._input = np.empty(0)
        self._state = np.empty(0)  # s after each position (carried over non-finite ones)
        self._count = np.empty(0, dtype=np.int64)  # finite values up to each position
        self._output = np.empty(0)

    def _first_change(self, values: np.ndarray) -> int:
        common = min(len(values), self._length)
        old, new = self._input[:common], values[:common]
        differs = (old != new) & ~(np.isnan(old) & np.isnan(new))
        changed = np.flatnonzero(differs)
        return int(changed[0]) if changed.size else common

    def smooth(self, values: np.ndarray, changed_from: int | None = None) -> np.ndarray:
        """The smoothed series; `changed_from`, when given, promises that values before it are unchanged."""
        values = np.asarray(values, dtype=float)
        n = len(values)
        if self.weight == 0.0:
            return values.copy()
        start = (
            self._first_change(values)
            if changed_from is None
            else min(changed_from, self._length, n)
        )
        if start < n or n != self._length:
            self._extend(values, start)
        if n and values[0] == values[-1] and np.all(values == values[0]):
            return values.copy()
        return self._output[:n]

    def _reserve(self, n: int) -> None:
        if n <= len(self._input):
            return
        size = max(n, 2 * len(self._input), 256)
        for name in ("_input", "_state", "_count", "_output"):
            old = getattr(self, name)
            new = np.empty(size, dtype=old.dtype)
            new[: self._length] = old[: self._length]
            setattr(self, name, new)

    def _extend(self, values: np.ndarray, start: int) -> None:
        n = len(values)
        w = self.weight
        self._reserve(n)
        state0 = self._state[start - 1] if start > 0 else 0.0
        count0 = int(self._count[start - 1]) if start > 0 else 0
        tail = values[start:]
        finite = np.isfinite(tail)
        all_finite = bool(finite.all())
        accum = linear_recurrence((1.0 - w) * (tail if all_finite else tail[finite]), w, state0)
        if all_finite:
            counts = count0 + np.arange(1, len(tail) + 1, dtype=np.int64)
            state_tail = accum
        else:
            counts = count0 + np.cumsum(finite)
            # Non-finite positions keep the state of the last finite one before them.
            state_tail = np.full(len(tail), np.nan)
            state_tail[finite] = accum
            last_finite = np.maximum.accumulate(np.where(finite, np.arange(len(tail)), -1))
            state_tail = np.where(last_finite >= 0, state_tail[np.maximum(last_finite, 0)], state0)
        finite_counts = counts if all_finite else counts[finite]
        out_tail = tail.copy()
        out_tail[finite] = accum / _debias(w, finite_counts)
        self._state[start:n] = state_tail
        self._count[start:n] = counts
        self._output[start:n] = out_tail
        self._input[start:n] = tail
        self._length = n
