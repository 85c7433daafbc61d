"""Typed parameter declarations: one declaration drives validation, `--set`, and the GUI form.

Pure Python (no torch, no Qt) so that both the engine and the studio use the very same
checks. A declaration can travel as JSON (`to_json` / `from_json`), which is how the
studio learns the catalogue from `tradeoff list --json` without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TYPES = ("int", "float", "bool", "str", "choice", "floats", "ints", "int_or_all")
ALL = "all"  # the word an `int_or_all` parameter takes besides integers


class ParamError(ValueError):
    """A value that a declaration refuses; `reason` is a sentence for the user."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, bounds or choices, and a line of help.

    Types: ``int``, ``float``, ``bool``, ``str``, ``choice`` (one of ``choices``),
    ``floats`` / ``ints`` (lists of numbers, each within ``low``/``high``, with
    ``min_len``/``max_len`` items), ``int_or_all`` (an integer within the bounds, or the
    word "all"; a string of decimal digits, as a form's text field gives, counts as that
    integer). ``low``/``high`` are inclusive unless
    ``low_open``/``high_open`` are set.
    """

    name: str
    type: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)
    min_len: int = 1
    max_len: int | None = None

    def __post_init__(self):
        if self.type not in TYPES:
            raise TypeError(f"parameter {self.name}: unknown type {self.type!r}")
        if self.type == "choice" and not self.choices:
            raise TypeError(f"parameter {self.name}: a choice needs choices")
        # A declaration whose own default it would refuse is a programming error.
        self.validate(self.default)

    # -- validation -----------------------------------------------------------------
    def validate(self, value: Any) -> Any:
        """Return the value converted to the declared type, or raise ParamError."""
        t = self.type
        if t == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(self.name, f"must be true or false, got {_show(value)}")
        if t == "int":
            return self._check_bounds(self._as_int(value))
        if t == "int_or_all":
            return self._int_or_all(value)
        if t == "float":
            return self._check_bounds(self._as_float(value))
        if t == "str":
            if not isinstance(value, str):
                raise ParamError(self.name, f"must be a string, got {_show(value)}")
            return value
        if t == "choice":
            if value not in self.choices:
                raise ParamError(
                    self.name,
                    f"must be one of {', '.join(map(repr, self.choices))}, got {_show(value)}",
                )
            return value
        # lists
        if not isinstance(value, (list, tuple)):
            raise ParamError(self.name, f"must be a list of numbers, got {_show(value)}")
        if len(value) < self.min_len:
            raise ParamError(self.name, f"needs at least {self.min_len} values, got {len(value)}")
        if self.max_len is not None and len(value) > self.max_len:
            raise ParamError(self.name, f"takes at most {self.max_len} values, got {len(value)}")
        convert = self._as_int if t == "ints" else self._as_float
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self._check_bounds(convert(item)))
            except ParamError as err:
                # Counted from 1, as the user counts the values in a list.
                raise ParamError(self.name, f"item {i + 1}: {err.reason}") from None
        return out

    def _int_or_all(self, value: Any):
        if value == ALL:
            return ALL
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        whole = not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
        if whole:
            try:
                return self._check_bounds(int(value))
            except ParamError:
                pass
        bounds = self.describe_bounds()
        within = f" in {bounds}" if bounds else ""
        raise ParamError(self.name, f'must be an integer{within} or "{ALL}", got {_show(value)}')

    def _as_int(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ParamError(self.name, f"must be an integer, got {_show(value)}")
        return value

    def _as_float(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(self.name, f"must be a number, got {_show(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ParamError(self.name, f"must be a finite number, got {value}")
        return value

    def _check_bounds(self, v):
        if self.low is not None:
            if self.low_open and not v > self.low:
                raise ParamError(self.name, f"must be > {_num(self.low)}, got {_num(v)}")
            if not self.low_open and not v >= self.low:
                raise ParamError(self.name, f"must be >= {_num(self.low)}, got {_num(v)}")
        if self.high is not None:
            if self.high_open and not v < self.high:
                raise ParamError(self.name, f"must be < {_num(self.high)}, got {_num(v)}")
            if not self.high_open and not v <= self.high:
                raise ParamError(self.name, f"must be <= {_num(self.high)}, got {_num(v)}")
        return v

    def describe_bounds(self) -> str:
        """Human-readable range, e.g. '(0, 1]' or 'one of a, b'."""
        if self.type == "choice":
            return "one of " + ", ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        lo = "-inf" if self.low is None else _num(self.low)
        hi = "inf" if self.high is None else _num(self.high)
        return f"{'(' if self.low_open or self.low is None else '['}{lo}, {hi}{')' if self.high_open or self.high is None else ']'}"

    # -- JSON form (for `tradeoff list --json` and the studio) ----------------------
    def to_json(self) -> dict:
        d = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        for key in ("low", "high", "max_len"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.low_open:
            d["low_open"] = True
        if self.high_open:
            d["high_open"] = True
        if self.choices:
            d["choices"] = list(self.choices)
        if self.type in ("floats", "ints"):
            d["min_len"] = self.min_len
        return d

    @classmethod
    def from_json(cls, d: dict) -> Param:
        kwargs = dict(d)
        if "choices" in kwargs:
            kwargs["choices"] = tuple(kwargs["choices"])
        return cls(**kwargs)


def validate_params(declared: tuple[Param, ...], given: dict, section: str) -> dict:
    """Validate a table of values against declarations; fill defaults.

    Raises ParamError whose name is ``section.key`` so a message points at the spec key.
    """
    by_name = {p.name: p for p in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise ParamError(f"{section}.{unknown[0]}", f"unknown key (known keys: {known})")
    out = {}
    for p in declared:
        if p.name in given:
            try:
                out[p.name] = p.validate(given[p.name])
            except ParamError as err:
                raise ParamError(f"{section}.{p.name}", err.reason) from None
        else:
            out[p.name] = list(p.default) if isinstance(p.default, (list, tuple)) else p.default
    return out


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
