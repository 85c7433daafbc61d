"""Runs of a sweep written through the Store's own APIs, as the engine's recorder writes them:
aggregates over every seed at each checkpoint, per-seed values of the kept seeds only.

`fake_sweep` gives the dict `Store.sweep(id)` returns (docs: the sweep contract), for tests
that need a sweep before the store has sweep tables.
"""

from __future__ import annotations

import time

import numpy as np

from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import Store, aggregate_row
from tests.studio.conftest import TOY_ENTRIES

CATALOGUE = Catalogue.from_json(TOY_ENTRIES)


def write_run(
    store: Store,
    steps,
    values,
    metric: str = "loss",
    keep: int | None = None,
    rate: float = 0.5,
    scale: float = 1.0,
    status: str = "finished",
    extra: dict | None = None,
) -> int:
    """A run of `values` [checkpoints, seeds] at `steps`; `keep` seeds kept (None: all).
    `extra`: more metrics, name -> values of the same shape."""
    values = np.asarray(values, dtype=float)
    seeds = values.shape[1]
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": seeds, "steps": int(max(steps))},
            "algorithm": {"id": "toy.every_type", "rate": rate},
            "problem": {"id": "toy.quadratic", "scale": scale},
        },
        CATALOGUE,
    )
    run_id = store.create_run(spec, family="toy", plot="curves")
    store.start_run(run_id, {"device": "cpu"})
    kept = seeds if keep is None else keep
    now = time.time()
    for name, table in {metric: values, **(extra or {})}.items():
        table = np.asarray(table, dtype=float)
        aggregates = [aggregate_row(name, s, table[k], now) for k, s in enumerate(steps)]
        series = [
            (name, int(s), seed, float(table[k, seed]), now)
            for k, s in enumerate(steps)
            for seed in range(kept)
        ]
        store.append(run_id, series_rows=series, aggregate_rows=aggregates)
    if status != "running":
        store.finish_run(run_id, status)
    return run_id


def fake_sweep(sweep_id: int, keys, log_keys, points, status="finished", name="sweep") -> dict:
    """`Store.sweep`'s answer: points are (values dict, run_id or None, status)."""
    return {
        "id": sweep_id,
        "name": name,
        "created_at": 0.0,
        "status": status,
        "spec_toml": "",
        "keys": list(keys),
        "log_keys": list(log_keys),
        "points": [
            {"idx": i, "values": dict(values), "run_id": run_id, "status": st, "priority": 0}
            for i, (values, run_id, st) in enumerate(points)
        ],
    }
