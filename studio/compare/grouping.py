"""Group runs by a spec parameter and pool their seeds: the numbers behind Compare.

Only runs that were run the same way are pooled. The compared runs are first split
into comparable sets: runs in one set agree on every spec value except the grouped key
and the keys in `FREE_KEYS` (which seeds, the run's name, where it ran). Everything
else is part of the setting, `hardware.dtype` included: float32 and float64 give
different numbers. Within a set, runs with the same value of the grouped key form one
group. When the runs fall into several sets, `Grouping.notice` names each key that
differs and its values, so the split is never silent.

A group's curve pools every seed of every run in it, on the union of the steps its
runs recorded, without reading a single seed: each run's aggregates over its seeds
(count, mean, variance, min, max per checkpoint) combine exactly into those of the
pooled sample (`engine.metrics.aggregate.pool_aggregates`), and the band is the
Student-t 95% band of the pooled mean (`band_from_aggregate`, as the regret view
draws). Grouping 50 runs of 10^5 seeds costs what grouping 50 runs of 10 does. `n`
says how many seeds stand behind each point, and `step_notice` says when it is not the
same at every step (a run stopped early, or is still running). Pure numpy: no Qt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from engine.metrics.aggregate import band_from_aggregate, pool_aggregates
from engine.spec import SECTIONS
from studio.views.run_data import SeedTable, seed_table_aggregate

EACH_RUN = ""  # the "group by" choice that keeps every run on its own
# What may differ between runs pooled into one curve: the number of seeds and the base
# seed (pooling seeds is the point), the run's name, and the device and threads it ran
# on (they change speed, not the numbers).
FREE_KEYS = ("run.seeds", "run.seed", "run.name", "hardware.device", "hardware.threads")
ABSENT = "(absent)"
NONE = "(none)"  # the group of runs whose algorithm or problem has no such parameter
ID_KEYS = ("algorithm.id", "problem.id")


def parameter_value(spec: dict, key: str):
    """The value of "section.name" in a spec document (`spec_json`); None when absent."""
    section, _, name = key.partition(".")
    return spec.get(section, {}).get(name)


def value_text(value) -> str:
    """Compact and unambiguous: 2.0, [0.1, 0.2], "cpu" as cpu, a missing value as "-"."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def flat_spec(spec: dict) -> dict[str, str]:
    """ "section.name" -> value text for every value of a spec document."""
    return {
        f"{section}.{name}": value_text(value)
        for section in SECTIONS
        for name, value in spec.get(section, {}).items()
    }


def group_keys(specs: list[dict]) -> list[str]:
    """Every "section.name" in the specs: those whose value differs between runs first, then the rest."""
    keys = []
    for section in SECTIONS:
        for spec in specs:
            for name in spec.get(section, {}):
                key = f"{section}.{name}"
                if key not in keys:
                    keys.append(key)
    varying = [k for k in keys if len({value_text(parameter_value(s, k)) for s in specs}) > 1]
    return varying + [k for k in keys if k not in varying]


def _grouped_keys(key: str, flat: dict[str, str]) -> list[str]:
    """The keys a group stands for: `key`, and for algorithm.id or problem.id the whole
    section (an algorithm's parameters belong to it: UCB1 with c = 1 and with c = 2 are
    two curves, not one)."""
    if key in ID_KEYS:
        section = key.partition(".")[0]
        return [k for k in flat if k.partition(".")[0] == section]
    return [key]


def _importance(key: str) -> int:
    """Where a key goes in the notice and which keys a set's label prefers: what was compared
    (algorithm, problem) before how long and at what precision."""
    section = key.partition(".")[0]
    if key in ID_KEYS:
        return ID_KEYS.index(key)
    return len(ID_KEYS) + ("algorithm", "problem", "run", "hardware").index(section)


def setting(flat: dict[str, str], key: str) -> dict[str, str]:
    """What a run's curve depends on besides the grouped key: every spec value but the free keys."""
    skip = set(FREE_KEYS) | set(_grouped_keys(key, flat))
    return {k: v for k, v in flat.items() if k not in skip}


@dataclass
class Group:
    label: str
    run_ids: list[int]


@dataclass
class ComparableSet:
    """Runs that agree on everything but the grouped key; `label` names the values that set it apart."""

    label: str
    groups: list[Group] = field(default_factory=list)


@dataclass
class Grouping:
    sets: list[ComparableSet]
    differing: dict[str, list[str]]  # key -> its values in the sets, in first-seen order

    @property
    def notice(self) -> str:
        """Which keys differ between the compared runs and that they were split; "" when none do."""
        if len(self.sets) < 2:
            return ""
        parts = [f"{key} differs: {' vs '.join(values)}" for key, values in self.differing.items()]
        return "; ".join(parts) + f"; split into {len(self.sets)} sets, each pooled on its own"

    @property
    def groups(self) -> list[tuple[str, Group]]:
        """(set label, group) for every group, set by set."""
        return [(s.label, g) for s in self.sets for g in s.groups]


def _group_label(key: str, flat: dict[str, str], flats: list[dict[str, str]]) -> str:
    """ "key = value"; for algorithm.id or problem.id also the parameters that vary between
    the runs of that algorithm or problem: "algorithm.id = bandits.ucb1 (c = 2.0)"."""
    if key not in flat:
        return f"{key} = {NONE}"
    label = f"{key} = {flat[key]}"
    same = [f for f in flats if f.get(key) == flat[key]]
    extra = [
        f"{k.partition('.')[2]} = {flat[k]}"
        for k in _grouped_keys(key, flat)
        if k != key and len({f.get(k, ABSENT) for f in same}) > 1
    ]
    return label + (f" ({', '.join(extra)})" if extra else "")


def _telling_apart(
    identities: list[tuple], setting_keys: list[str], differing: list[str]
) -> list[str]:
    """As few of the differing keys as tell the sets apart, in order (problem.id, not also its means):
    what a set's label names. The notice lists them all."""

    def distinct(keys):
        columns = [setting_keys.index(k) for k in keys]
        return len({tuple(identity[c] for c in columns) for identity in identities})

    chosen: list[str] = []
    for key in differing:
        if distinct(chosen) == len(identities):
            break
        if distinct(chosen + [key]) > distinct(chosen):
            chosen.append(key)
    return chosen


def group_runs(run_specs: list[tuple[int, dict]], key: str) -> Grouping:
    """Split the runs into comparable sets, then group each set by the value of `key`.

    Sets and groups keep the order in which they first appear; EACH_RUN: one set, one
    group per run, nothing pooled.
    """
    if key == EACH_RUN:
        return Grouping(
            [ComparableSet("", [Group(f"run {run_id}", [run_id]) for run_id, _ in run_specs])], {}
        )
    flats = [(run_id, flat_spec(spec)) for run_id, spec in run_specs]
    settings = [setting(flat, key) for _, flat in flats]
    setting_keys = sorted(dict.fromkeys(k for s in settings for k in s), key=_importance)
    identities = [tuple(s.get(k, ABSENT) for k in setting_keys) for s in settings]
    distinct = list(dict.fromkeys(identities))
    differing = {}
    for index, k in enumerate(setting_keys):
        values = list(dict.fromkeys(identity[index] for identity in distinct))
        if len(values) > 1:
            differing[k] = values
    # A parameter only one of two algorithms (or problems) has is implied by their ids: not listed.
    differing = {
        k: v
        for k, v in differing.items()
        if not (ABSENT in v and f"{k.partition('.')[0]}.id" in differing)
    }

    label_keys = _telling_apart(distinct, setting_keys, list(differing))
    sets: dict[tuple, ComparableSet] = {}
    for (run_id, flat), identity in zip(flats, identities):
        if identity not in sets:
            values = dict(zip(setting_keys, identity))
            sets[identity] = ComparableSet(", ".join(f"{k} = {values[k]}" for k in label_keys))
        comparable = sets[identity]
        label = _group_label(key, flat, [f for _, f in flats])
        group = next((g for g in comparable.groups if g.label == label), None)
        if group is None:
            comparable.groups.append(Group(label, [run_id]))
        else:
            group.run_ids.append(run_id)
    return Grouping(list(sets.values()), differing)


def _as_aggregate(part) -> dict | None:
    """A run's aggregates of a metric; a SeedTable (values recorded without aggregates) is
    summarised first. None when there is nothing."""
    if isinstance(part, SeedTable):
        return seed_table_aggregate(part) if part.rows else None
    return part if part is not None and len(part["step"]) else None


def pooled_summary(parts) -> dict | None:
    """Pool several runs' aggregates of one metric (dicts with `StoreReader.aggregate_arrays`' keys,
    or SeedTables; None for a run without the metric) on the union of their steps.

    Returns steps, mean, lo, hi and n (the seeds pooled at each step: a run that did not
    record a step adds none there), or None when no run recorded anything.
    """
    parts = [part for part in map(_as_aggregate, parts) if part is not None]
    if not parts:
        return None
    pooled = pool_aggregates(parts)
    n = np.asarray(pooled["n"], dtype=np.int64)
    mean = np.asarray(pooled["mean"], dtype=float)
    lo, hi = band_from_aggregate(n, mean, np.asarray(pooled["var"], dtype=float))
    return {
        "steps": np.asarray(pooled["step"]),
        "mean": mean,
        "lo": np.asarray(lo, dtype=float),
        "hi": np.asarray(hi, dtype=float),
        "n": n,
    }


def step_notice(run_ids: list[int], parts) -> str:
    """Why the seeds behind a group's curve change along it ("" when every run recorded the same steps)."""
    present = [(i, p["step"]) for i, p in zip(run_ids, map(_as_aggregate, parts)) if p is not None]
    if len(present) < 2 or all(np.array_equal(present[0][1], steps) for _, steps in present[1:]):
        return ""
    ends = ", ".join(f"run {i} at step {int(steps[-1])}" for i, steps in present)
    return f"its runs recorded different steps (last: {ends}); each point pools the seeds that reached it"
