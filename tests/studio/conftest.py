"""Fixtures for the studio's tests: a small catalogue with every parameter type, stores."""

import json
import os
import subprocess
import sys

import pytest

# tests/conftest.py sets this too; kept here so these tests also run on their own.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.registry import Catalogue  # noqa: E402
from engine.spec import RunSpec  # noqa: E402
from engine.store import Store  # noqa: E402

TOY_ENTRIES = [
    {"id": "toy.every_type", "kind": "algorithm", "family": "toy", "paper": "A Paper With Every Type",
     "summary": "Declares one parameter of each type.", "plot": "curves", "metrics": ["loss"],
     "problems": ["toy.quadratic"], "params": [
         {"name": "n", "type": "int", "default": 3, "help": "A count.", "low": 1, "high": 10},
         {"name": "rate", "type": "float", "default": 0.5, "help": "A rate.", "low": 0.0, "high": 1.0,
          "low_open": True},
         {"name": "flag", "type": "bool", "default": True, "help": "A switch."},
         {"name": "mode", "type": "choice", "default": "fast", "help": "A mode.", "choices": ["fast", "exact"]},
         {"name": "label", "type": "str", "default": "x", "help": "A label."},
         {"name": "weights", "type": "floats", "default": [0.25, 0.75], "help": "Weights.", "low": 0.0,
          "high": 1.0, "min_len": 2, "max_len": 3},
         {"name": "sizes", "type": "ints", "default": [8, 16], "help": "Sizes.", "low": 1, "high": 100,
          "min_len": 1},
     ]},
    {"id": "toy.regret", "kind": "algorithm", "family": "toy", "paper": "Regret", "summary": "",
     "plot": "regret", "metrics": ["cumulative_regret"], "problems": ["toy.quadratic"], "params": []},
    {"id": "toy.front", "kind": "algorithm", "family": "toy", "paper": "Fronts", "summary": "",
     "plot": "pareto", "metrics": ["hypervolume"], "problems": ["toy.quadratic"], "params": []},
    {"id": "other.only", "kind": "algorithm", "family": "other", "paper": "Other", "summary": "",
     "plot": "curves", "metrics": [], "problems": ["toy.plane"], "params": []},
    {"id": "toy.quadratic", "kind": "problem", "family": "toy", "paper": "A quadratic", "summary": "",
     "params": [{"name": "scale", "type": "float", "default": 1.0, "help": "Scale.", "low": 0.0, "high": 10.0}]},
    {"id": "toy.plane", "kind": "problem", "family": "toy", "paper": "A plane", "summary": "", "params": []},
]


@pytest.fixture
def toy_catalogue():
    return Catalogue.from_json(TOY_ENTRIES)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "studio.db") as opened:
        yield opened


@pytest.fixture
def started_run(store, toy_catalogue):
    """A run row in the store, as an engine writes it, for a given algorithm id."""

    def start(algorithm: str, seeds: int = 3, steps: int = 100) -> int:
        spec = RunSpec.from_dict({"run": {"seeds": seeds, "steps": steps}, "algorithm": {"id": algorithm},
                                  "problem": {"id": "toy.quadratic"}}, toy_catalogue)
        entry = toy_catalogue.algorithm(algorithm)
        run_id = store.create_run(spec, family=entry.family, plot=entry.plot)
        store.start_run(run_id, {"device": "cpu"})
        return run_id

    return start


@pytest.fixture(scope="session")
def engine_catalogue():
    """The real catalogue, asked of the engine once per session (it imports torch: ~2 s)."""
    out = subprocess.run([sys.executable, "-m", "engine", "list", "--json"], capture_output=True, text=True,
                         check=True, timeout=120)
    return Catalogue.from_json(json.loads(out.stdout))
