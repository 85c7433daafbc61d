"""Sweeps: one spec with a `[sweep]` table expands into many run specs ("points").

```toml
[sweep.grid]                 # Cartesian product of lists
"algorithm.c" = [0.5, 1.0, 2.0]
"algorithm.id" = ["bandits.ucb1", "bandits.kl_ucb"]
[sweep.zip]                  # lists of equal length, taken together
"run.steps" = [100, 1000]
"run.seeds" = [10, 5]
[sweep.random]               # N samples; per key a range {low, high, log} or a list
samples = 8
seed = 0                     # the random points' own seed (default: run.seed)
"algorithm.beta" = {low = 0.01, high = 10.0, log = true}
```

Points = product(grid) x zip rows x random samples, in that nesting: the grid is the
slowest (row-major in the order the keys are written, the last key fastest), then the
zip rows, then the random samples (the same samples for every grid point and zip row).
A part that is absent counts as one empty point. `--set key=[a,b]` adds the key to the
grid; for a parameter whose value is itself a list (e.g. problem.means) only a list of
lists is a sweep.

Random samples: numpy's PCG64 seeded with `seed`; for each sample, the keys in the order
written, one uniform draw each: a range gives low + u (high - low), or with `log = true`
exp(log low + u (log high - log low)); integer bounds give integers (rounded, clamped to
the range); a list gives one of its items, each as likely.

Every point is validated as a RunSpec before anything is written: a bad point refuses
the whole sweep with a SpecError that names the point, its values and the key. Pure
Python, no torch: the studio may expand sweeps too.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from dataclasses import dataclass, field

from engine.spec import (
    SECTIONS,
    RunSpec,
    SpecError,
    _toml_value,
    apply_override,
    dumps_toml,
    parse_toml,
)

PARTS = ("grid", "zip", "random")
RANDOM_OPTIONS = ("samples", "seed")
MAX_POINTS = 100_000
LOG_RATIO_TOLERANCE = 1e-9
LIST_TYPES = ("floats", "ints")


@dataclass
class SweepPoint:
    idx: int
    values: dict  # {dotted key: value}
    spec: RunSpec


@dataclass
class Sweep:
    spec_toml: str  # the sweep spec as given, with --set applied
    keys: list[str]  # the swept dotted keys, in spec order
    log_keys: list[str]  # the swept keys that are log-spaced
    points: list[SweepPoint] = field(default_factory=list)
    name: str = ""  # the spec's run.name ("" : the store names it "sweep N")
    source: str = ""


def is_sweep_doc(data: dict) -> bool:
    return "sweep" in data


def _split_key(key, source: str, where: str) -> tuple[str, str]:
    if not isinstance(key, str) or key.count(".") != 1 or not all(key.split(".")):
        raise SpecError(source, where, f'swept key {key!r} must be section.key, e.g. "algorithm.c"')
    section, name = key.split(".")
    if section not in SECTIONS:
        raise SpecError(
            source, f"{where}.{key}", f"unknown section (sections: {', '.join(SECTIONS)})"
        )
    return section, name


def _param_type(data: dict, key: str, catalogue) -> str | None:
    """The declared type of a dotted key for the spec's algorithm or problem (None: unknown)."""
    section, name = key.split(".")
    if section not in ("algorithm", "problem"):
        return None
    ident = data.get(section, {}).get("id") if isinstance(data.get(section), dict) else None
    if not isinstance(ident, str):
        return None
    try:
        entry = (catalogue.algorithm if section == "algorithm" else catalogue.problem)(ident)
    except Exception:  # noqa: BLE001 - an unknown id is refused when the point is validated
        return None
    for p in entry.params:
        if p.name == name:
            return p.type
    return None


def _is_list_sweep(value, declared: str | None) -> bool:
    if not isinstance(value, list):
        return False
    if declared in LIST_TYPES:  # a list is the value; a list of lists is a sweep
        return bool(value) and all(isinstance(v, list) for v in value)
    return True


def split_overrides(data: dict, overrides, catalogue, source: str = "") -> None:
    """Apply `--set` items to a parsed spec: a list value (see module doc) goes to
    [sweep.grid], anything else replaces the value as `--set` always did."""
    for item in overrides:
        probe: dict = {}
        apply_override(probe, item, source)  # parses and checks the key like a plain --set
        ((section, table),) = probe.items()
        ((name, value),) = table.items()
        key = f"{section}.{name}"
        if _is_list_sweep(value, _param_type(data, key, catalogue)):
            sweep = data.setdefault("sweep", {})
            if not isinstance(sweep, dict):
                raise SpecError(source, "sweep", "must be a table, e.g. [sweep.grid]")
            grid = sweep.setdefault("grid", {})
            if not isinstance(grid, dict):
                raise SpecError(source, "sweep.grid", "must be a table of lists")
            for part in ("zip", "random"):
                if isinstance(sweep.get(part), dict) and key in sweep[part]:
                    del sweep[part][key]  # the command line wins
            grid[key] = value
        else:
            apply_override(data, item, source)


def _grid_points(grid: dict, source: str) -> list[dict]:
    lists = []
    for key, values in grid.items():
        where = f"sweep.grid.{key}"
        if not isinstance(values, list) or not values:
            raise SpecError(source, where, "must be a non-empty list of values")
        lists.append(values)
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def _zip_points(table: dict, source: str) -> list[dict]:
    lengths = {}
    for key, values in table.items():
        if not isinstance(values, list) or not values:
            raise SpecError(source, f"sweep.zip.{key}", "must be a non-empty list of values")
        lengths[key] = len(values)
    if len(set(lengths.values())) > 1:
        said = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise SpecError(source, "sweep.zip", f"lists must have equal lengths ({said})")
    n = next(iter(lengths.values()), 1)
    return [{key: table[key][i] for key in table} for i in range(n)]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _random_points(table: dict, default_seed: int, source: str) -> list[dict]:
    import numpy as np

    samples = table.get("samples")
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_POINTS:
        raise SpecError(
            source, "sweep.random.samples", f"must be an integer 1..{MAX_POINTS}, got {samples!r}"
        )
    seed = table.get("seed", default_seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SpecError(source, "sweep.random.seed", f"must be an integer >= 0, got {seed!r}")
    ranges = {}
    for key, how in table.items():
        if key in RANDOM_OPTIONS:
            continue
        where = f"sweep.random.{key}"
        if isinstance(how, list):
            if not how:
                raise SpecError(source, where, "a list to draw from must not be empty")
            ranges[key] = how
            continue
        if not isinstance(how, dict):
            raise SpecError(source, where, "must be {low = ..., high = ..., log = ...} or a list")
        unknown = set(how) - {"low", "high", "log"}
        if unknown:
            raise SpecError(
                source, where, f"unknown option {sorted(unknown)[0]!r} (low, high, log)"
            )
        low, high, log = how.get("low"), how.get("high"), how.get("log", False)
        if not _number(low) or not _number(high):
            raise SpecError(source, where, "low and high must both be numbers")
        if not math.isfinite(low) or not math.isfinite(high) or not low <= high:
            raise SpecError(source, where, f"needs finite low <= high, got {low!r}, {high!r}")
        if not isinstance(log, bool):
            raise SpecError(source, where, f"log must be true or false, got {log!r}")
        if log and low <= 0:
            raise SpecError(source, where, f"log = true needs low > 0, got {low!r}")
        ranges[key] = (low, high, log)
    rng = np.random.Generator(np.random.PCG64(seed))
    points = []
    for _ in range(samples):
        point = {}
        for key, how in ranges.items():
            u = float(rng.random())
            if isinstance(how, list):
                point[key] = how[min(int(u * len(how)), len(how) - 1)]
                continue
            low, high, log = how
            if log:
                value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                value = low + u * (high - low)
            if isinstance(low, int) and isinstance(high, int):
                value = min(max(int(round(value)), low), high)
            else:
                value = min(max(value, float(low)), float(high))
            point[key] = value
        points.append(point)
    return points


def is_log_spaced(values) -> bool:
    """>= 3 positive numbers whose successive ratios are all equal (1e-9 relative), not 1."""
    if not isinstance(values, list) or len(values) < 3:
        return False
    if not all(_number(v) and v > 0 for v in values):
        return False
    ratios = [values[i + 1] / values[i] for i in range(len(values) - 1)]
    first = ratios[0]
    if abs(first - 1.0) <= LOG_RATIO_TOLERANCE:
        return False
    return all(abs(r - first) <= LOG_RATIO_TOLERANCE * abs(first) for r in ratios)


def _is_log_key(how, part: str) -> bool:
    if part == "random":
        return isinstance(how, dict) and how.get("log") is True
    return is_log_spaced(how)


def _sweep_toml(data: dict) -> str:
    """A parsed sweep spec written back as TOML (used when --set changed it)."""
    plain = {k: v for k, v in data.items() if k != "sweep"}
    text = dumps_toml(plain) if plain else ""
    for part in PARTS:
        table = data.get("sweep", {}).get(part)
        if not table:
            continue
        lines = [f"[sweep.{part}]"]
        for key, value in table.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
                lines.append(f"{json.dumps(key)} = {{{inner}}}")
            else:
                lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
        text += ("\n" if text else "") + "\n".join(lines) + "\n"
    return text


def expand(data: dict, catalogue, source: str = "", text: str | None = None) -> Sweep:
    """The points of a parsed sweep spec, each validated (SpecError naming the point)."""
    data = copy.deepcopy(data)
    sweep = data.pop("sweep", {})
    if not isinstance(sweep, dict):
        raise SpecError(source, "sweep", "must be a table, e.g. [sweep.grid]")
    unknown = [part for part in sweep if part not in PARTS]
    if unknown:
        raise SpecError(
            source, f"sweep.{unknown[0]}", f"unknown sweep table (tables: {', '.join(PARTS)})"
        )
    seen: dict[str, str] = {}
    keys: list[str] = []
    for part in PARTS:
        table = sweep.get(part, {})
        if not isinstance(table, dict):
            raise SpecError(source, f"sweep.{part}", f"must be a table, e.g. [sweep.{part}]")
        for key in table:
            if part == "random" and key in RANDOM_OPTIONS:
                continue
            _split_key(key, source, f"sweep.{part}")
            if key in seen:
                raise SpecError(
                    source, f"sweep.{part}.{key}", f"already swept in [sweep.{seen[key]}]"
                )
            seen[key] = part
            keys.append(key)
    if not keys:
        raise SpecError(
            source, "sweep", "sweeps no key: give [sweep.grid], [sweep.zip] or [sweep.random]"
        )
    grid = _grid_points(sweep.get("grid", {}), source)
    zipped = _zip_points(sweep.get("zip", {}), source) if sweep.get("zip") else [{}]
    run = data.get("run", {}) if isinstance(data.get("run"), dict) else {}
    base_seed = run.get("seed", 0) if isinstance(run.get("seed", 0), int) else 0
    randoms = _random_points(sweep["random"], base_seed, source) if sweep.get("random") else [{}]
    count = len(grid) * len(zipped) * len(randoms)
    if count > MAX_POINTS:
        raise SpecError(source, "sweep", f"{count} points; at most {MAX_POINTS} in one sweep")
    log_keys = [k for k in keys if _is_log_key(sweep[seen[k]][k], seen[k])]
    points = []
    for idx, (g, z, r) in enumerate(itertools.product(grid, zipped, randoms)):
        values = {**g, **z, **r}
        values = {k: values[k] for k in keys}
        point = copy.deepcopy(data)
        for key, value in values.items():
            section, name = key.split(".")
            if not isinstance(point.setdefault(section, {}), dict):
                raise SpecError(source, section, "must be a table, e.g. [" + section + "]")
            point[section][name] = value
        try:
            spec = RunSpec.from_dict(point, catalogue, source)
        except SpecError as err:
            raise point_error(source, idx, values, err) from None
        points.append(SweepPoint(idx, values, spec))
    name = run.get("name", "") if isinstance(run.get("name", ""), str) else ""
    return Sweep(
        spec_toml=text if text is not None else _sweep_toml({**data, "sweep": sweep}),
        keys=keys,
        log_keys=log_keys,
        points=points,
        name=name,
        source=source,
    )


def describe_values(values: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())


def point_error(source: str, idx: int, values: dict, err: SpecError) -> SpecError:
    """A point's SpecError restated to name the point and its values."""
    key = f"sweep point {idx} ({describe_values(values)})"
    return SpecError(source, f"{key}: {err.key}" if err.key else key, err.reason)


def from_toml(text: str, catalogue, source: str = "", overrides=()) -> Sweep | None:
    """A sweep from spec text and `--set` items; None when neither makes it a sweep (a plain run)."""
    data = parse_toml(text, source)
    split_overrides(data, overrides, catalogue, source)
    if not is_sweep_doc(data):
        return None
    return expand(data, catalogue, source, text=text if not overrides else None)


def from_file(path, catalogue, overrides=()) -> Sweep | None:
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), "", "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(str(path), "", f"cannot be read: {err}") from None
    return from_toml(text, catalogue, str(path), overrides)
