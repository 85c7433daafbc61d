"""Group runs by a spec parameter and pool their seeds: the numbers behind Compare.

A group's curve pools every seed of every run in it: at each step all the group's runs
recorded, the seed values of all those runs form one sample, summarised by
`engine.metrics.seed_summary` (mean and the 95% band of the mean). Steps that only some
runs recorded are left out, so every point of a group's curve averages the same runs.
Pure numpy: no Qt.
"""

from __future__ import annotations

import json

import numpy as np

from engine.metrics import seed_summary
from engine.spec import SECTIONS

EACH_RUN = ""  # the "group by" choice that keeps every run on its own


def parameter_value(spec: dict, key: str):
    """The value of "section.name" in a spec document (`spec_json`); None when absent."""
    section, _, name = key.partition(".")
    return spec.get(section, {}).get(name)


def value_text(value) -> str:
    """Compact and unambiguous: 2.0, [0.1, 0.2], "cpu" as cpu, a missing value as "-"."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def group_keys(specs: list[dict]) -> list[str]:
    """Every "section.name" in the specs: those whose value differs between runs first, then the rest."""
    keys = []
    for section in SECTIONS:
        for spec in specs:
            for name in spec.get(section, {}):
                key = f"{section}.{name}"
                if key not in keys:
                    keys.append(key)
    varying = [k for k in keys if len({value_text(parameter_value(s, k)) for s in specs}) > 1]
    return varying + [k for k in keys if k not in varying]


def group_runs(run_specs: list[tuple[int, dict]], key: str) -> list[tuple[str, list[int]]]:
    """(label, run ids) per value of `key`, in the order the values first appear; EACH_RUN: one group per run."""
    if key == EACH_RUN:
        return [(f"run {run_id}", [run_id]) for run_id, _ in run_specs]
    groups: dict[str, list[int]] = {}
    for run_id, spec in run_specs:
        value = parameter_value(spec, key)
        # A run whose algorithm or problem has no such parameter forms its own group.
        groups.setdefault(f"{key} = {'(none)' if value is None else value_text(value)}", []).append(run_id)
    return list(groups.items())


def pooled_summary(tables) -> dict | None:
    """Pool the seeds of several runs' `SeedTable`s of one metric at the steps all of them recorded.

    Returns steps, mean, lo, hi, n (seeds pooled per step), or None when the runs share
    no recorded step.
    """
    tables = [t for t in tables if t is not None and t.rows]
    if not tables:
        return None
    common = tables[0].steps
    for table in tables[1:]:
        common = np.intersect1d(common, table.steps)
    if len(common) == 0:
        return None
    common = np.sort(common)
    columns = []
    for table in tables:
        index = {int(s): i for i, s in enumerate(table.steps)}
        columns.append(table.values[[index[int(s)] for s in common]])
    pooled = np.hstack(columns)  # steps x (all seeds of all runs)
    summary = seed_summary(pooled, axis=1)
    return {"steps": common, "mean": np.atleast_1d(summary["mean"]), "lo": np.atleast_1d(summary["lo"]),
            "hi": np.atleast_1d(summary["hi"]), "n": np.atleast_1d(summary["n"])}
