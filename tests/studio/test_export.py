"""Export: figures rendered from stored data (PNG, SVG, PDF with text as text), the CSV and
matplotlib script beside them, specs that reproduce runs, data written by the engine."""

import csv
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from xml.etree import ElementTree

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.spec import RunSpec
from engine.store import StoreReader
from studio.export import render
from studio.export.dialog import ExportDialog
from studio.export.engine_export import EngineExport, data_files
from studio.export.figure import (
    ATTAINMENT,
    BOUND,
    DOMINATED,
    FRONT,
    REFERENCE,
    Curve,
    Figure,
    PointSet,
    figure_rows,
    run_figure,
    write_figure_csv,
)
from studio.export.files import export_figure, export_specs
from studio.views.run_data import RunData

COLUMN = render.SIZES["column"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _application(qapp):
    """Offscreen plots are widgets: they need the QApplication even where no qtbot is used."""


@pytest.fixture
def regret_run(store, toy_catalogue):
    """A regret run with two seeds (values 1, 3 then 2, 6 then 4, 8) and a theory bound."""
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": 2, "steps": 3, "name": "hand made"},
            "algorithm": {"id": "toy.regret"},
            "problem": {"id": "toy.quadratic", "scale": 2.5},
        },
        toy_catalogue,
    )
    run_id = store.create_run(spec, family="toy", plot="regret")
    store.start_run(run_id, {"device": "cpu"})
    rows = [
        ("cumulative_regret", step, seed, value, 0.0)
        for step, values in ((1, (1.0, 3.0)), (2, (2.0, 6.0)), (3, (4.0, 8.0)))
        for seed, value in enumerate(values)
    ]
    rows += [("regret_upper_bound", step, -1, 10.0 * step, 0.0) for step in (1, 2, 3)]
    store.append(run_id, rows)
    store.finish_run(run_id, "finished")
    return run_id


def _figure(store, run_id):
    return run_figure(
        RunData.from_store(store, run_id), "regret", title="Regret of a hand-made run"
    )


def test_the_run_figure_holds_the_seed_mean_and_the_bound(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    mean, bound = figure.curves
    assert (
        mean.mean.tolist() == [2.0, 4.0, 6.0]
        and bound.kind == BOUND
        and bound.mean.tolist() == [10, 20, 30]
    )
    # step 1: values 1 and 3, sd sqrt(2), half-width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706205
    assert np.isclose(mean.lo[0], 2.0 - 12.706205) and np.isclose(mean.hi[0], 2.0 + 12.706205)
    path = write_figure_csv(figure, tmp_path / "f.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0] == {
        "series": "mean over seeds",
        "kind": "mean",
        "x": "1.0",
        "y": "2.0",
        "lo": repr(float(mean.lo[0])),
        "hi": repr(float(mean.hi[0])),
    }
    assert rows[3] == {
        "series": "upper bound (theory)",
        "kind": "bound",
        "x": "1.0",
        "y": "10.0",
        "lo": "",
        "hi": "",
    }
    assert len(rows) == len(figure_rows(figure)) == 6


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _png_dpi(data: bytes) -> float:
    at = data.index(b"pHYs")
    per_metre = struct.unpack(">I", data[at + 4 : at + 8])[0]
    return per_metre * 0.0254


def _pdf_text_objects(data: bytes) -> str:
    """The decompressed content of every Flate stream of a PDF (enough to see its operators and fonts)."""
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            out.append(zlib.decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            out.append(match.group(1).decode("latin-1"))
    return "\n".join(out)


def test_png_svg_pdf_are_valid_sized_and_keep_text(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    written = export_figure(figure, tmp_path, "regret", COLUMN)
    assert [p.name for p in written] == [
        "regret.png",
        "regret.svg",
        "regret.pdf",
        "regret.csv",
        "regret.py",
    ]

    png = (tmp_path / "regret.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_size(png) == (1050, 750)  # 3.5 x 2.5 in at 300 dpi
    assert round(_png_dpi(png)) == 300

    root = ElementTree.parse(tmp_path / "regret.svg").getroot()
    assert root.get("width") == "3.5in" and root.get("height") == "2.5in"
    lines = [t.text.strip() for t in root.iter(f"{SVG}text") if t.text and t.text.strip()]
    assert {"step", "cumulative regret", "mean over seeds", "upper bound (theory)"} <= set(lines)
    # The title may be wrapped to fit beside the legend: its lines, in order, make it whole.
    assert "Regret of a hand-made run" in " ".join(lines)

    pdf = (tmp_path / "regret.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert re.search(rb"/MediaBox \[0 0 252(\.0+)? 180(\.0+)?\]", pdf)  # 3.5 x 2.5 in, in points
    assert b"/FontFile2" in pdf and b"/ToUnicode" in pdf  # an embedded font, mapped back to text
    content = _pdf_text_objects(pdf)
    assert content.count(" Tj") + content.count(" TJ") >= 5  # text drawn as text, not as paths
    if shutil.which("gs"):
        text = subprocess.run(
            [
                "gs",
                "-q",
                "-dNOPAUSE",
                "-dBATCH",
                "-sDEVICE=txtwrite",
                "-sOutputFile=-",
                str(tmp_path / "regret.pdf"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        words = " ".join(text.split())  # ghostscript separates words by tabs
        assert (
            "Regret of a hand-made run" in words and "mean over seeds" in words and "step" in words
        )


def test_slide_size_and_an_offscreen_view_at_that_size(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    render.save_png(figure, tmp_path / "slide.png", render.SIZES["slide"], dpi=100)
    assert _png_size((tmp_path / "slide.png").read_bytes()) == (
        1000,
        562,
    )  # 10 x 5.625 in at 100 dpi
    widget = render.offscreen_plot(figure, render.SIZES["slide"])
    # Laid out at the slide's size in layout pixels (96 per inch), never put on the screen.
    assert (widget.width(), widget.height()) == (960, 540)
    assert widget.testAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    widget.close()


def test_the_matplotlib_script_compiles_and_rebuilds_the_figure(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    export_figure(figure, tmp_path, "regret", COLUMN, formats=())
    source = (tmp_path / "regret.py").read_text()
    compile(source, "regret.py", "exec")
    assert "'regret.csv'" in source and "(3.5, 2.5)" in source and "'cumulative regret'" in source
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed: the script compiles; running it needs matplotlib")
    result = subprocess.run(
        [sys.executable, str(tmp_path / "regret.py")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "regret-matplotlib.png").read_bytes()[:4] == b"\x89PNG"


def test_a_title_with_quotes_still_gives_a_valid_script(tmp_path):
    figure = Figure(
        'a """quoted""" \\ title',
        "step",
        "loss",
        [Curve("m", np.array([1.0, 2.0]), np.array([0.5, 0.25]))],
    )
    export_figure(figure, tmp_path, "q", COLUMN, formats=())
    compile((tmp_path / "q.py").read_text(), "q.py", "exec")


def test_exported_specs_reproduce_the_runs(store, regret_run, toy_catalogue, tmp_path):
    (path,) = export_specs(store, [regret_run], tmp_path / "specs")
    assert path.name == f"run-{regret_run}-hand-made.toml"
    spec = RunSpec.from_toml(path.read_text(), toy_catalogue)
    assert spec.to_dict() == json.loads(store.get_run(regret_run)["spec_json"])
    assert spec.problem_params == {"scale": 2.5}


def test_data_export_runs_the_engine_command(qtbot, store, regret_run, tmp_path):
    exporter = EngineExport(store.path)
    files = data_files([regret_run], tmp_path, ("csv", "json"))
    with qtbot.waitSignal(exporter.finished, timeout=30_000) as done:
        exporter.start(files)
    written, errors = done.args
    assert errors == [] and [p.rsplit("/", 1)[-1] for p in written] == [
        "run-1-series.csv",
        "run-1.json",
    ]
    rows = list(csv.DictReader((tmp_path / "run-1-series.csv").open()))
    regret = [
        (r["step"], r["seed"], r["value"]) for r in rows if r["metric"] == "cumulative_regret"
    ]
    assert regret[:2] == [("1", "0", "1.0"), ("1", "1", "3.0")]
    assert json.loads((tmp_path / "run-1.json").read_text())["spec"]["run"]["name"] == "hand made"


def test_dialog_exports_everything_and_copies_to_the_clipboard(qtbot, store, regret_run, tmp_path):
    reader = StoreReader(store.path)
    out = tmp_path / "out"
    dialog = ExportDialog(reader, [regret_run], folder=out)
    qtbot.addWidget(dialog)
    assert dialog.figure.title == "hand made" and dialog.stem_edit.text() == "run-1-hand-made"
    dialog.data_csv.setChecked(True)
    dialog.spec_box.setChecked(True)
    with qtbot.waitSignal(dialog.engine_export.finished, timeout=30_000):
        dialog.export_button.click()
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "run-1-hand-made.csv",
        "run-1-hand-made.pdf",
        "run-1-hand-made.png",
        "run-1-hand-made.py",
        "run-1-hand-made.svg",
        "run-1-hand-made.toml",
        "run-1-series.csv",
    ]
    assert "wrote 7 files" in dialog.result.text()
    dialog.copy_button.click()
    mime = QApplication.clipboard().mimeData()
    assert mime.hasImage() and b"<text" in bytes(mime.data("image/svg+xml"))
    reader.close()


# -- what an exported figure shows, and where its legend and labels go ---------------------------


def _three_objective_figure():
    from tests.studio.test_pareto_view import three_objective_run

    return run_figure(
        three_objective_run(), "pareto", title="a three-objective run with a long name"
    )


def _two_objective_figure():
    from tests.studio.test_pareto_view import two_objective_run

    return run_figure(two_objective_run(), "pareto", title="a two-objective run with a long name")


def _figures():
    """One figure of each kind an export draws: regret (rising, with a bound), curves (a
    falling loss), a comparison (two overlaid means), both Pareto kinds, and points that
    fill the whole plot, so that no corner is free."""
    steps = np.arange(1.0, 201.0)
    regret = Figure(
        "Cumulative regret of a run with a long name",
        "step",
        "cumulative regret",
        [
            Curve(
                "mean over seeds",
                steps,
                3 * np.sqrt(steps),
                2.5 * np.sqrt(steps),
                3.5 * np.sqrt(steps),
            ),
            Curve("upper bound (theory)", steps, 5 * np.sqrt(steps), kind=BOUND),
        ],
    )
    loss = Figure(
        "loss",
        "step",
        "loss",
        [Curve("mean over seeds", steps, 1 / steps, 0.8 / steps, 1.2 / steps)],
    )
    compare = Figure(
        "loss by lr",
        "step",
        "loss",
        [
            Curve("lr 0.1", steps, 1 / steps, 0.9 / steps, 1.1 / steps),
            Curve("lr 0.01", steps, 2 / steps, 1.8 / steps, 2.2 / steps),
        ],
    )
    grid = np.linspace(0.0, 1.0, 21)
    gx, gy = np.meshgrid(grid, grid)
    crowded = Figure(
        "points everywhere",
        "f1",
        "f2",
        points=[
            PointSet("dominated", gx.ravel(), gy.ravel(), DOMINATED),
            PointSet("non-dominated", grid, grid[::-1], FRONT),
        ],
    )
    return {
        "regret": regret,
        "curves": loss,
        "compare": compare,
        "pareto 2-D": _two_objective_figure(),
        "pareto 3 objectives": _three_objective_figure(),
        "crowded": crowded,
    }


def _plot_items(widget):
    return getattr(widget, "panels", None) or [widget.getPlotItem()]


def _legends(widget):
    found = [widget.figure_legend] if getattr(widget, "figure_legend", None) is not None else []
    for item in _plot_items(widget):
        if item.legend is not None and item.legend.isVisible() and item.legend.items:
            found.append(item.legend)
        if getattr(item, "legend_beside", None) is not None:
            found.append(item.legend_beside)
    return found


def _scene_points(item):
    """Every vertex and marker drawn in a plot, mapped to the scene by its view box, point by point."""
    import pyqtgraph as pg
    from PySide6.QtCore import QPointF

    box = item.getViewBox()
    points = []
    for graphic in item.items:
        if isinstance(graphic, (pg.PlotDataItem, pg.ScatterPlotItem)):
            xs, ys = graphic.getData()
            for x, y in zip([] if xs is None else xs, [] if ys is None else ys):
                if np.isfinite(x) and np.isfinite(y):
                    points.append(box.mapViewToScene(QPointF(float(x), float(y))))
    return points


@pytest.mark.parametrize("size", ["column", "slide"])
@pytest.mark.parametrize(
    "kind", ["regret", "curves", "compare", "pareto 2-D", "pareto 3 objectives", "crowded"]
)
def test_no_legend_covers_a_plotted_point(kind, size):
    figure = _figures()[kind]
    widget = render.offscreen_plot(figure, render.SIZES[size])
    try:
        legends = _legends(widget)
        assert len(legends) == 1 and legends[0].items
        rect = legends[0].sceneBoundingRect()
        points = [p for item in _plot_items(widget) for p in _scene_points(item)]
        assert len(points) >= 3
        covered = [(p.x(), p.y()) for p in points if rect.contains(p)]
        assert covered == [], f"{kind}: legend {rect} covers {covered[:5]}"
        assert widget.sceneRect().contains(rect)
        if kind == "crowded":  # no corner is free: the legend goes below the plot
            assert legends[0] is widget.getPlotItem().legend_beside
    finally:
        widget.close()


@pytest.mark.parametrize("size", ["column", "slide"])
@pytest.mark.parametrize("kind", ["regret", "pareto 2-D", "pareto 3 objectives"])
def test_every_label_and_the_reference_point_lie_inside_the_figure(kind, size):
    """Titles (wrapped where long, never cut), axis labels and the reference point's whole
    marker are inside the figure; a title reads as given, lines joined."""
    import pyqtgraph as pg

    figure = _figures()[kind]
    widget = render.offscreen_plot(figure, render.SIZES[size])
    try:
        frame = widget.sceneRect()
        labels = []
        if figure.panels:
            title = next(i for i in widget.ci.items if isinstance(i, pg.LabelItem))
            labels.append((title, figure.title))
        for item, panel in zip(_plot_items(widget), figure.panels or [figure]):
            labels.append((item.titleLabel, panel.title))
            box = item.getViewBox().sceneBoundingRect()
            for name in ("left", "bottom"):
                label = item.getAxis(name).label
                margin = label.document().documentMargin()  # blank around the text
                glyphs = label.mapRectToScene(
                    label.boundingRect().adjusted(margin, margin, -margin, -margin)
                )
                assert frame.contains(glyphs), (name, label.toPlainText())
            for graphic in item.items:
                if isinstance(graphic, pg.ScatterPlotItem) and graphic.opts["symbol"] == "x":
                    (x,), (y,) = graphic.getData()
                    centre = item.getViewBox().mapViewToScene(pg.Point(x, y))
                    half = graphic.opts["size"] / 2
                    assert box.adjusted(half, half, -half, -half).contains(centre), (centre, box)
        for label, text in labels:
            assert label.text.replace("<br>", " ") == text
            assert frame.contains(label.item.sceneBoundingRect()), text
            # the text item inside its label: no line is cut at the label's edge
            assert label.sceneBoundingRect().contains(label.item.sceneBoundingRect()), text
    finally:
        widget.close()


def test_a_three_objective_front_exports_every_projection_and_no_line_through_them():
    """A (1,2,3), B (2,1,3), C (3,3,1) non-dominated; D (2,2,4), F (4,4,4) dominated;
    reference (5,5,5): three panels, as the view shows them, points only."""
    figure = _three_objective_figure()
    assert (
        figure.title
        == "a three-objective run with a long name: Pareto front at step 7: 3 of 5 non-dominated"
    )
    assert [p.title for p in figure.panels] == ["f2 against f1", "f3 against f1", "f3 against f2"]
    assert [(p.x_label, p.y_label) for p in figure.panels] == [
        ("f1 (min)", "f2 (min)"),
        ("f1 (min)", "f3 (min)"),
        ("f2 (min)", "f3 (min)"),
    ]
    f3_f2 = {s.kind: s for s in figure.panels[2].points}
    assert ATTAINMENT not in f3_f2
    assert sorted(zip(f3_f2[FRONT].x, f3_f2[FRONT].y)) == [(1, 3), (2, 3), (3, 1)]
    assert sorted(zip(f3_f2[DOMINATED].x, f3_f2[DOMINATED].y)) == [(2, 4), (4, 4)]
    assert (f3_f2[REFERENCE].x.tolist(), f3_f2[REFERENCE].y.tolist()) == ([5.0], [5.0])
    widget = render.offscreen_plot(figure, COLUMN)
    try:
        assert len(widget.panels) == 3
        for item in widget.panels:
            lines = [g for g in item.items if type(g).__name__ == "PlotDataItem"]
            assert lines and all(g.getData()[0] is None or len(g.getData()[0]) == 0 for g in lines)
    finally:
        widget.close()
    rows = figure_rows(figure)
    assert {r["panel"] for r in rows} == {0, 1, 2} and len(rows) == 3 * (5 + 1)


def test_a_two_objective_front_exports_its_staircase_as_the_view_draws_it(qtbot):
    """Front (0.1, 0.5), (0.2, 0.8), (0.4, 0.9), error minimised and accuracy maximised: the
    staircase goes along error at each point's accuracy, then up to the next point, in the
    exported figure and on screen alike (both drawn by FrontLayer)."""
    from studio.views.pareto_view import ParetoView
    from tests.studio.test_pareto_view import two_objective_run

    figure = _two_objective_figure()
    staircase = next(p for p in figure.points if p.kind == ATTAINMENT)
    assert staircase.x.tolist() == [0.1, 0.2, 0.2, 0.4, 0.4] and staircase.y.tolist() == [
        0.5,
        0.5,
        0.8,
        0.8,
        0.9,
    ]
    view = ParetoView()
    qtbot.addWidget(view)
    view.render(two_objective_run())
    on_screen = view.projections[0].layers[0]
    widget = render.offscreen_plot(figure, COLUMN)
    try:
        lines = [
            g
            for g in widget.getPlotItem().items
            if type(g).__name__ == "PlotDataItem"
            and g.getData()[0] is not None
            and len(g.getData()[0])
        ]
        assert len(lines) == 1
        for got, want in zip(lines[0].getData(), on_screen.front_line.getData()):
            assert got.tolist() == want.tolist()
        assert (
            lines[0].opts["pen"].color().getRgb()[:3]
            == on_screen.front_line.opts["pen"].color().getRgb()[:3]
        )
    finally:
        widget.close()


def test_one_export_dialog_at_a_time(qtbot, store, regret_run, tmp_path):
    from pathlib import Path

    from studio.export.dialog import open_export_dialog

    first = open_export_dialog(None, store, [regret_run])
    qtbot.addWidget(first)
    second = open_export_dialog(None, store, [regret_run])
    qtbot.addWidget(second)
    assert second is not first and not first.isVisible() and second.isVisible()
    dialogs = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, ExportDialog) and w.isVisible()
    ]
    assert dialogs == [second]
    second.export_button.setEnabled(False)  # as while the engine writes its data files
    third = open_export_dialog(None, store, [regret_run])
    assert third is second and "still writing" in second.result.text()
    second.export_button.setEnabled(True)
    second.close()
    fourth = open_export_dialog(None, store, [regret_run])
    qtbot.addWidget(fourth)
    assert fourth is not second and fourth.isVisible()
    fourth.close()
    assert Path(fourth.folder_edit.text()) == Path.home()  # nothing exported yet: the home folder


def test_the_export_folder_is_remembered_while_it_exists(qtbot, store, regret_run, tmp_path):
    from pathlib import Path

    from studio.export.dialog import last_export_folder

    first = ExportDialog(store, [regret_run])
    qtbot.addWidget(first)
    assert Path(first.folder_edit.text()) == Path.home()
    out = tmp_path / "figures"
    first.folder_edit.setText(str(out))
    for box in first.format_boxes.values():
        box.setChecked(box.text() == "PNG")
    first.script_box.setChecked(False)
    first.export_button.click()
    assert (out / "run-1-hand-made.png").exists()
    second = ExportDialog(store, [regret_run])
    qtbot.addWidget(second)
    assert Path(second.folder_edit.text()) == out and last_export_folder() == out
    (out / "run-1-hand-made.png").unlink()
    out.rmdir()
    assert last_export_folder() == Path.home()  # a folder since removed: not offered
