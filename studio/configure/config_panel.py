"""Configure: the chosen algorithm's problem, parameters, run fields; spec files and presets.

The algorithm is chosen in the catalogue pane; the problem picker lists only the
problems it runs on; the parameter forms are generated from their declarations. The
[hardware] table comes from the hardware panel. `build_spec` builds the whole spec
with `RunSpec.from_dict`, the very validation the CLI applies to a TOML file, and
shows a refusal in the form.

Save writes the spec the CLI runs (`tradeoff run FILE`); Load reads one through the
same validation: a file with an error is refused with its file, key and reason, and
the form keeps what it had. Presets are such files, kept per algorithm.

Where the hardware panel sends sweeps to a Ray cluster, Run is refused (with the reason
under the form) until that cluster's address has been checked, and for a single run:
Ray runs sweeps, a single run runs on this machine's workers.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QInputDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.registry import Catalogue
from engine.spec import RUN_PARAMS, RunSpec, SpecError
from studio.configure.hardware_panel import HardwarePanel, cluster_summary
from studio.configure.param_form import ERROR_LABEL_STYLE, ParamForm
from studio.configure.presets import PresetBar, PresetError, Presets
from studio.configure.sweep_editor import FormSweep, SweepInputError
from studio.settings import presets_dir

ID_ROLE = Qt.ItemDataRole.UserRole


def _describe(title: str, summary: str) -> str:
    return f"<b>{html.escape(title)}</b><br>{html.escape(summary)}"


class ConfigPanel(QWidget):
    changed = Signal()  # any edit or selection: whether Run is possible may have changed
    algorithm_changed = Signal(
        str
    )  # the algorithm shown is now this one (chosen, loaded, restored)
    message = Signal(str)  # a line for the status bar (saved, loaded)

    def __init__(
        self, hardware: HardwarePanel | None = None, presets: Presets | None = None, parent=None
    ):
        super().__init__(parent)
        self.catalogue: Catalogue | None = None
        self._algorithm_id: str | None = None
        self.hardware = hardware or HardwarePanel()
        self.preset_bar = PresetBar(presets or Presets(presets_dir()))
        self.algorithm_info = QLabel("No algorithm chosen yet.")
        self.algorithm_info.setWordWrap(True)
        self.problem_combo = QComboBox()
        self.problem_info = QLabel()
        self.problem_info.setWordWrap(True)
        self.algorithm_form = ParamForm((), sweepable=True)
        self.problem_form = ParamForm((), sweepable=True)
        self.run_form = ParamForm(RUN_PARAMS, sweepable=True)
        self.sweep_summary = self._info_label()
        self.sweep_summary.hide()
        self.hardware_summary = self._info_label()
        self.backend_note = QLabel()
        self.backend_note.setStyleSheet(ERROR_LABEL_STYLE)
        self.backend_note.setWordWrap(True)
        self.backend_note.hide()
        self.spec_error = QLabel()
        self.spec_error.setStyleSheet(ERROR_LABEL_STYLE)
        self.spec_error.setWordWrap(True)
        self.spec_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.spec_error.hide()
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip(
            "Put every parameter, run and hardware field back to its declared default."
        )

        self._algorithm_box = self._group("Algorithm", self.algorithm_info, self.preset_bar)
        self._problem_box = self._group("Problem", self.problem_combo, self.problem_info)
        self._algorithm_params_box = self._group("Algorithm parameters", self.algorithm_form)
        self._problem_params_box = self._group("Problem parameters", self.problem_form)
        layout = QVBoxLayout(self)
        for widget in (
            self._algorithm_box,
            self._problem_box,
            self._algorithm_params_box,
            self._problem_params_box,
            self._group("Run", self.run_form),
            self.sweep_summary,
            self.hardware_summary,
            self.backend_note,
            self.spec_error,
            self.reset_button,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)

        self.problem_combo.currentIndexChanged.connect(self._problem_chosen)
        self.run_form.changed.connect(self._edited)
        self.hardware.changed.connect(self._hardware_edited)
        self.hardware.backend_changed.connect(self._hardware_edited)
        self.reset_button.clicked.connect(self.reset_to_defaults)
        self.preset_bar.preset_chosen.connect(self.load_file)
        self.preset_bar.delete_requested.connect(self.delete_preset)
        self.preset_bar.save_requested.connect(self._ask_preset_name)
        self._hardware_edited()

    @staticmethod
    def _info_label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        return label

    @staticmethod
    def _group(title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        for widget in widgets:
            layout.addWidget(widget)
        return box

    # -- catalogue and selection ---------------------------------------------------------
    def set_catalogue(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._algorithm_id = None
        ids = catalogue.algorithm_ids()
        if ids:
            first = min(ids, key=lambda i: (catalogue.algorithm(i).family, i))
            self.select_algorithm(first)

    def select_algorithm(self, ident: str) -> None:
        """Show an algorithm's forms (KeyError for an id the catalogue lacks)."""
        if self.catalogue is None or ident not in self.catalogue.algorithm_ids():
            raise KeyError(ident)
        if ident == self._algorithm_id:
            return
        self._algorithm_id = ident
        entry = self.catalogue.algorithm(ident)
        self.algorithm_info.setText(
            f"<span style='font-size: 11pt'><b>{html.escape(entry.id)}</b></span><br>"
            f"<i>{html.escape(entry.paper)}</i><br>{html.escape(entry.summary)}"
        )
        self.algorithm_form = self._replace_form(
            self._algorithm_params_box, self.algorithm_form, entry.params
        )
        previous = self.problem_combo.currentData(ID_ROLE)
        self.problem_combo.blockSignals(True)
        self.problem_combo.clear()
        for pid in entry.problems:
            title = self.catalogue.problem(pid).paper if pid in self.catalogue.problem_ids() else ""
            self.problem_combo.addItem(pid, pid)
            self.problem_combo.setItemData(
                self.problem_combo.count() - 1, title, Qt.ItemDataRole.ToolTipRole
            )
        if previous in entry.problems:
            self.problem_combo.setCurrentIndex(entry.problems.index(previous))
        self.problem_combo.blockSignals(False)
        self.preset_bar.set_algorithm(ident)
        self._problem_chosen()
        self.algorithm_changed.emit(ident)

    @property
    def algorithm(self):
        """The chosen algorithm's catalogue entry, or None before the catalogue is known."""
        return (
            self.catalogue.algorithm(self._algorithm_id)
            if self.catalogue and self._algorithm_id
            else None
        )

    @property
    def problem(self):
        ident = self.problem_combo.currentData(ID_ROLE)
        return self.catalogue.problem(ident) if self.catalogue and ident else None

    def _problem_chosen(self, *_):
        entry = self.problem
        if entry is None:
            self.problem_info.setText("")
            return
        self.problem_info.setText(_describe(entry.paper, entry.summary))
        self.problem_form = self._replace_form(
            self._problem_params_box, self.problem_form, entry.params
        )
        self._edited()

    def _replace_form(self, box: QGroupBox, old: ParamForm, params) -> ParamForm:
        form = ParamForm(params, sweepable=True)
        box.layout().replaceWidget(old, form)
        # Hidden at once: deletion waits for the event loop, and until then the old
        # form would still paint over the group's title.
        old.hide()
        old.deleteLater()
        form.changed.connect(self._edited)
        return form

    def _edited(self):
        self.spec_error.hide()
        self._show_sweep_summary()
        refusal = self.backend_refusal()
        self.backend_note.setText(refusal or "")
        self.backend_note.setVisible(refusal is not None)
        self.changed.emit()

    def backend_refusal(self) -> str | None:
        """Why Run cannot go where the hardware panel sends it; None when it can."""
        if self.hardware.backend() != "ray":
            return None
        try:
            sweep = self.sweep()
        except SweepInputError:
            return None  # the swept field shows why
        if sweep is None:
            return (
                "A Ray cluster runs sweeps; a single run runs on this machine: choose "
                "Local workers in the Hardware tab, or sweep a field."
            )
        return self.hardware.backend_error()

    def _show_sweep_summary(self) -> None:
        try:
            sweep = self.sweep()
        except SweepInputError:
            sweep = None  # the field shows why
        if sweep is None:
            self.sweep_summary.hide()
            return
        self.sweep_summary.setText(f"Sweep: {sweep.describe()}")
        self.sweep_summary.show()

    def _hardware_edited(self):
        hw = self.hardware.values()
        count = hw["threads"]
        threads = (
            f"{count} thread{'s' if count != 1 else ''}" if count else "torch's default threads"
        )
        self.hardware_summary.setText(
            f"Hardware: {hw['device']}, {threads}, {hw['dtype']}{self._sweeps_go()} "
            "(set in the Hardware tab)"
        )
        self._edited()

    def _sweeps_go(self) -> str:
        if self.hardware.backend() != "ray":
            return ""
        where = self.hardware.ray_address_value() or "(no address)"
        cluster = self.hardware.ray_cluster
        return f"; sweeps on the Ray cluster at {where}" + (
            f" ({cluster_summary(cluster)})" if cluster else ""
        )

    # -- the spec ---------------------------------------------------------------------
    def forms(self) -> dict[str, ParamForm]:
        """The form behind each spec section but [hardware] (the hardware panel's)."""
        return {
            "run": self.run_form,
            "algorithm": self.algorithm_form,
            "problem": self.problem_form,
        }

    def is_valid(self) -> bool:
        return (
            self.algorithm is not None
            and self.problem is not None
            and self.hardware.is_valid()
            and self.backend_refusal() is None
            and all(form.is_valid() for form in self.forms().values())
        )

    def spec_document(self) -> dict:
        """The spec as the parsed TOML document the CLI would read."""
        return {
            "run": self.run_form.values(),
            "algorithm": {"id": self.algorithm.id, **self.algorithm_form.values()},
            "problem": {"id": self.problem.id, **self.problem_form.values()},
            "hardware": self.hardware.values(),
        }

    def sweep(self) -> FormSweep | None:
        """The fields switched to a sweep, as the spec's [sweep] tables; None when no field
        is swept; SweepInputError when a swept field is refused or they disagree."""
        entries = {
            f"{section}.{name}": entry
            for section, form in self.forms().items()
            for name, entry in form.sweeps().items()
        }
        return FormSweep.from_entries(entries) if entries else None

    def sweep_document(self) -> dict | None:
        """The spec with its [sweep] tables, as the CLI reads a sweep file; None (with the
        refusal shown) when the base spec or a swept field is refused, or nothing is swept."""
        spec = self.build_spec()
        if spec is None:
            return None
        try:
            sweep = self.sweep()
        except SweepInputError as err:
            self.spec_error.setText(f"sweep: {err}")
            self.spec_error.show()
            return None
        if sweep is None:
            return None
        refusal = self.hardware.backend_error()
        if refusal:
            self.spec_error.setText(refusal)
            self.spec_error.show()
            return None
        return {**spec.to_dict(), "sweep": sweep.tables()}

    def build_spec(self) -> RunSpec | None:
        """The validated spec, or None with the refusal shown in the form."""
        if self.algorithm is None or self.problem is None:
            return None
        try:
            spec = RunSpec.from_dict(self.spec_document(), self.catalogue)
        except SpecError as err:
            self.show_spec_error(err)
            return None
        if not self.hardware.is_valid():
            self.show_spec_error(SpecError("", "hardware.device", self.hardware.error))
            return None
        self.spec_error.hide()
        return spec

    def show_spec_error(self, err: SpecError) -> None:
        self.spec_error.setText(str(err))
        self.spec_error.show()
        section, _, name = err.key.partition(".")
        form = self.forms().get(section)
        if form is not None and name in form.fields:
            form.fields[name].show_error(err.reason)
        elif section == "hardware" and name == "device":
            self.hardware.show_error(err.reason)

    def reset_to_defaults(self) -> None:
        for form in self.forms().values():
            form.reset()
        self.hardware.reset()
        self.spec_error.hide()
        self.changed.emit()

    def apply_spec(self, spec: RunSpec) -> None:
        """Show a validated spec in the form: algorithm, problem, every value."""
        self.select_algorithm(spec.algorithm)
        index = self.problem_combo.findData(spec.problem, ID_ROLE)
        if index != self.problem_combo.currentIndex():
            self.problem_combo.setCurrentIndex(index)
        document = spec.to_dict()
        for section, form in self.forms().items():
            for name, field in form.fields.items():
                if name in document[section]:
                    field.set_value(document[section][name])
                else:
                    field.reset()
        self.hardware.set_values(document["hardware"])
        self.spec_error.hide()
        self.changed.emit()

    # -- files and presets ------------------------------------------------------------
    def load_file(self, path) -> bool:
        """Load a spec file into the form; a refused file changes nothing and says why."""
        if self.catalogue is None:
            return False
        try:
            spec = RunSpec.from_file(path, self.catalogue)
        except SpecError as err:
            self.show_load_error(err)
            return False
        self.apply_spec(spec)
        self.message.emit(f"Loaded {path}")
        return True

    def show_load_error(self, err: SpecError) -> None:
        where = f"{err.key}: " if err.key else ""
        self.spec_error.setText(
            f"Not loaded (the form is unchanged): {err.source}\n{where}{err.reason}"
        )
        self.spec_error.show()

    def spec_text(self) -> str | None:
        spec = self.build_spec()
        return spec.to_toml() if spec is not None else None

    def save_file(self, path) -> bool:
        text = self.spec_text()
        if text is None:
            return False
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as err:
            self.spec_error.setText(f"Not saved: cannot write {path}: {err.strerror or err}")
            self.spec_error.show()
            return False
        self.message.emit(f"Saved {path}; run it with: tradeoff run {path}")
        return True

    def save_preset(self, name: str) -> bool:
        text = self.spec_text()
        if text is None:
            return False
        try:
            self.preset_bar.presets.save(self.algorithm.id, name, text)
        except PresetError as err:
            self.spec_error.setText(f"Preset not saved: {err}")
            self.spec_error.show()
            return False
        self.preset_bar.refresh(current=name.strip())
        self.message.emit(f"Saved preset {name.strip()!r} for {self.algorithm.id}")
        return True

    def _ask_preset_name(self) -> None:
        if self.algorithm is None:
            return
        name, ok = QInputDialog.getText(
            self,
            "Save preset",
            f"Name of the preset for {self.algorithm.id}:",
            text=self.preset_bar.current_name(),
        )
        if ok and name.strip():
            self.save_preset(name)

    def delete_preset(self, name: str) -> None:
        try:
            self.preset_bar.presets.delete(self.algorithm.id, name)
        except PresetError as err:
            self.spec_error.setText(str(err))
            self.spec_error.show()
            return
        self.preset_bar.refresh()
        self.message.emit(f"Deleted preset {name!r}")
