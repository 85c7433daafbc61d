"""Forms generated from `engine.params.Param` declarations.

One widget per type (int: spin box with the bounds; float, str, lists: line edits;
bool: check box; choice: combo). Every edit is checked with `Param.validate`, the
very check the CLI applies, and the refusal's reason is shown under the field with a
red border; a form is valid when all of its fields are.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.params import Param, ParamError
from studio.configure.sweep_editor import GridEntry, RandomEntry, SweepEditor, SweepInputError

# QSpinBox holds a C int; declared bounds beyond it (or none) are clamped to it.
SPIN_MIN, SPIN_MAX = -(2**31), 2**31 - 1
# Types a field can sweep: one value per point. A list-valued parameter (floats, ints)
# would need a list of lists; a free string or "all" sweeps from a spec file instead.
SWEEPABLE_TYPES = ("int", "float", "choice", "bool")
INVALID_STYLE = "border: 1px solid #c0392b; border-radius: 2px;"
ERROR_LABEL_STYLE = "color: #c0392b;"


def tooltip(param: Param) -> str:
    """The help line, plus the range or choices (and a list's length) the declaration sets."""
    lines = [param.help]
    bounds = param.describe_bounds()
    if bounds:
        lines.append(f"{'allowed' if param.type == 'choice' else 'range'}: {bounds}")
    if param.type in ("floats", "ints"):
        most = f" to {param.max_len}" if param.max_len is not None else " or more"
        lines.append(f"{param.min_len}{most} comma-separated values")
    return "\n".join(lines)


def parse_number(text: str, integer: bool):
    """The number a user typed; text that is no number is returned as is so that
    `Param.validate` refuses it with its own reason ("must be a number, got 'x'")."""
    text = text.strip()
    if integer:
        try:
            return int(text)
        except ValueError:
            pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_list(text: str, integer: bool) -> list:
    """Comma-separated numbers; an empty field is an empty list."""
    if not text.strip():
        return []
    return [parse_number(item, integer) for item in text.split(",")]


def format_value(param: Param, value) -> str:
    """A value as the line edit shows it; repr keeps floats exact (0.1, 1e-06)."""
    if param.type in ("floats", "ints"):
        return ", ".join(repr(v) for v in value)
    if param.type == "float":
        return repr(float(value))
    return str(value)


def _spin_range(param: Param) -> tuple[int, int]:
    low, high = SPIN_MIN, SPIN_MAX
    if param.low is not None:
        low = math.floor(param.low) + 1 if param.low_open else math.ceil(param.low)
    if param.high is not None:
        high = math.ceil(param.high) - 1 if param.high_open else math.floor(param.high)
    return max(low, SPIN_MIN), min(high, SPIN_MAX)


class ParamField(QWidget):
    """The editor for one parameter and, under it, the reason its value is refused.

    Where the form allows sweeps, a "sweep" button beside the editor switches the field
    to a `SweepEditor` (a list, a range or random samples); `sweep_entry()` then gives
    what the field adds to the spec's [sweep] table, and the editor's own value stays
    the spec's base value.
    """

    changed = Signal()

    def __init__(self, param: Param, parent=None, sweepable: bool = False):
        super().__init__(parent)
        self.param = param
        self.editor = self._build_editor()
        self.editor.setToolTip(tooltip(param))
        self.sweep_editor: SweepEditor | None = None
        self.sweep_button: QToolButton | None = None
        self.error_label = QLabel()
        self.error_label.setStyleSheet(ERROR_LABEL_STYLE)
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        if sweepable and param.type in SWEEPABLE_TYPES:
            self.sweep_editor = SweepEditor(param)
            self.sweep_editor.hide()
            self.sweep_editor.changed.connect(self._edited)
            self.sweep_button = QToolButton()
            self.sweep_button.setText("sweep")
            self.sweep_button.setCheckable(True)
            self.sweep_button.setToolTip(
                f"Sweep {param.name}: run the spec once per value (a list, a range or random samples)."
            )
            self.sweep_button.toggled.connect(self.set_sweeping)
            # The switch comes first, where a narrow form column still shows it.
            row.addWidget(self.sweep_button, 0, Qt.AlignmentFlag.AlignTop)
            row.addWidget(self.sweep_editor, 1)
        row.addWidget(self.editor, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        self.error: str | None = None
        self.reset()

    @property
    def sweeping(self) -> bool:
        return self.sweep_button is not None and self.sweep_button.isChecked()

    def set_sweeping(self, on: bool) -> None:
        """Switch between one value and a sweep of values."""
        if self.sweep_button is None:
            return
        if self.sweep_button.isChecked() != on:
            self.sweep_button.setChecked(on)  # comes back here through toggled
            return
        self.editor.setVisible(not on)
        self.sweep_editor.setVisible(on)
        self._edited()

    def sweep_entry(self) -> GridEntry | RandomEntry | None:
        """The field's sweep (None when it holds one value); SweepInputError when refused."""
        if not self.sweeping:
            return None
        return self.sweep_editor.entry()

    def _build_editor(self) -> QWidget:
        p = self.param
        if p.type == "int":
            editor = QSpinBox()
            editor.setRange(*_spin_range(p))
            editor.valueChanged.connect(self._edited)
        elif p.type == "bool":
            editor = QCheckBox()
            editor.toggled.connect(self._edited)
        elif p.type == "choice":
            editor = QComboBox()
            editor.addItems(list(p.choices))
            editor.currentIndexChanged.connect(self._edited)
        else:
            editor = QLineEdit()
            if p.type in ("floats", "ints"):
                editor.setPlaceholderText("comma-separated numbers, e.g. 0.1, 0.5")
            editor.textChanged.connect(self._edited)
        return editor

    def raw_value(self):
        """What the user entered, as the spec would hold it (numbers parsed, nothing checked)."""
        p, editor = self.param, self.editor
        if p.type == "int":
            return editor.value()
        if p.type == "bool":
            return editor.isChecked()
        if p.type == "choice":
            return editor.currentText()
        if p.type == "float":
            return parse_number(editor.text(), integer=False)
        if p.type in ("floats", "ints"):
            return parse_list(editor.text(), integer=p.type == "ints")
        return editor.text()

    def set_value(self, value) -> None:
        p, editor = self.param, self.editor
        if p.type == "int":
            editor.setValue(int(value))
        elif p.type == "bool":
            editor.setChecked(bool(value))
        elif p.type == "choice":
            editor.setCurrentText(str(value))
        else:
            editor.setText(format_value(p, value))
        self.validate()

    def reset(self) -> None:
        self.set_value(self.param.default)

    def validate(self) -> bool:
        try:
            if self.sweeping:
                self.sweep_editor.entry()
            else:
                self.param.validate(self.raw_value())
        except ParamError as err:
            self.show_error(err.reason)
            return False
        except SweepInputError as err:
            self.show_error(str(err))
            return False
        self.show_error(None)
        return True

    def show_error(self, reason: str | None) -> None:
        """Show why the value is refused (None clears it)."""
        self.error = reason
        self.error_label.setText(reason or "")
        self.error_label.setVisible(reason is not None)
        shown = self.sweep_editor if self.sweeping else self.editor
        shown.setStyleSheet(INVALID_STYLE if reason else "")
        if self.sweeping:
            self.editor.setStyleSheet("")

    def _edited(self, *_):
        self.validate()
        self.changed.emit()


class ParamForm(QWidget):
    """A labelled field per declaration; `values()` gives the table a spec section holds,
    `sweeps()` the fields switched to a sweep (where `sweepable` allows it)."""

    changed = Signal()

    def __init__(self, params, parent=None, sweepable: bool = False):
        super().__init__(parent)
        self.fields: dict[str, ParamField] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for param in params:
            field = ParamField(param, sweepable=sweepable)
            label = QLabel(param.name)
            label.setToolTip(tooltip(param))
            layout.addRow(label, field)
            field.changed.connect(self.changed)
            self.fields[param.name] = field
        if not self.fields:
            layout.addRow(QLabel("<i>no parameters</i>"))

    def values(self) -> dict:
        return {name: field.raw_value() for name, field in self.fields.items()}

    def sweeps(self) -> dict:
        """{name: GridEntry | RandomEntry} of the swept fields (SweepInputError if refused)."""
        return {
            name: entry
            for name, field in self.fields.items()
            if (entry := field.sweep_entry()) is not None
        }

    def is_valid(self) -> bool:
        return all(field.error is None for field in self.fields.values())

    def reset(self) -> None:
        for field in self.fields.values():
            field.set_sweeping(False)
            field.reset()
        self.changed.emit()
