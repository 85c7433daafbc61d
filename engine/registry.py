"""The catalogue: every algorithm and problem, found by id.

An algorithm or problem is a class that declares what it is as class attributes (id,
family, paper, summary, typed parameters) and registers itself when its module is
imported; `catalogue()` imports every module under `engine.labs` once. Adding an
algorithm touches one new file and its test.

This module itself does not import torch; the lab modules do, so the studio learns the
catalogue through `tradeoff list --json` (see `CatalogueEntry.from_json`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import ClassVar

from engine.params import Param

PLOT_KINDS = ("regret", "curves", "pareto")

_ALGORITHMS: dict[str, type] = {}
_PROBLEMS: dict[str, type] = {}
_loaded = False


class UnknownId(KeyError):
    def __init__(self, kind: str, ident: str, known: list[str]):
        super().__init__(ident)
        self.kind, self.ident, self.known = kind, ident, known

    def __str__(self):
        return f"unknown {self.kind} id {self.ident!r} (known: {', '.join(self.known)})"


class Problem:
    """Base of every problem. Subclasses set the class attributes below.

    A problem is built once per run for all seeds: ``Problem(params, seeds, device,
    dtype, seed)`` where ``seed`` is the run's base seed. Its random draws come from its
    own generator, so algorithms compared with the same seed see the same draws
    (common random numbers).
    """

    id: ClassVar[str] = ""
    family: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.id:
            _check_declaration(cls, "problem")
            _PROBLEMS[cls.id] = cls

    def __init__(self, params: dict, seeds: int, device, dtype, seed: int):
        self.p = params
        self.seeds = seeds
        self.device = device
        self.dtype = dtype
        self.seed = seed


class Algorithm:
    """Base of every algorithm. Subclasses set the class attributes below and `run`.

    ``problems`` lists the problem ids it runs on; ``plot`` is the view its output is
    made for (regret, curves or pareto); ``metrics`` names the series it records.
    ``measured`` names those of its metrics that measure the machine (wall-clock seconds,
    energy read from a meter): they differ between two runs of the same spec, so the
    reproducibility check of tests/conformance/ leaves their values out. ``deterministic``
    is True for an entry whose records do not depend on the seed at all (a theory panel,
    an exact computation on a fixed problem); the others must draw differently under
    different seeds. ``run(steps, rec)`` steps all seeds at once (seeds are a batch
    dimension) and hands records to ``rec`` (an `engine.runner.Recorder`).
    """

    id: ClassVar[str] = ""
    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    problems: ClassVar[tuple[str, ...]] = ()
    plot: ClassVar[str] = "curves"
    metrics: ClassVar[tuple[str, ...]] = ()
    measured: ClassVar[tuple[str, ...]] = ()
    deterministic: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.id:
            _check_declaration(cls, "algorithm")
            if cls.plot not in PLOT_KINDS:
                raise TypeError(f"{cls.id}: plot must be one of {PLOT_KINDS}")
            if not cls.problems:
                raise TypeError(f"{cls.id}: declares no problems")
            if not set(cls.measured) <= set(cls.metrics):
                raise TypeError(f"{cls.id}: measured names metrics it does not declare")
            _ALGORITHMS[cls.id] = cls

    def __init__(self, params: dict, problem: Problem, seeds: int, device, dtype, seed: int):
        self.p = params
        self.problem = problem
        self.seeds = seeds
        self.device = device
        self.dtype = dtype
        self.seed = seed

    def run(self, steps: int, rec) -> None:
        raise NotImplementedError


def _check_declaration(cls, kind: str):
    if "." not in cls.id or not cls.family:
        raise TypeError(f"{kind} {cls.__name__}: id must be 'family.name' and family set")
    names = [p.name for p in cls.params]
    if len(set(names)) != len(names):
        raise TypeError(f"{cls.id}: parameter names repeat")
    table = _ALGORITHMS if kind == "algorithm" else _PROBLEMS
    if cls.id in table and table[cls.id] is not cls:
        raise TypeError(f"{kind} id {cls.id!r} is declared twice")


def _load_labs():
    global _loaded
    if _loaded:
        return
    import engine.labs as labs

    for info in pkgutil.walk_packages(labs.__path__, prefix="engine.labs."):
        importlib.import_module(info.name)
    _loaded = True


def algorithms() -> dict[str, type[Algorithm]]:
    _load_labs()
    return dict(sorted(_ALGORITHMS.items()))


def problems() -> dict[str, type[Problem]]:
    _load_labs()
    return dict(sorted(_PROBLEMS.items()))


def algorithm(ident: str) -> type[Algorithm]:
    found = algorithms()
    if ident not in found:
        raise UnknownId("algorithm", ident, list(found))
    return found[ident]


def problem(ident: str) -> type[Problem]:
    found = problems()
    if ident not in found:
        raise UnknownId("problem", ident, list(found))
    return found[ident]


def describe() -> list[dict]:
    """The catalogue as JSON-ready objects (what `tradeoff list --json` prints)."""
    out = []
    for cls in algorithms().values():
        out.append(
            {
                "id": cls.id,
                "kind": "algorithm",
                "family": cls.family,
                "paper": cls.paper,
                "summary": cls.summary,
                "plot": cls.plot,
                "metrics": list(cls.metrics),
                "problems": list(cls.problems),
                "params": [p.to_json() for p in cls.params],
            }
        )
    for cls in problems().values():
        out.append(
            {
                "id": cls.id,
                "kind": "problem",
                "family": cls.family,
                "paper": cls.title,
                "summary": cls.summary,
                "params": [p.to_json() for p in cls.params],
            }
        )
    return out


@dataclass(frozen=True)
class CatalogueEntry:
    """A torch-free view of one catalogue entry, rebuilt from `describe()` JSON."""

    id: str
    kind: str
    family: str
    paper: str
    summary: str
    params: tuple[Param, ...]
    problems: tuple[str, ...] = ()
    plot: str = ""
    metrics: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: dict) -> CatalogueEntry:
        return cls(
            id=d["id"],
            kind=d["kind"],
            family=d["family"],
            paper=d.get("paper", ""),
            summary=d.get("summary", ""),
            params=tuple(Param.from_json(p) for p in d["params"]),
            problems=tuple(d.get("problems", ())),
            plot=d.get("plot", ""),
            metrics=tuple(d.get("metrics", ())),
        )


class Catalogue:
    """Look-up by id over either the live registry or JSON entries.

    `RunSpec.validate` takes one of these, so the CLI (live classes) and the studio
    (JSON from `tradeoff list --json`) validate with the same declarations.
    """

    def __init__(self, algorithms: dict, problems: dict):
        self._algorithms = algorithms
        self._problems = problems

    @classmethod
    def live(cls) -> Catalogue:
        return cls(algorithms(), problems())

    @classmethod
    def from_json(cls, entries: list[dict]) -> Catalogue:
        parsed = [CatalogueEntry.from_json(d) for d in entries]
        return cls(
            {e.id: e for e in parsed if e.kind == "algorithm"},
            {e.id: e for e in parsed if e.kind == "problem"},
        )

    def algorithm(self, ident: str):
        if ident not in self._algorithms:
            raise UnknownId("algorithm", ident, sorted(self._algorithms))
        return self._algorithms[ident]

    def problem(self, ident: str):
        if ident not in self._problems:
            raise UnknownId("problem", ident, sorted(self._problems))
        return self._problems[ident]

    def algorithm_ids(self) -> list[str]:
        return sorted(self._algorithms)

    def problem_ids(self) -> list[str]:
        return sorted(self._problems)
