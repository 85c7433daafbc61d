"""RunSpec: one run described as TOML, validated by the parameter declarations.

```toml
[run]
name = "ucb-vs-ts"   # optional
seeds = 20           # batch of seeds run together
steps = 10000
seed = 0             # base seed (optional)
record_every = 0     # record stride in steps; 0 = automatic (optional)
keep_seeds = 100     # per-seed values kept for seeds 0..99; "all" keeps every seed (optional)
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.1, 0.2, 0.5]
[hardware]
device = "auto"      # "cpu", "cuda", "cuda:N", "auto"
threads = 0          # torch threads; 0 = leave torch's default
dtype = "float32"
```

Pure Python: the studio validates and writes specs with this module too. Files are
read with `tomllib` as data; nothing in a spec is ever evaluated.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.params import Param, ParamError, validate_params
from engine.registry import UnknownId

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")

DEFAULT_KEEP_SEEDS = 100
RUN_PARAMS = (
    Param("name", "str", "", "A name for the run, shown in the history."),
    Param("seeds", "int", 1, "Number of seeds, run together as a batch.", low=1, high=10_000_000),
    Param(
        "steps", "int", 1000, "Number of steps (rounds, updates) per seed.", low=1, high=100_000_000
    ),
    Param(
        "seed", "int", 0, "Base random seed; the same seed gives the same draws.", low=0, high=2**62
    ),
    Param(
        "record_every",
        "int",
        0,
        "Record every N steps (log-spaced points are always kept); 0 = automatic.",
        low=0,
        high=100_000_000,
    ),
    Param(
        "keep_seeds",
        "int_or_all",
        DEFAULT_KEEP_SEEDS,
        "Per-seed values are stored for the first N seeds; all = every seed. Aggregates use every seed.",
        low=0,
        high=2**62,
    ),
)
HARDWARE_PARAMS = (
    Param("device", "str", "auto", "Where tensors live: auto, cpu, cuda or cuda:N."),
    Param("threads", "int", 0, "Torch CPU threads; 0 leaves torch's default.", low=0, high=1024),
    Param(
        "dtype",
        "choice",
        "float32",
        "Floating-point precision of the tensors.",
        choices=("float32", "float64"),
    ),
)
REQUIRED = (("run", "steps"), ("algorithm", "id"), ("problem", "id"))
SECTIONS = ("run", "algorithm", "problem", "hardware")
# Limits on the text itself, checked before the TOML parser runs: beyond them Python's
# parser fails with its own errors (RecursionError from about 400 nested arrays,
# ValueError for an integer of over 4300 digits) instead of naming the line and key.
MAX_NESTING = 32  # arrays and inline tables inside one another; a spec needs two
MAX_NUMBER_CHARS = 100  # characters of one number (or date) as written
INT_LIMIT = 2**63  # integers are 64-bit: -2**63 <= value < 2**63


class SpecError(ValueError):
    """A spec the schema refuses: names the source, the key and the reason."""

    def __init__(self, source: str, key: str, reason: str):
        self.source, self.key, self.reason = source, key, reason
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {reason}" if key else f"{where}{reason}")


@dataclass
class RunSpec:
    algorithm: str
    problem: str
    steps: int
    seeds: int = 1
    name: str = ""
    seed: int = 0
    record_every: int = 0
    keep_seeds: int | str = DEFAULT_KEEP_SEEDS  # an int >= 0, or "all"
    algorithm_params: dict = field(default_factory=dict)
    problem_params: dict = field(default_factory=dict)
    device: str = "auto"
    threads: int = 0
    dtype: str = "float32"
    source: str = field(
        default="", compare=False, repr=False
    )  # the file it was read from, for messages

    # -- reading ----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, catalogue, source: str = "") -> RunSpec:
        """Validate a parsed TOML document against the catalogue's declarations."""
        try:
            spec = cls._from_dict(data, catalogue)
            spec.source = source
            return spec
        except ParamError as err:
            raise SpecError(source, err.name, err.reason) from None
        except UnknownId as err:
            section = "algorithm" if err.kind == "algorithm" else "problem"
            raise SpecError(source, f"{section}.id", str(err)) from None

    @classmethod
    def _from_dict(cls, data: dict, catalogue) -> RunSpec:
        for section in data:
            if section not in SECTIONS:
                raise ParamError(section, f"unknown section (sections: {', '.join(SECTIONS)})")
            if not isinstance(data[section], dict):
                raise ParamError(section, "must be a table, e.g. [" + section + "]")
        for section, key in REQUIRED:
            if key not in data.get(section, {}):
                raise ParamError(f"{section}.{key}", "missing (required)")
        run = validate_params(RUN_PARAMS, data.get("run", {}), "run")
        hw = validate_params(HARDWARE_PARAMS, data.get("hardware", {}), "hardware")
        if not DEVICE_PATTERN.match(hw["device"]):
            raise ParamError(
                "hardware.device", f"must be auto, cpu, cuda or cuda:N, got {hw['device']!r}"
            )

        alg_table = dict(data["algorithm"])
        prob_table = dict(data["problem"])
        alg_id, prob_id = alg_table.pop("id"), prob_table.pop("id")
        for key, ident in (("algorithm.id", alg_id), ("problem.id", prob_id)):
            if not isinstance(ident, str):
                raise ParamError(key, f"must be a string, got {ident!r}")
        alg = catalogue.algorithm(alg_id)
        catalogue.problem(prob_id)
        if prob_id not in alg.problems:
            raise ParamError(
                "problem.id",
                f"{alg_id} does not run on {prob_id!r} (it runs on: {', '.join(alg.problems)})",
            )
        prob = catalogue.problem(prob_id)
        return cls(
            algorithm=alg_id,
            problem=prob_id,
            steps=run["steps"],
            seeds=run["seeds"],
            name=run["name"],
            seed=run["seed"],
            record_every=run["record_every"],
            keep_seeds=run["keep_seeds"],
            algorithm_params=validate_params(alg.params, alg_table, "algorithm"),
            problem_params=validate_params(prob.params, prob_table, "problem"),
            device=hw["device"],
            threads=hw["threads"],
            dtype=hw["dtype"],
        )

    @classmethod
    def from_toml(cls, text: str, catalogue, source: str = "", overrides=()) -> RunSpec:
        """Parse and validate; any text at all either gives a spec or raises SpecError."""
        data = parse_toml(text, source)
        for item in overrides:
            apply_override(data, item, source)
        return cls.from_dict(data, catalogue, source)

    @classmethod
    def from_file(cls, path, catalogue, overrides=()) -> RunSpec:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SpecError(str(path), "", "no such file") from None
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(str(path), "", f"cannot be read: {err}") from None
        return cls.from_toml(text, catalogue, str(path), overrides)

    # -- writing ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        run = {"seeds": self.seeds, "steps": self.steps, "seed": self.seed}
        if self.name:
            run = {"name": self.name, **run}
        if self.record_every:
            run["record_every"] = self.record_every
        if self.keep_seeds != DEFAULT_KEEP_SEEDS:
            run["keep_seeds"] = self.keep_seeds
        return {
            "run": run,
            "algorithm": {"id": self.algorithm, **self.algorithm_params},
            "problem": {"id": self.problem, **self.problem_params},
            "hardware": {"device": self.device, "threads": self.threads, "dtype": self.dtype},
        }

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    @property
    def title(self) -> str:
        return self.name or f"{self.algorithm} on {self.problem}"


def parse_toml(text: str, source: str = "") -> dict:
    """A TOML document as data; SpecError (naming the line, and the key where known) for
    anything the parser refuses or could only fail on with a Python error."""
    too_far = beyond_limits(text)
    if too_far:
        key, reason, line = too_far
        raise SpecError(source, key, f"{reason} (line {line})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(source, "", f"not valid TOML: {err}") from None
    except (
        RecursionError,
        ValueError,
        OverflowError,
        MemoryError,
    ) as err:  # past what beyond_limits sees
        raise SpecError(
            source, "", f"not valid TOML: {type(err).__name__}: {str(err)[:120]}"
        ) from None
    key = _integer_out_of_range(data)
    if key:
        raise SpecError(
            source, key, "integer out of range (integers must lie in -2**63 .. 2**63 - 1)"
        )
    return data


def _integer_out_of_range(value, key: str = "") -> str | None:
    """The dotted key of the first integer outside 64 bits (hexadecimal ones may be huge);
    an integer inside a list is named by the list's key."""
    if isinstance(value, int) and not isinstance(value, bool):
        return key if not -INT_LIMIT <= value < INT_LIMIT else None
    if isinstance(value, dict):
        items = ((f"{key}.{name}" if key else name, item) for name, item in value.items())
    elif isinstance(value, list):
        items = ((key, item) for item in value)
    else:
        return None
    for item_key, item in items:
        found = _integer_out_of_range(item, item_key)
        if found:
            return found
    return None


def beyond_limits(text: str) -> tuple[str, str, int] | None:
    """The first value nested more than MAX_NESTING deep, or a number written with more than
    MAX_NUMBER_CHARS characters, as (dotted key, reason, line); None when there is none.

    A single pass over the text that knows just enough TOML to find values: strings
    (basic, literal, multi-line) and comments are skipped, a `[` at the start of a line
    outside a value is a table header, and a value runs from `=` to the end of its
    line or of its brackets. Malformed text is left for the parser to refuse.
    """
    i, n, line = 0, len(text), 1
    depth, section, key = 0, "", ""
    in_value = False
    key_start = None  # where the key of the current line begins
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if depth == 0:
                in_value, key_start = False, None
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            if not in_value and depth == 0 and key_start is None:
                key_start = i  # a quoted key
            end = _string_end(text, i)
            line += text.count("\n", i, end)
            i = end
        elif c.isspace():
            i += 1
        elif not in_value and depth == 0:
            if key_start is None and c == "[":
                end = text.find("\n", i)
                end = n if end < 0 else end
                header = text[i:end].split("#", 1)[0].strip()
                section = header.strip("[] \t")
                i = end
            elif c == "=":
                key = text[key_start if key_start is not None else i : i].strip()
                key = f"{section}.{key}" if section else key
                in_value = True
                i += 1
            else:
                if key_start is None:
                    key_start = i
                i += 1
        elif c in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return key, f"nested more than {MAX_NESTING} arrays or tables deep", line
            i += 1
        elif c in "]}":
            depth = max(0, depth - 1)
            i += 1
        elif c in "0123456789+-" and not (i and (text[i - 1].isalnum() or text[i - 1] in "_.+-")):
            end = i
            while end < n and (text[end].isalnum() or text[end] in "_.+-"):
                end += 1
            if end - i > MAX_NUMBER_CHARS:
                return (
                    key,
                    f"a number written with {end - i} characters (at most {MAX_NUMBER_CHARS})",
                    line,
                )
            i = end
        else:
            i += 1
    return None


def _string_end(text: str, start: int) -> int:
    """The index just past the TOML string that starts at `start` (or the end of the text)."""
    quote = text[start]
    delimiter = quote * 3 if text.startswith(quote * 3, start) else quote
    i = start + len(delimiter)
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
        elif text.startswith(delimiter, i):
            i += len(delimiter)
            if len(delimiter) == 3:  # a multi-line string may end with one or two quotes of its own
                i += len(text[i : i + 2]) - len(text[i : i + 2].lstrip(quote))
            return i
        elif len(delimiter) == 1 and text[i] == "\n":
            return i  # an unterminated one-line string: the parser will say so
        else:
            i += 1
    return i


def apply_override(data: dict, item: str, source: str = "") -> None:
    """Apply one ``section.key=value`` override; the value is read as a TOML value."""
    if "=" not in item:
        raise SpecError(source, item, "an override must look like section.key=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if key.count(".") != 1 or not all(key.split(".")):
        raise SpecError(
            source, key, "an override key must be section.key, e.g. algorithm.c or run.seeds"
        )
    section, name = key.split(".")
    if section not in SECTIONS:
        raise SpecError(source, key, f"unknown section (sections: {', '.join(SECTIONS)})")
    try:
        value = parse_toml(f"v = {raw.strip()}")["v"]
    except SpecError as err:
        if not err.reason.startswith("not valid TOML"):
            raise SpecError(
                source, key, f"{err.reason.rsplit(' (line', 1)[0]} (--set {key})"
            ) from None
        value = raw  # a bare word such as cuda:0 is a string
    if not isinstance(data.get(section, {}), dict):
        raise SpecError(source, section, "must be a table, e.g. [" + section + "]")
    data.setdefault(section, {})[name] = value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eEn") else text + ".0"
    if isinstance(value, str):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\t", "\\t")
        )
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(doc: dict) -> str:
    """Write a document of tables of plain values (what a spec holds) as TOML."""
    lines = []
    for section, table in doc.items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
