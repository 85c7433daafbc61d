"""The comparison figure: one curve (seed-mean with its 95% band) per run or per group."""

from __future__ import annotations

import json

from studio.compare.grouping import EACH_RUN, group_runs, pooled_summary, step_notice
from studio.export.figure import Curve, Figure
from studio.views.plot_style import metric_label
from studio.views.run_data import RunData

PREFERRED_METRICS = ("cumulative_regret", "loss", "hypervolume")


def common_metrics(datas: list[RunData]) -> list[str]:
    """Metrics every run recorded first (preferred ones leading), then those only some did."""
    seen: list[str] = []
    for data in datas:
        seen += [m for m in data.metrics() if m not in seen]
    everywhere = [m for m in seen if all(m in d.metrics() for d in datas)]
    ordered = [m for m in PREFERRED_METRICS if m in everywhere] + [
        m for m in everywhere if m not in PREFERRED_METRICS
    ]
    return ordered + [m for m in seen if m not in ordered]


def run_label(row: dict) -> str:
    return f"run {row['id']}: {row['name'] or row['algorithm']}"


def comparison_figure(
    rows: dict[int, dict], datas: dict[int, RunData], metric: str, group_key: str = EACH_RUN
) -> tuple[Figure, list[str], str]:
    """The figure, one note per curve (runs and seeds pooled, steps, or why it is not drawn),
    and the notice of how the runs were split into comparable sets ("" when they were not)."""
    specs = [(run_id, json.loads(rows[run_id]["spec_json"])) for run_id in rows]
    title = (
        metric_label(metric) if group_key == EACH_RUN else f"{metric_label(metric)} by {group_key}"
    )
    figure = Figure(title, "step", metric_label(metric))
    notes = []
    grouping = group_runs(specs, group_key)
    for set_label, group in grouping.groups:
        run_ids = group.run_ids
        label = run_label(rows[run_ids[0]]) if group_key == EACH_RUN else group.label
        if set_label:
            label = f"{label} | {set_label}"
        parts = [datas[i].aggregate_arrays(metric) for i in run_ids]
        summary = pooled_summary(parts)
        missing = [str(i) for i, part in zip(run_ids, parts) if part is None]
        if summary is None:
            notes.append(f"{label}: not drawn (run {', '.join(missing)} recorded no {metric})")
            continue
        pooled = len(run_ids) - len(missing)
        runs = f"{pooled} run{'s' if pooled > 1 else ''}"
        seeds = int(summary["n"].max())
        seeds_text = f"{seeds:,} seed{'s' if seeds != 1 else ''}"
        curve_label = label if group_key == EACH_RUN else f"{label} ({runs}, {seeds_text})"
        figure.curves.append(
            Curve(
                curve_label,
                summary["steps"].astype(float),
                summary["mean"],
                summary["lo"],
                summary["hi"],
            )
        )
        note = f"{curve_label}: {len(summary['steps'])} steps, {seeds_text} pooled"
        uneven = step_notice(run_ids, parts)
        if uneven:
            fewest = int(summary["n"].min())
            note += f" ({fewest} to {seeds} per step: {uneven})"
        if missing:
            note += f" (run {', '.join(missing)} recorded no {metric}: left out)"
        notes.append(note)
    return figure, notes, grouping.notice
