"""Every registered algorithm ships at least one example spec the GUI can show, and each
example validates against the live registry (tests/engine/test_cli.py runs them)."""

from engine.registry import Catalogue, algorithms
from engine.spec import RunSpec
from tests.helpers import run_examples


def test_every_registered_algorithm_has_a_valid_example():
    catalogue = Catalogue.live()
    covered = {RunSpec.from_file(path, catalogue).algorithm for path in run_examples()}
    # Classes the engine ships; tests may register their own (e.g. an algorithm that fails).
    registered = {
        ident for ident, cls in algorithms().items() if cls.__module__.startswith("engine.")
    }
    assert len(registered) > 40  # the check is real: the labs were loaded
    assert sorted(registered - covered) == []
    assert covered <= registered
