"""The Export dialog: a figure (PNG/SVG/PDF + CSV + matplotlib script), run data, specs.

Entry point for a menu action: `open_export_dialog(parent, store, run_ids, figure=None)`.
Without a figure, one is built from the stored data: a single run in its own plot kind,
several runs overlaid on their first common metric. One export dialog is open at a time;
its folder starts as the one the last export wrote to (kept in the studio's settings).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
)

from engine.store import StoreReader
from studio.compare.figures import common_metrics, comparison_figure
from studio.export import render
from studio.export.engine_export import EngineExport, data_files
from studio.export.figure import Figure, run_figure
from studio.export.files import FIGURE_FORMATS, export_figure, export_specs, safe_name
from studio.settings import EXPORT_FOLDER, studio_settings
from studio.views.run_data import RunData


def stored_figure(store: StoreReader, run_ids: list[int]) -> Figure:
    """The default figure of runs, from the store: one run in its plot kind, several overlaid."""
    rows = {i: store.get_run(i) for i in run_ids}
    rows = {i: r for i, r in rows.items() if r is not None}
    datas = {i: RunData.from_store(store, i) for i in rows}
    if len(rows) == 1:
        ((run_id, row),) = rows.items()
        return run_figure(datas[run_id], row["plot"], title=row["name"] or f"run {run_id}")
    metrics = common_metrics(list(datas.values()))
    if not metrics:
        return Figure("", "step", "")
    return comparison_figure(rows, datas, metrics[0])[0]


def default_stem(store: StoreReader, run_ids: list[int]) -> str:
    if len(run_ids) == 1:
        row = store.get_run(run_ids[0])
        return f"run-{run_ids[0]}-{safe_name((row or {}).get('name') or 'figure')}"
    return "compare-runs-" + "-".join(map(str, run_ids[:6]))


class ExportDialog(QDialog):
    def __init__(
        self, store: StoreReader, run_ids, figure: Figure | None = None, folder=None, parent=None
    ):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.store = store
        self.run_ids = list(run_ids)
        self.figure = figure if figure is not None else stored_figure(store, self.run_ids)
        self.written: list[Path] = []
        self.errors: list[str] = []
        self.engine_export = EngineExport(store.path, self)

        self.format_boxes = {fmt: QCheckBox(fmt.upper()) for fmt in FIGURE_FORMATS}
        for box in self.format_boxes.values():
            box.setChecked(True)
        self.size_combo = QComboBox()
        for key, size in render.SIZES.items():
            self.size_combo.addItem(size.label, key)
        self.script_box = QCheckBox(
            "CSV of the plotted values + matplotlib script that rebuilds the figure"
        )
        self.script_box.setChecked(True)
        self.copy_button = QPushButton("Copy figure")
        self.copy_button.setToolTip("Copy the figure to the clipboard, as an image and as SVG.")
        self.data_csv = QCheckBox("CSV (long format: step, metric, seed, value; Pareto points too)")
        self.data_json = QCheckBox("JSON (spec, objectives, series, Pareto points)")
        self.spec_box = QCheckBox(
            f"TOML spec{'s' if len(self.run_ids) > 1 else ''} that `tradeoff run` reproduces "
            "(one file per run)"
        )
        self.folder_edit = QLineEdit(str(folder or last_export_folder()))
        self.browse_button = QPushButton("Browse…")
        self.stem_edit = QLineEdit(default_stem(store, self.run_ids))
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.close_button = QPushButton("Close")

        figure_box = QGroupBox(f"Figure: {self.figure.title or 'no data'}")
        formats = QHBoxLayout()
        for box in self.format_boxes.values():
            formats.addWidget(box)
        formats.addStretch(1)
        formats.addWidget(self.copy_button)
        figure_form = QFormLayout(figure_box)
        figure_form.addRow("formats", formats)
        figure_form.addRow("size", self.size_combo)
        figure_form.addRow(self.script_box)
        data_box = QGroupBox(
            f"Data of run{'s' if len(self.run_ids) > 1 else ''} "
            f"{', '.join(map(str, self.run_ids))} (written by `tradeoff export`)"
        )
        data_layout = QVBoxLayout(data_box)
        data_layout.addWidget(self.data_csv)
        data_layout.addWidget(self.data_json)
        data_layout.addWidget(self.spec_box)
        where = QFormLayout()
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        where.addRow("folder", folder_row)
        where.addRow("figure name", self.stem_edit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(figure_box)
        layout.addWidget(data_box)
        layout.addLayout(where)
        layout.addWidget(self.result)
        layout.addLayout(buttons)

        figure_box.setEnabled(not self.figure.is_empty())
        self.browse_button.clicked.connect(self._browse)
        self.copy_button.clicked.connect(self.copy_figure)
        self.export_button.clicked.connect(self.export)
        self.close_button.clicked.connect(self.reject)
        self.engine_export.finished.connect(self._data_written)

    @property
    def size(self) -> render.FigureSize:
        return render.SIZES[self.size_combo.currentData()]

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def copy_figure(self) -> None:
        render.copy_to_clipboard(self.figure, self.size)
        self.result.setText("figure copied to the clipboard (image and SVG)")

    def export(self) -> None:
        """Write the figure and specs now; ask the engine for the data files (they arrive later)."""
        folder = Path(self.folder_edit.text()).expanduser()
        stem = safe_name(self.stem_edit.text())
        self.written, self.errors = [], []
        formats = [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]
        try:
            if not self.figure.is_empty() and (formats or self.script_box.isChecked()):
                self.written += export_figure(
                    self.figure,
                    folder,
                    stem,
                    self.size,
                    formats,
                    with_script=self.script_box.isChecked(),
                )
            if self.spec_box.isChecked():
                self.written += export_specs(self.store, self.run_ids, folder)
        except (OSError, ValueError) as err:
            self.errors.append(str(err))
        if self.written:
            studio_settings().setValue(EXPORT_FOLDER, str(folder))
        data_formats = [
            fmt
            for fmt, box in (("csv", self.data_csv), ("json", self.data_json))
            if box.isChecked()
        ]
        if data_formats and not self.errors:
            pareto = {
                i for i in self.run_ids if (self.store.get_run(i) or {}).get("objectives_json")
            }
            self.export_button.setEnabled(False)
            self.result.setText("writing the data files…")
            self.engine_export.start(data_files(self.run_ids, folder, data_formats, pareto))
        else:
            self._report()

    @property
    def busy(self) -> bool:
        """The engine is writing this dialog's data files."""
        return not self.export_button.isEnabled()

    def _data_written(self, written: list, errors: list) -> None:
        if written:
            studio_settings().setValue(EXPORT_FOLDER, str(Path(written[0]).parent))
        self.written += [Path(p) for p in written]
        self.errors += errors
        self.export_button.setEnabled(True)
        self._report()

    def _report(self) -> None:
        lines = [
            f"wrote {len(self.written)} file{'s' if len(self.written) != 1 else ''}"
            + (f" to {self.written[0].parent}" if self.written else "")
            + ":"
        ]
        lines += [f"  {p.name}" for p in self.written]
        lines += [f"error: {e}" for e in self.errors]
        self.result.setStyleSheet("color: #c0392b;" if self.errors else "")
        self.result.setText("\n".join(lines))


def last_export_folder() -> Path:
    """Where the last export wrote, if that folder still exists; else the home folder."""
    saved = studio_settings().value(EXPORT_FOLDER, "", type=str)
    return Path(saved) if saved and Path(saved).is_dir() else Path.home()


_open_dialog: list[ExportDialog] = []  # the one export dialog open, if any


def open_export_dialog(
    parent, store: StoreReader, run_ids, figure: Figure | None = None, folder=None
) -> ExportDialog:
    """Show the export dialog (non-modal) for runs, with a given figure or the stored default.

    One at a time: a dialog already open is brought to the front, and, unless it is still
    writing files, closed and replaced by one for what is asked now. While it writes, it
    stays, and says that the new export waits for it.
    """
    if _open_dialog:
        current = _open_dialog[0]
        if current.busy:
            current.result.setText(
                "still writing the data files of this export: open the next export when it is done"
            )
            current.raise_()
            current.activateWindow()
            return current
        _open_dialog.clear()
        current.close()
    dialog = ExportDialog(store, run_ids, figure, folder, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    _open_dialog.append(dialog)
    dialog.finished.connect(
        lambda _result, d=dialog: _open_dialog.remove(d) if d in _open_dialog else None
    )
    dialog.show()
    dialog.raise_()
    return dialog
