"""A parameter switched to "sweep": a list, a linear or log range of n points, or random samples.

`SweepEditor.entry()` gives what the field contributes to the spec's `[sweep]` table:
a `GridEntry` (the values, each checked with the parameter's own `Param.validate`, the
check the CLI applies to every point) or a `RandomEntry` (a range the engine samples,
`{low, high, log}`, with the number of samples), or raises `SweepInputError` with the
reason the form shows under the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.params import Param, ParamError

LIST, LINEAR, LOG, RANDOM = "list", "linear range", "log range", "random"
NUMERIC = ("int", "float")
MAX_POINTS = 10_000  # a range's n or a random sweep's samples; the run-count limit is the form's


class SweepInputError(ValueError):
    pass


@dataclass(frozen=True)
class GridEntry:
    values: tuple
    log_spaced: bool = False

    @property
    def count(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class RandomEntry:
    low: float
    high: float
    log: bool
    samples: int

    def table(self) -> dict:
        return {"low": self.low, "high": self.high, "log": self.log}


@dataclass(frozen=True)
class FormSweep:
    """The swept fields of a form as the spec's [sweep] tables: the grid's lists (their
    Cartesian product) and the random ranges, which share one sample count."""

    grid: dict  # dotted key -> GridEntry
    random: dict  # dotted key -> RandomEntry

    @classmethod
    def from_entries(cls, entries: dict) -> FormSweep:
        grid = {k: e for k, e in entries.items() if isinstance(e, GridEntry)}
        random = {k: e for k, e in entries.items() if isinstance(e, RandomEntry)}
        counts = {e.samples for e in random.values()}
        if len(counts) > 1:
            listed = ", ".join(f"{k}: {e.samples}" for k, e in random.items())
            raise SweepInputError(
                f"random keys are sampled together, so they need one sample count ({listed})"
            )
        return cls(grid, random)

    @property
    def runs(self) -> int:
        count = math.prod(e.count for e in self.grid.values())
        if self.random:
            count *= next(iter(self.random.values())).samples
        return count

    def tables(self) -> dict:
        tables = {}
        if self.grid:
            tables["grid"] = {k: list(e.values) for k, e in self.grid.items()}
        if self.random:
            samples = next(iter(self.random.values())).samples
            tables["random"] = {
                "samples": samples,
                **{k: e.table() for k, e in self.random.items()},
            }
        return tables

    def describe(self) -> str:
        parts = [f"{k} × {e.count}" for k, e in self.grid.items()]
        if self.random:
            samples = next(iter(self.random.values())).samples
            parts.append(f"{samples} random samples of {', '.join(self.random)}")
        runs = self.runs
        return f"{runs} run{'s' if runs != 1 else ''} ({'; '.join(parts)})"


def modes_for(param: Param) -> tuple[str, ...]:
    """What a parameter can sweep: a float every mode, an integer a list or a range (random
    samples would not be integers), other types a list."""
    if param.type == "float":
        return (LIST, LINEAR, LOG, RANDOM)
    if param.type == "int":
        return (LIST, LINEAR, LOG)
    return (LIST,)


def parse_items(text: str, param: Param) -> list:
    """A comma-separated list typed for `param`, each item converted and checked."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise SweepInputError("type at least one value, comma-separated, e.g. 0.5, 1, 2")
    values = []
    for item in items:
        values.append(_checked(param, _parse_scalar(item, param)))
    if len(set(map(repr, values))) != len(values):
        raise SweepInputError("a value is listed twice")
    return values


def _parse_scalar(text: str, param: Param):
    if param.type == "bool":
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text
    if param.type in NUMERIC:
        try:
            return int(text) if param.type == "int" else float(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return text
    return text


def _checked(param: Param, value):
    try:
        return param.validate(value)
    except ParamError as err:
        raise SweepInputError(f"{value!r}: {err.reason}") from None


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise SweepInputError(f"{what} must be a number, got {text.strip()!r}") from None
    if not math.isfinite(value):
        raise SweepInputError(f"{what} must be finite")
    return value


def range_values(param: Param, low: float, high: float, n: int, log: bool) -> list:
    """n points from low to high, evenly spaced (in log space for a log range), as the
    parameter's type; an integer range rounds and drops repeats."""
    if n < 2:
        raise SweepInputError("a range needs at least 2 points")
    if not high > low:
        raise SweepInputError("the range's high end must be above its low end")
    if log and low <= 0:
        raise SweepInputError("a log range needs a low end above 0")
    for end in (low, high):  # the ends as typed are named in a refusal, not a point between
        _checked(param, int(end) if param.type == "int" and float(end).is_integer() else end)
    if log:
        points = np.geomspace(low, high, n)
    else:
        points = np.linspace(low, high, n)
    if param.type == "int":
        values = list(dict.fromkeys(int(round(p)) for p in points))
    else:
        values = [float(p) for p in points]
        values[0], values[-1] = float(low), float(high)  # the ends as typed, not as rounded
    return [_checked(param, v) for v in values]


class SweepEditor(QWidget):
    """The editor a field shows while it is swept."""

    changed = Signal()

    def __init__(self, param: Param, parent=None):
        super().__init__(parent)
        self.param = param
        self.mode = QComboBox()
        self.mode.addItems(list(modes_for(param)))
        self.list_edit = QLineEdit()
        self.list_edit.setPlaceholderText(self._list_hint())
        self.low, self.high = QLineEdit(), QLineEdit()
        self.low.setPlaceholderText("low")
        self.high.setPlaceholderText("high")
        self.points = QSpinBox()
        self.points.setRange(2, MAX_POINTS)
        self.points.setValue(3)
        self.points.setSuffix(" points")
        self.log = QCheckBox("log")
        self.range_row = QWidget()
        row = QHBoxLayout(self.range_row)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.low, QLabel("to"), self.high, self.points, self.log):
            row.addWidget(widget)
        for edit in (self.low, self.high):
            edit.setMinimumWidth(40)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.list_edit)
        self.stack.addWidget(self.range_row)
        # The mode above its inputs: the form's column is narrow, and a range's five
        # inputs need its whole width.
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.mode)
        layout.addWidget(self.stack)
        self._fill_defaults()
        self.mode.currentTextChanged.connect(self._mode_changed)
        for edit in (self.list_edit, self.low, self.high):
            edit.textChanged.connect(self.changed)
        self.points.valueChanged.connect(self.changed)
        self.log.toggled.connect(self.changed)
        self._mode_changed(self.mode.currentText())

    def _list_hint(self) -> str:
        if self.param.type == "choice":
            return "comma-separated, of: " + ", ".join(map(str, self.param.choices))
        if self.param.type == "bool":
            return "true, false"
        return "comma-separated values, e.g. 0.5, 1, 2"

    def _fill_defaults(self) -> None:
        p = self.param
        if p.type == "choice":
            self.list_edit.setText(", ".join(map(str, p.choices)))
        elif p.type == "bool":
            self.list_edit.setText("true, false")
        elif p.type in NUMERIC:
            self.list_edit.setText(repr(p.default))
            low = p.low if p.low is not None else p.default
            high = p.high if p.high is not None else (p.default * 10 if p.default else 1)
            self.low.setText(repr(low))
            self.high.setText(repr(high))
        else:
            self.list_edit.setText(str(p.default))

    def _mode_changed(self, mode: str) -> None:
        self.stack.setCurrentWidget(self.list_edit if mode == LIST else self.range_row)
        self.points.setSuffix(" samples" if mode == RANDOM else " points")
        self.log.setVisible(mode == RANDOM)
        self.changed.emit()

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentText(mode)

    def entry(self) -> GridEntry | RandomEntry:
        """What this field sweeps, or SweepInputError with the reason."""
        mode = self.mode.currentText()
        if mode == LIST:
            values = parse_items(self.list_edit.text(), self.param)
            return GridEntry(tuple(values), log_spaced=False)
        low = _number(self.low.text(), "low")
        high = _number(self.high.text(), "high")
        if mode == RANDOM:
            if not high > low:
                raise SweepInputError("the range's high end must be above its low end")
            if self.log.isChecked() and low <= 0:
                raise SweepInputError("log sampling needs a low end above 0")
            _checked(self.param, low)
            _checked(self.param, high)
            return RandomEntry(low, high, self.log.isChecked(), self.points.value())
        values = range_values(self.param, low, high, self.points.value(), log=mode == LOG)
        return GridEntry(tuple(values), log_spaced=mode == LOG)
