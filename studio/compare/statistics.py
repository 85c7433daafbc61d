"""The compared groups' kept seeds at a summary: what Compare's Statistics tab tests.

The groups are Compare's own (`group_runs`: one per value of the grouped key within each
comparable set, or one per run); each group pools the kept seeds' values of its runs at
the summary (`engine.metrics.run_summary`). Pure numpy: no Qt.
"""

from __future__ import annotations

import json

import numpy as np

from engine.metrics.run_summary import Summary, summarise
from studio.compare.figures import run_label
from studio.compare.grouping import EACH_RUN, group_runs
from studio.views.run_data import RunData


def kept_seed_values(data: RunData, metric: str, summary: Summary) -> np.ndarray:
    """One run's kept seeds' values at the summary (empty when it kept none or lacks the metric)."""
    aggregates = data.aggregate_arrays(metric)
    table = data.tables.get(metric)
    if aggregates is None or table is None or not table.rows:
        return np.zeros(0)
    return summarise(aggregates, summary, (table.steps, table.values)).seed_values


def group_seed_values(
    rows: dict[int, dict], datas: dict[int, RunData], metric: str, group_key: str, summary: Summary
) -> dict[str, np.ndarray]:
    """Label -> the pooled kept seeds' values of each group (groups without any left out)."""
    specs = [(run_id, json.loads(rows[run_id]["spec_json"])) for run_id in rows]
    out = {}
    for set_label, group in group_runs(specs, group_key).groups:
        label = run_label(rows[group.run_ids[0]]) if group_key == EACH_RUN else group.label
        if set_label:
            label = f"{label} | {set_label}"
        parts = [kept_seed_values(datas[i], metric, summary) for i in group.run_ids]
        values = np.concatenate(parts) if parts else np.zeros(0)
        if len(values):
            out[label] = values
    return out
