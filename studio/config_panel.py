"""The run's configuration: algorithm, problem, their parameters, run and device fields.

The algorithm picker lists the catalogue grouped by family; the problem picker only
the problems that algorithm runs on; the parameter forms are generated from their
declarations. `build_spec` builds the whole spec with `RunSpec.from_dict`, the very
validation the CLI applies to a TOML file, and shows a refusal in the form.
"""

from __future__ import annotations

import html
from itertools import groupby

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.params import Param
from engine.registry import Catalogue
from engine.spec import HARDWARE_PARAMS, RUN_PARAMS, RunSpec, SpecError
from studio.param_form import ERROR_LABEL_STYLE, ParamForm

RUN_FIELDS = ("name", "seeds", "steps", "seed")
_DEVICE_HELP = next(p.help for p in HARDWARE_PARAMS if p.name == "device")
# The hardware panel (cuda:N, threads, dtype) is its own issue; until then the device
# is one of the three choices every machine understands. The spec still checks it.
DEVICE_PARAM = Param("device", "choice", "auto", _DEVICE_HELP, choices=("auto", "cpu", "cuda"))
ID_ROLE = Qt.ItemDataRole.UserRole


def _describe(title: str, summary: str) -> str:
    return f"<b>{html.escape(title)}</b><br>{html.escape(summary)}"


class ConfigPanel(QWidget):
    changed = Signal()  # any edit or selection: whether Run is possible may have changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.catalogue: Catalogue | None = None
        self.algorithm_combo = QComboBox()
        self.algorithm_combo.setModel(QStandardItemModel(self))
        self.algorithm_info = self._info_label()
        self.problem_combo = QComboBox()
        self.problem_info = self._info_label()
        self.algorithm_form = ParamForm(())
        self.problem_form = ParamForm(())
        self.run_form = ParamForm(tuple(p for p in RUN_PARAMS if p.name in RUN_FIELDS))
        self.hardware_form = ParamForm((DEVICE_PARAM,))
        self.spec_error = QLabel()
        self.spec_error.setStyleSheet(ERROR_LABEL_STYLE)
        self.spec_error.setWordWrap(True)
        self.spec_error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.spec_error.hide()
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every parameter, run and device field back to its declared default.")

        self._algorithm_box = self._group("Algorithm", self.algorithm_combo, self.algorithm_info)
        self._problem_box = self._group("Problem", self.problem_combo, self.problem_info)
        self._algorithm_params_box = self._group("Algorithm parameters", self.algorithm_form)
        self._problem_params_box = self._group("Problem parameters", self.problem_form)
        layout = QVBoxLayout(self)
        for widget in (self._algorithm_box, self._problem_box, self._algorithm_params_box,
                       self._problem_params_box, self._group("Run", self.run_form),
                       self._group("Device", self.hardware_form), self.spec_error, self.reset_button):
            layout.addWidget(widget)
        layout.addStretch(1)

        self.algorithm_combo.currentIndexChanged.connect(self._algorithm_chosen)
        self.problem_combo.currentIndexChanged.connect(self._problem_chosen)
        for form in (self.run_form, self.hardware_form):
            form.changed.connect(self._edited)
        self.reset_button.clicked.connect(self.reset_to_defaults)

    @staticmethod
    def _info_label() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet("color: #404040;")
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
        """Fill the algorithm picker, one bold, unselectable header per family."""
        self.catalogue = catalogue
        model = self.algorithm_combo.model()
        self.algorithm_combo.blockSignals(True)
        model.clear()
        entries = sorted((catalogue.algorithm(i) for i in catalogue.algorithm_ids()), key=lambda e: (e.family, e.id))
        first_choice = None
        for family, members in groupby(entries, key=lambda e: e.family):
            header = QStandardItem(family)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            bold = QFont()
            bold.setBold(True)
            header.setFont(bold)
            model.appendRow(header)
            for entry in members:
                item = QStandardItem(entry.id)
                item.setData(entry.id, ID_ROLE)
                item.setToolTip(f"{entry.paper}\n{entry.summary}")
                model.appendRow(item)
                if first_choice is None:
                    first_choice = model.rowCount() - 1
        self.algorithm_combo.blockSignals(False)
        if first_choice is not None:
            self.algorithm_combo.setCurrentIndex(first_choice)
            self._algorithm_chosen()

    def select_algorithm(self, ident: str) -> None:
        index = self.algorithm_combo.findData(ident, ID_ROLE)
        if index < 0:
            raise KeyError(ident)
        self.algorithm_combo.setCurrentIndex(index)

    @property
    def algorithm(self):
        """The chosen algorithm's catalogue entry, or None before the catalogue is known."""
        ident = self.algorithm_combo.currentData(ID_ROLE)
        return self.catalogue.algorithm(ident) if self.catalogue and ident else None

    @property
    def problem(self):
        ident = self.problem_combo.currentData(ID_ROLE)
        return self.catalogue.problem(ident) if self.catalogue and ident else None

    def _algorithm_chosen(self, *_):
        entry = self.algorithm
        if entry is None:
            return
        self.algorithm_info.setText(_describe(entry.paper, entry.summary))
        self.algorithm_form = self._replace_form(self._algorithm_params_box, self.algorithm_form, entry.params)
        previous = self.problem_combo.currentData(ID_ROLE)
        self.problem_combo.blockSignals(True)
        self.problem_combo.clear()
        for ident in entry.problems:
            self.problem_combo.addItem(ident, ident)
        if previous in entry.problems:
            self.problem_combo.setCurrentIndex(entry.problems.index(previous))
        self.problem_combo.blockSignals(False)
        self._problem_chosen()

    def _problem_chosen(self, *_):
        entry = self.problem
        if entry is None:
            self.problem_info.setText("")
            return
        self.problem_info.setText(_describe(entry.paper, entry.summary))
        self.problem_form = self._replace_form(self._problem_params_box, self.problem_form, entry.params)
        self._edited()

    def _replace_form(self, box: QGroupBox, old: ParamForm, params) -> ParamForm:
        form = ParamForm(params)
        box.layout().replaceWidget(old, form)
        old.deleteLater()
        form.changed.connect(self._edited)
        return form

    def _edited(self):
        self.spec_error.hide()
        self.changed.emit()

    # -- the spec ---------------------------------------------------------------------
    def forms(self) -> dict[str, ParamForm]:
        """The form behind each spec section."""
        return {"run": self.run_form, "algorithm": self.algorithm_form,
                "problem": self.problem_form, "hardware": self.hardware_form}

    def is_valid(self) -> bool:
        return self.algorithm is not None and self.problem is not None and all(
            form.is_valid() for form in self.forms().values())

    def spec_document(self) -> dict:
        """The spec as the parsed TOML document the CLI would read."""
        return {
            "run": self.run_form.values(),
            "algorithm": {"id": self.algorithm.id, **self.algorithm_form.values()},
            "problem": {"id": self.problem.id, **self.problem_form.values()},
            "hardware": self.hardware_form.values(),
        }

    def build_spec(self) -> RunSpec | None:
        """The validated spec, or None with the refusal shown in the form."""
        try:
            spec = RunSpec.from_dict(self.spec_document(), self.catalogue)
        except SpecError as err:
            self.show_spec_error(err)
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

    def reset_to_defaults(self) -> None:
        for form in self.forms().values():
            form.reset()
        self.spec_error.hide()
        self.changed.emit()
