"""What an export writes to disk: figure files with their CSV and script, and specs.

Figures are rendered from a `Figure` built from stored data; specs are the runs'
stored `spec_toml`, which `tradeoff run` reproduces. The run data itself (CSV/JSON)
is written by the engine's own `tradeoff export` (see `engine_export.py`).
"""

from __future__ import annotations

import re
from pathlib import Path

from studio.export import render
from studio.export.figure import Figure, write_figure_csv
from studio.export.script import matplotlib_script

FIGURE_FORMATS = ("png", "svg", "pdf")


def safe_name(text: str, fallback: str = "figure") -> str:
    """A file-name stem from free text: letters, digits, '-', '_' and '.', at most 60 characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60]
    return stem or fallback


def export_figure(
    figure: Figure,
    folder,
    stem: str,
    size: render.FigureSize,
    formats=FIGURE_FORMATS,
    dpi: int = render.PNG_DPI,
    with_script: bool = True,
) -> list[Path]:
    """Write `stem.<format>` for each format; with `with_script`, also `stem.csv` and `stem.py`.

    The script rebuilds the figure from the CSV (as `stem-matplotlib.png`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise ValueError(
            f"unknown figure format {unknown[0]!r} (formats: {', '.join(FIGURE_FORMATS)})"
        )
    written = []
    for fmt in formats:
        path = folder / f"{stem}.{fmt}"
        if fmt == "png":
            render.save_png(figure, path, size, dpi)
        elif fmt == "svg":
            render.save_svg(figure, path, size)
        else:
            render.save_pdf(figure, path, size)
        written.append(path)
    if with_script:
        csv_path = write_figure_csv(figure, folder / f"{stem}.csv")
        script_path = folder / f"{stem}.py"
        script_path.write_text(
            matplotlib_script(
                figure, size, csv_path.name, script_path.name, f"{stem}-matplotlib.png"
            ),
            encoding="utf-8",
        )
        written += [csv_path, script_path]
    return written


def spec_file_name(row: dict) -> str:
    """`run-<id>-<name or algorithm>.toml`: sorted by id, and says which run it came from."""
    return f"run-{row['id']}-{safe_name(row['name'] or row['algorithm'], 'spec')}.toml"


def export_specs(store, run_ids, folder) -> list[Path]:
    """Each run's stored spec as TOML in `folder`, one file per run; `tradeoff run FILE` reproduces it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for run_id in run_ids:
        row = store.get_run(run_id)
        if row is None:
            raise ValueError(f"no run {run_id} in {store.path}")
        path = folder / spec_file_name(row)
        header = f"# Tradeoff Studio run {row['id']} ({row['status']}); reproduce with: tradeoff run {path.name}\n"
        path.write_text(header + row["spec_toml"], encoding="utf-8")
        written.append(path)
    return written
