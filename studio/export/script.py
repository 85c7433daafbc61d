"""The short matplotlib script written beside an exported figure.

It reads the figure's CSV (series, kind, x, y, lo, hi: see `figure.write_figure_csv`)
and draws the same figure, so a user can restyle it for a paper. It needs only the
standard library and matplotlib; nothing of Tradeoff Studio.
"""

from __future__ import annotations

from studio.export.figure import Figure
from studio.export.render import PALETTE, FigureSize, sized_for

TEMPLATE = '''"""Rebuild "{doc_title}" from {csv_name} with matplotlib; restyle freely.

Written by Tradeoff Studio. Each row of the CSV is one drawn point: `series` is the
legend label, `kind` how it is drawn (mean: line with its 95% band lo..hi; bound:
dashed theory bound; front, dominated, reference: Pareto points; attainment: the
two-objective front's staircase, a line through its vertices). A figure of several
panels (a Pareto front of three or more objectives, pair by pair) has a `panel` column:
the index into PANELS.
Run: python {script_name}   (writes {output_name} beside this file)
"""

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
TITLE = {title!r}
PANELS = {panels!r}  # (title, x label, y label) of each panel
SIZE_INCHES = ({width}, {height})
FONT_SIZE = {font_pt}
COLOURS = {colours!r}


def number(text):
    return float(text) if text != "" else float("nan")


series = [{{}} for _ in PANELS]  # per panel: label -> (kind, xs, ys, los, his), in the order of the file
with open(HERE / {csv_name!r}, newline="", encoding="utf-8") as handle:
    for row in csv.DictReader(handle):
        panel = series[int(row.get("panel") or 0)]
        kind, xs, ys, los, his = panel.setdefault(row["series"], (row["kind"], [], [], [], []))
        xs.append(number(row["x"]))
        ys.append(number(row["y"]))
        los.append(number(row["lo"]))
        his.append(number(row["hi"]))

plt.rcParams.update({{"font.size": FONT_SIZE}})
columns = len(PANELS) if len(PANELS) <= 3 and SIZE_INCHES[0] / SIZE_INCHES[1] >= 1.6 else min(2, len(PANELS))
rows = math.ceil(len(PANELS) / columns)
fig, axes = plt.subplots(rows, columns, figsize=SIZE_INCHES, layout="constrained", squeeze=False)
for ax, (title, x_label, y_label), drawn in zip(axes.flat, PANELS, series):
    means = bounds = 0
    for label, (kind, xs, ys, los, his) in drawn.items():
        if kind == "mean":
            colour = COLOURS[means % len(COLOURS)]
            means += 1
            ax.fill_between(xs, los, his, color=colour, alpha=0.25, linewidth=0)
            ax.plot(xs, ys, color=colour, label=label)
        elif kind == "bound":
            ax.plot(xs, ys, linestyle="--", linewidth=1, color=plt.cm.Set1(bounds), label=label)
            bounds += 1
        elif kind == "attainment":
            ax.plot(xs, ys, "-", color="#d62728", linewidth=1.5)
        elif kind == "front":
            ax.plot(xs, ys, "o", color="#d62728", label=label)
        elif kind == "dominated":
            ax.plot(xs, ys, "o", color="#787878", alpha=0.4, label=label)
        elif kind == "reference":
            ax.plot(xs, ys, "x", color="#3c3c3c", markersize=8, label=label)
    ax.set_title(title, wrap=True)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.2)
for ax in axes.flat[len(PANELS):]:
    ax.axis("off")
if len(PANELS) > 1:
    fig.suptitle(TITLE, wrap=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    (axes.flat[-1] if len(PANELS) < axes.size else fig).legend(handles, labels, loc="center", frameon=False)
else:
    axes.flat[0].legend(loc="best", frameon=False)
fig.savefig(HERE / {output_name!r}, dpi=300)
'''


def matplotlib_script(
    figure: Figure, size: FigureSize, csv_name: str, script_name: str, output_name: str
) -> str:
    """The script's text; `csv_name` and `output_name` are file names beside the script."""
    colours = ["#{:02x}{:02x}{:02x}".format(*rgb) for rgb in PALETTE]
    # The title also appears inside the docstring, where quotes or backslashes would end or escape it.
    doc_title = figure.title.replace("\\", "/").replace('"', "'")
    size = sized_for(figure, size)
    panels = [(p.title, p.x_label, p.y_label) for p in figure.panels] or [
        (figure.title, figure.x_label, figure.y_label)
    ]
    return TEMPLATE.format(
        doc_title=doc_title,
        title=figure.title,
        panels=panels,
        csv_name=csv_name,
        script_name=script_name,
        output_name=output_name,
        width=size.width_in,
        height=size.height_in,
        font_pt=size.font_pt,
        colours=colours,
    )
