"""Running a Lab 3 spec through the real runner and reading back what it stored."""

import json
import math

import numpy as np

from engine import registry
from engine.runner import execute
from engine.spec import RunSpec
from engine.store import Store

SEED = 7


def run_spec(
    tmp_path,
    algorithm: dict,
    problem: dict,
    steps: int,
    seeds: int = 3,
    seed: int = SEED,
    dtype: str = "float64",
    record_every: int = 0,
):
    """Run one spec into a temporary store; return (store, run row, validated spec).
    `record_every` thins the series (and so the hypervolume computations) of long runs."""
    data = {
        "run": {"steps": steps, "seeds": seeds, "seed": seed, "record_every": record_every},
        "algorithm": algorithm,
        "problem": problem,
        "hardware": {"device": "cpu", "dtype": dtype},
    }
    spec = RunSpec.from_dict(data, registry.Catalogue.live())
    store = Store(tmp_path / f"{algorithm['id']}-{problem['id']}-{seed}.db")
    run_id, status = execute(spec, store, "cpu")
    row = store.get_run(run_id)
    assert status == "finished", row["error"]
    return store, row, spec


def stored_fronts(store, run_id) -> dict[int, tuple[np.ndarray, list[dict]]]:
    """step -> (points [seeds, P, objectives], the P labels of seed 0) from the stored Pareto rows."""
    rows, _ = store.pareto_since(run_id, 0)
    out = {}
    for step in sorted({r["step"] for r in rows}):
        at = sorted((r for r in rows if r["step"] == step), key=lambda r: r["point"])
        seeds = max(r["seed"] for r in at) + 1
        points = np.array([r["objectives"] for r in at])
        points = points.reshape(seeds, -1, points.shape[1])
        out[step] = (points, [r["label"] for r in at[: points.shape[1]]])
    return out


def final_front(store, run_id) -> tuple[np.ndarray, list[dict]]:
    fronts = stored_fronts(store, run_id)
    return fronts[max(fronts)]


def recorded_objectives(row) -> dict:
    """The run's declared objectives, with a finite reference point."""
    doc = json.loads(row["objectives_json"])
    assert all(math.isfinite(v) for v in doc["reference_point"])
    return doc


def last_values(store, run_id, metric) -> np.ndarray:
    """The metric's value at the last recorded step, per seed."""
    return np.array([values[-1] for _, (_, values) in sorted(store.series(run_id, metric).items())])
