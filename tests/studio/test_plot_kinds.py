"""Plot kinds live in one table (studio/views/kinds.py), and exported figures draw a run's
series with the live views' pens: same colours, same dashes, same palette in the script."""

import ast
import io
import math
import re
import tokenize
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from engine.registry import PLOT_KINDS
from studio.export import render
from studio.export.figure import BOUND, Figure, run_figure
from studio.export.script import matplotlib_script
from studio.views import kinds, plot_style
from studio.views.run_data import RunData
from studio.views.series_views import CurvesView, RegretView

ROOT = Path(__file__).resolve().parents[2]
# String literals equal to a kind's name that are not about plot kinds, or not yet moved.
NOT_A_KIND = {
    "studio/views/kinds.py": {"regret", "curves", "pareto"},  # the table itself
    "studio/export/engine_export.py": {"pareto"},  # the engine's Pareto table, as a file name
    "studio/sweeps/tradeoff_view.py": {"regret"},  # a word looked for in metric names
}
STEPS = (1, 2, 3)


def test_the_table_holds_every_kind_the_engine_declares_and_each_field():
    assert tuple(kinds.KINDS) == PLOT_KINDS
    for name, kind in kinds.KINDS.items():
        assert kind.name == name
        assert kind.words and kind.words != name
        assert issubclass(kind.view, QWidget)
        assert kind.figure in (kinds.SERIES, kinds.FRONT)
        assert kind.default_metric
    assert kinds.DEFAULT_KIND in kinds.KINDS


def _string_literals(path: Path) -> list[str]:
    values = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type == tokenize.STRING:
            try:
                values.append(ast.literal_eval(token.string))
            except ValueError:  # an f-string: its pieces are not kind names either way
                continue
    return values


def test_no_code_outside_the_table_names_a_kind():
    """Adding a kind is adding its entry to kinds.py: the studio looks every kind up there
    (the live view, the catalogue's words, the exported figure, the default kind)."""
    named = {}
    for path in sorted((ROOT / "studio").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        found = set(_string_literals(path)) & set(PLOT_KINDS)
        if found - NOT_A_KIND.get(relative, set()):
            named[relative] = sorted(found)
    assert named == {}, f"these name plot kinds; look them up in studio/views/kinds.py: {named}"


def test_a_kind_added_to_the_table_is_known_to_the_catalogue_the_views_and_export(monkeypatch):
    new = kinds.PlotKind("accuracy", "accuracy curves", CurvesView, kinds.SERIES, "accuracy")
    monkeypatch.setitem(kinds.KINDS, "accuracy", new)
    data = RunData()
    data.add_series(
        [("loss", s, seed, 1.0 / s, 0.0) for s in STEPS for seed in range(2)]
        + [("accuracy", s, seed, 0.1 * s + 0.1 * seed, 0.0) for s in STEPS for seed in range(2)]
    )
    figure = run_figure(data, "accuracy")
    (mean,) = figure.curves
    assert figure.y_label == "accuracy" and np.allclose(mean.mean, [0.15, 0.25, 0.35])
    assert run_figure(data, "curves").y_label == "loss"  # the curves kind's default stays
    assert kinds.words_for("accuracy") == "accuracy curves"
    assert kinds.kind_of("accuracy").view is CurvesView
    assert kinds.kind_of("no such kind") is kinds.KINDS[kinds.DEFAULT_KIND]
    assert kinds.kind_of(None) is kinds.KINDS[kinds.DEFAULT_KIND]
    assert kinds.words_for("no such kind") == "no such kind"


def regret_data() -> RunData:
    """Three seeds of cumulative regret, an upper and a lower theory bound."""
    data = RunData()
    rows = [
        ("cumulative_regret", s, seed, s * (seed + 1.0), 0.1 * s)
        for s in STEPS
        for seed in range(3)
    ]
    rows += [("regret_upper_bound", s, -1, 10.0 * s, 0.0) for s in STEPS]
    rows += [("regret_lower_bound", s, -1, math.log(s), 0.0) for s in STEPS]
    data.add_series(rows)
    return data


def _pen_look(pen):
    return pen.color().getRgb(), pen.style()


def test_the_exported_figure_draws_the_series_with_the_live_views_pens(qtbot):
    data = regret_data()
    view = RegretView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.render(data)
    series = view.series
    on_screen_bounds = [series.bound_curves[name] for name in series.bound_curves]
    figure = run_figure(data, "regret")
    assert [c.label for c in figure.curves if c.kind == BOUND] == [
        plot_style.bound_label(name) for name in series.bound_curves
    ]
    widget = render.offscreen_plot(figure, render.SIZES["column"])
    try:
        items = widget.getPlotItem().items
        bands = [i for i in items if isinstance(i, pg.FillBetweenItem)]
        lines = [i for i in items if isinstance(i, pg.PlotDataItem) and i.opts["pen"] is not None]
        lines = [i for i in lines if pg.mkPen(i.opts["pen"]).style() != Qt.PenStyle.NoPen]
        means = [i for i in lines if pg.mkPen(i.opts["pen"]).style() == Qt.PenStyle.SolidLine]
        bounds = [i for i in lines if pg.mkPen(i.opts["pen"]).style() == Qt.PenStyle.DashLine]
        (band,), (mean,) = bands, means
        assert np.allclose(mean.getOriginalDataset()[1], [2.0, 4.0, 6.0])
        assert _pen_look(pg.mkPen(mean.opts["pen"])) == _pen_look(series.mean_curve.opts["pen"])
        assert _pen_look(pg.mkPen(mean.opts["pen"]))[0] == (*plot_style.MEAN_COLOUR, 255)
        assert band.brush().color().getRgb() == series.band.brush().color().getRgb()
        assert band.brush().color().alpha() == plot_style.BAND_ALPHA
        assert [_pen_look(pg.mkPen(b.opts["pen"])) for b in bounds] == [
            _pen_look(c.opts["pen"]) for c in on_screen_bounds
        ]
        assert [_pen_look(pg.mkPen(b.opts["pen"]))[0][:3] for b in bounds] == list(
            plot_style.BOUND_COLOURS[:2]
        )
        # Widened for paper in the view's proportions: a bound is 3/4 of the mean's width.
        ratio = pg.mkPen(bounds[0].opts["pen"]).widthF() / pg.mkPen(mean.opts["pen"]).widthF()
        assert ratio == pytest.approx(plot_style.BOUND_WIDTH / plot_style.MEAN_WIDTH)
    finally:
        widget.close()


def test_draw_series_widens_every_line_by_its_scale(qapp):
    item = pg.PlotItem()
    x = np.array([1.0, 2.0])
    drawn = plot_style.draw_series(
        item,
        plot_style.RUN_COLOURS[1],
        2.5,
        mean=(x, x),
        band=(x, x - 1, x + 1),
        bounds=[(x, 2 * x), (x, 3 * x)],
        first_bound=1,
    )
    assert drawn.mean.opts["pen"].widthF() == pytest.approx(5.0)
    assert drawn.mean.opts["pen"].color().getRgb()[:3] == plot_style.RUN_COLOURS[1]
    assert drawn.band.brush().color().getRgb() == (
        *plot_style.RUN_COLOURS[1],
        plot_style.BAND_ALPHA,
    )
    assert [b.opts["pen"].widthF() for b in drawn.bounds] == pytest.approx([3.75, 3.75])
    assert [b.opts["pen"].color().getRgb()[:3] for b in drawn.bounds] == list(
        plot_style.BOUND_COLOURS[1:3]
    )


def _script_constants(source: str) -> dict:
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper()
        and isinstance(node.value, (ast.List, ast.Constant))
    }


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def test_the_matplotlib_script_takes_its_colours_from_the_studios_palette():
    figure = Figure("t", "step", "loss")
    source = matplotlib_script(figure, render.SIZES["column"], "f.csv", "f.py", "f.png")
    constants = _script_constants(source)
    assert constants["COLOURS"] == [_hex(c) for c in plot_style.RUN_COLOURS]
    assert constants["BOUND_COLOURS"] == [_hex(c) for c in plot_style.BOUND_COLOURS]
    assert constants["FRONT_COLOUR"] == _hex(plot_style.FRONT_COLOUR)
    assert constants["DOMINATED_COLOUR"] == _hex(plot_style.DOMINATED_COLOUR)
    assert constants["REFERENCE_COLOUR"] == _hex(plot_style.REFERENCE_COLOUR)
    assert constants["BAND_ALPHA"] == pytest.approx(plot_style.BAND_ALPHA / 255, abs=1e-3)
    assert constants["DOMINATED_ALPHA"] == pytest.approx(
        plot_style.DOMINATED_COLOUR[3] / 255, abs=1e-3
    )
    # Every colour the script draws with is one of those: none of its own.
    named = {v for k, v in constants.items() if k.endswith("COLOUR")}
    named |= set(constants["COLOURS"]) | set(constants["BOUND_COLOURS"])
    assert set(re.findall(r"#[0-9a-fA-F]{6}\b", source)) <= named
    assert "plt.cm" not in source


def test_an_axis_on_screen_is_drawn_once_per_change_with_two_levels_of_grid(qtbot):
    """A plot on screen keeps each axis (with its grid) as a pixmap, drawn again only when
    the axis changes, not at each repaint a curve asks for; axes draw ticks and grid lines
    at two spacings (log axes: decades and 2..9), not pyqtgraph's third, finer one."""
    from pyqtgraph.graphicsItems.AxisItem import AxisItem

    widget = plot_style.new_plot()
    qtbot.addWidget(widget)
    widget.resize(800, 500)
    widget.show()
    item = widget.getPlotItem()
    item.setLogMode(x=True)
    curve = item.plot([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [3, 1, 4, 1, 5, 9, 2, 6])
    item.getViewBox().setRange(xRange=(-0.7, 1.6), yRange=(0.0, 1000.0), padding=0.0)
    left = item.getAxis("left")
    assert left.cacheMode() == AxisItem.CacheMode.DeviceCoordinateCache
    levels = left.tickValues(0.0, 1000.0, 500)
    assert len(levels) == 2  # the finer third level (every 10 here) is left out
    (_, log_ticks), *rest = item.getAxis("bottom").tickValues(-0.7, 1.6, 800)
    assert rest == []
    assert np.log10([2, 3, 4, 5, 6, 7, 8, 9]) == pytest.approx(
        [t for t in log_ticks if 0.0 < t < 1.0]
    )  # the log axis keeps its 2..9 lines in each decade
    painted = []
    draw = AxisItem.paint

    def counting(self, *args):
        painted.append(self.orientation)
        return draw(self, *args)

    AxisItem.paint = counting
    try:
        widget.grab()  # paints the scene now
        painted.clear()
        curve.setData([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0], [2, 7, 1, 8, 2, 8, 1, 8])
        widget.grab()  # paints the scene now
        assert painted == []  # the curve changed, the axes did not: their pixmaps are kept
        item.getViewBox().setYRange(0.0, 2000.0, padding=0.0)
        widget.grab()  # paints the scene now
        assert "left" in painted  # a new range draws the axis again
    finally:
        AxisItem.paint = draw
    # an exported figure's axes are drawn anew at its own resolution, not cached
    exported = pg.PlotItem()
    plot_style.style_axes(exported)
    assert exported.getAxis("left").cacheMode() == AxisItem.CacheMode.NoCache
