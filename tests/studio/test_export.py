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
from engine.store import Store
from studio.export import render
from studio.export.dialog import ExportDialog
from studio.export.engine_export import EngineExport, data_files
from studio.export.figure import (BOUND, FRONT, REFERENCE, Curve, Figure, PointSet, emptiest_corner, figure_rows,
                                  run_figure, write_figure_csv)
from studio.export.files import export_figure, export_specs
from studio.run_data import RunData

COLUMN = render.SIZES["column"]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _application(qapp):
    """Offscreen plots are widgets: they need the QApplication even where no qtbot is used."""


@pytest.fixture
def regret_run(store, toy_catalogue):
    """A regret run with two seeds (values 1, 3 then 2, 6 then 4, 8) and a theory bound."""
    spec = RunSpec.from_dict({"run": {"seeds": 2, "steps": 3, "name": "hand made"},
                              "algorithm": {"id": "toy.regret"}, "problem": {"id": "toy.quadratic", "scale": 2.5}},
                             toy_catalogue)
    run_id = store.create_run(spec, family="toy", plot="regret")
    store.start_run(run_id, {"device": "cpu"})
    rows = [("cumulative_regret", step, seed, value, 0.0)
            for step, values in ((1, (1.0, 3.0)), (2, (2.0, 6.0)), (3, (4.0, 8.0)))
            for seed, value in enumerate(values)]
    rows += [("regret_upper_bound", step, -1, 10.0 * step, 0.0) for step in (1, 2, 3)]
    store.append(run_id, rows)
    store.finish_run(run_id, "finished")
    return run_id


def _figure(store, run_id):
    return run_figure(RunData.from_store(store, run_id), "regret", title="Regret of a hand-made run")


def test_the_run_figure_holds_the_seed_mean_and_the_bound(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    mean, bound = figure.curves
    assert mean.mean.tolist() == [2.0, 4.0, 6.0] and bound.kind == BOUND and bound.mean.tolist() == [10, 20, 30]
    # step 1: values 1 and 3, sd sqrt(2), half-width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706205
    assert np.isclose(mean.lo[0], 2.0 - 12.706205) and np.isclose(mean.hi[0], 2.0 + 12.706205)
    path = write_figure_csv(figure, tmp_path / "f.csv")
    rows = list(csv.DictReader(path.open()))
    assert rows[0] == {"series": "mean over seeds", "kind": "mean", "x": "1.0", "y": "2.0",
                       "lo": repr(float(mean.lo[0])), "hi": repr(float(mean.hi[0]))}
    assert rows[3] == {"series": "upper bound (theory)", "kind": "bound", "x": "1.0", "y": "10.0", "lo": "", "hi": ""}
    assert len(rows) == len(figure_rows(figure)) == 6


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _png_dpi(data: bytes) -> float:
    at = data.index(b"pHYs")
    per_metre = struct.unpack(">I", data[at + 4:at + 8])[0]
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
    assert [p.name for p in written] == ["regret.png", "regret.svg", "regret.pdf", "regret.csv", "regret.py"]

    png = (tmp_path / "regret.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_size(png) == (1050, 750)  # 3.5 x 2.5 in at 300 dpi
    assert round(_png_dpi(png)) == 300

    root = ElementTree.parse(tmp_path / "regret.svg").getroot()
    assert root.get("width") == "3.5in" and root.get("height") == "2.5in"
    texts = {t.text.strip() for t in root.iter(f"{SVG}text") if t.text and t.text.strip()}
    assert {"step", "cumulative regret", "Regret of a hand-made run", "mean over seeds",
            "upper bound (theory)"} <= texts

    pdf = (tmp_path / "regret.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert re.search(rb"/MediaBox \[0 0 252(\.0+)? 180(\.0+)?\]", pdf)  # 3.5 x 2.5 in, in points
    assert b"/FontFile2" in pdf and b"/ToUnicode" in pdf  # an embedded font, mapped back to text
    content = _pdf_text_objects(pdf)
    assert content.count(" Tj") + content.count(" TJ") >= 5  # text drawn as text, not as paths
    if shutil.which("gs"):
        text = subprocess.run(["gs", "-q", "-dNOPAUSE", "-dBATCH", "-sDEVICE=txtwrite", "-sOutputFile=-",
                               str(tmp_path / "regret.pdf")], capture_output=True, text=True, timeout=60).stdout
        words = " ".join(text.split())  # ghostscript separates words by tabs
        assert "Regret of a hand-made run" in words and "mean over seeds" in words and "step" in words


def test_slide_size_and_an_offscreen_view_at_that_size(store, regret_run, tmp_path):
    figure = _figure(store, regret_run)
    render.save_png(figure, tmp_path / "slide.png", render.SIZES["slide"], dpi=100)
    assert _png_size((tmp_path / "slide.png").read_bytes()) == (1000, 562)  # 10 x 5.625 in at 100 dpi
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
    result = subprocess.run([sys.executable, str(tmp_path / "regret.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "regret-matplotlib.png").read_bytes()[:4] == b"\x89PNG"


def test_a_title_with_quotes_still_gives_a_valid_script(tmp_path):
    figure = Figure('a """quoted""" \\ title', "step", "loss",
                    [Curve("m", np.array([1.0, 2.0]), np.array([0.5, 0.25]))])
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
    assert errors == [] and [p.rsplit("/", 1)[-1] for p in written] == ["run-1-series.csv", "run-1.json"]
    rows = list(csv.DictReader((tmp_path / "run-1-series.csv").open()))
    regret = [(r["step"], r["seed"], r["value"]) for r in rows if r["metric"] == "cumulative_regret"]
    assert regret[:2] == [("1", "0", "1.0"), ("1", "1", "3.0")]
    assert json.loads((tmp_path / "run-1.json").read_text())["spec"]["run"]["name"] == "hand made"


def test_dialog_exports_everything_and_copies_to_the_clipboard(qtbot, store, regret_run, tmp_path):
    reader = Store(store.path)
    out = tmp_path / "out"
    dialog = ExportDialog(reader, [regret_run], folder=out)
    qtbot.addWidget(dialog)
    assert dialog.figure.title == "hand made" and dialog.stem_edit.text() == "run-1-hand-made"
    dialog.data_csv.setChecked(True)
    dialog.spec_box.setChecked(True)
    with qtbot.waitSignal(dialog.engine_export.finished, timeout=30_000):
        dialog.export_button.click()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["run-1-hand-made.csv", "run-1-hand-made.pdf", "run-1-hand-made.png", "run-1-hand-made.py",
                     "run-1-hand-made.svg", "run-1-hand-made.toml", "run-1-series.csv"]
    assert "wrote 7 files" in dialog.result.text()
    dialog.copy_button.click()
    mime = QApplication.clipboard().mimeData()
    assert mime.hasImage() and b"<text" in bytes(mime.data("image/svg+xml"))
    reader.close()


def test_the_legend_goes_to_the_corner_the_data_leaves_empty():
    """A falling loss leaves the top right empty; a rising regret the bottom right (ties: top first)."""
    steps = np.arange(1.0, 101.0)
    falling = Figure("", "step", "loss", [Curve("loss", steps, 1.0 / steps)])
    rising = Figure("", "step", "regret", [Curve("regret", steps, np.sqrt(steps))])
    assert emptiest_corner(falling) == "top-right"
    assert emptiest_corner(rising) == "bottom-right"


def test_the_legend_never_covers_the_reference_point():
    """A front falling from top left to bottom right with the reference point in the top right corner."""
    x = np.linspace(0.0, 1.0, 9)
    figure = Figure("", "f1", "f2", points=[PointSet("non-dominated", x, (1 - x) ** 2, FRONT),
                                            PointSet("reference point", np.array([1.2]), np.array([1.2]), REFERENCE)])
    assert emptiest_corner(figure) != "top-right"
