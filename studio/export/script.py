"""The short matplotlib script written beside an exported figure.

It reads the figure's CSV (series, kind, x, y, lo, hi: see `figure.write_figure_csv`)
and draws the same figure, so a user can restyle it for a paper. It needs only the
standard library and matplotlib; nothing of Tradeoff Studio.
"""

from __future__ import annotations

from studio.export.figure import Figure
from studio.export.render import FigureSize, sized_for
from studio.views import plot_style

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
# The studio's palette (studio/views/plot_style.py), so the figure looks as exported.
COLOURS = {colours!r}  # runs' means and bands, in order
BOUND_COLOURS = {bound_colours!r}  # theory bounds, dashed, in order
FRONT_COLOUR = {front_colour!r}
DOMINATED_COLOUR = {dominated_colour!r}
DOMINATED_ALPHA = {dominated_alpha!r}
REFERENCE_COLOUR = {reference_colour!r}
BAND_ALPHA = {band_alpha!r}


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
            ax.fill_between(xs, los, his, color=colour, alpha=BAND_ALPHA, linewidth=0)
            ax.plot(xs, ys, color=colour, label=label)
        elif kind == "bound":
            colour = BOUND_COLOURS[bounds % len(BOUND_COLOURS)]
            ax.plot(xs, ys, linestyle="--", linewidth=1, color=colour, label=label)
            bounds += 1
        elif kind == "attainment":
            ax.plot(xs, ys, "-", color=FRONT_COLOUR, linewidth=1.5)
        elif kind == "front":
            ax.plot(xs, ys, "o", color=FRONT_COLOUR, label=label)
        elif kind == "dominated":
            ax.plot(xs, ys, "o", color=DOMINATED_COLOUR, alpha=DOMINATED_ALPHA, label=label)
        elif kind == "reference":
            ax.plot(xs, ys, "x", color=REFERENCE_COLOUR, markersize=8, label=label)
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
        colours=[hex_colour(rgb) for rgb in plot_style.RUN_COLOURS],
        bound_colours=[hex_colour(rgb) for rgb in plot_style.BOUND_COLOURS],
        front_colour=hex_colour(plot_style.FRONT_COLOUR),
        dominated_colour=hex_colour(plot_style.DOMINATED_COLOUR),
        dominated_alpha=round(plot_style.DOMINATED_COLOUR[3] / 255, 3),
        reference_colour=hex_colour(plot_style.REFERENCE_COLOUR),
        band_alpha=round(plot_style.BAND_ALPHA / 255, 3),
    )


def hex_colour(rgb) -> str:
    """matplotlib's "#rrggbb" of an (r, g, b[, alpha]) colour; the alpha is given apart."""
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])
