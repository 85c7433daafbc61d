"""Every plot kind the studio knows, in one table: a new kind is one entry here.

An algorithm declares its plot kind (`engine.registry.PLOT_KINDS`); the studio looks the
kind up here for everything it does with it: the live view that shows a run
(`LivePlot`), the words the catalogue shows for it, and what an exported figure of a
run shows when no metric is named (`studio.export.figure.run_figure`): a metric against
steps (`SERIES`, with the run's theory bounds where the kind draws them) or the latest
Pareto front (`FRONT`). A run whose kind is unknown or missing is shown as DEFAULT_KIND.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QWidget

from studio.views.pareto_view import HYPERVOLUME_METRIC, ParetoView
from studio.views.series_views import CurvesView, RegretView

# What an exported figure of a run shows when no metric is named.
SERIES = "series"  # the default metric against steps, its seed-mean with its 95% band
FRONT = "front"  # the Pareto front of the latest recorded step


@dataclass(frozen=True)
class PlotKind:
    name: str  # as algorithms declare it (engine.registry.PLOT_KINDS)
    words: str  # what the catalogue says the plot shows
    view: type[QWidget]  # the live view of one run
    figure: str  # SERIES or FRONT: the exported figure when no metric is named
    default_metric: str  # the metric a SERIES figure shows (the first recorded when absent)
    theory_bounds: bool = False  # the run's theory bounds are drawn with the default metric


KINDS: dict[str, PlotKind] = {
    kind.name: kind
    for kind in (
        PlotKind(
            "regret",
            "regret curves",
            RegretView,
            SERIES,
            RegretView.METRIC,
            theory_bounds=True,
        ),
        PlotKind("curves", "metric curves", CurvesView, SERIES, CurvesView.DEFAULT_METRIC),
        PlotKind("pareto", "Pareto front and hypervolume", ParetoView, FRONT, HYPERVOLUME_METRIC),
    )
}
DEFAULT_KIND = "curves"  # a run that names no kind (or one this studio does not know)


def kind_of(name: str | None) -> PlotKind:
    """The kind called `name`; DEFAULT_KIND's when there is none of that name."""
    return KINDS.get(name or "", KINDS[DEFAULT_KIND])


def words_for(name: str) -> str:
    """The catalogue's words for a kind; an unknown kind's own name."""
    return KINDS[name].words if name in KINDS else name
