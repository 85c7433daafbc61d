"""What every registered algorithm promises, checked on every one (after scikit-learn's
check_estimator): the suite is parametrised over the live registry, so a new algorithm
is checked the moment its module exists under engine/labs/.

For each algorithm, its first example spec (resources/examples/, by file name) is run
in this process through `engine.runner.execute` on a temporary store, tiny: TINY_SEEDS
seeds, at most TINY_STEPS steps, on the CPU with one thread, plus the few overrides of
SHRINK_PROBLEM / SHRINK_ALGORITHM for entries whose example builds something large
(a network trained before the first step, say). It is run three times: twice with base
seed 0 and once with base seed 1. The checks:

- an example spec names it and validates;
- the tiny run finishes and records, per seed, exactly the metrics the class declares,
  every value finite (curves that belong to no seed, `rec.bound`, are not metrics);
- the same seed gives identical records (metrics named in `measured`, which measure the
  machine, are compared by their steps only), and a different seed different ones,
  unless the class is `deterministic`;
- the docstring names a paper whose title is in docs/papers.txt, or says the algorithm
  is a baseline;
- every numeric parameter declares both bounds, and a spec just outside either is
  refused with an error that names the parameter.

docs/adding-an-algorithm.md describes the contract these checks hold an algorithm to.
"""

from __future__ import annotations

import math
import re
from functools import cache

import numpy as np
import pytest
import torch

from engine import registry, runner
from engine.params import ALL
from engine.registry import Catalogue
from engine.spec import RunSpec, SpecError
from engine.store import BOUND_SEED, Store
from tests.helpers import ROOT, run_examples

TINY_SEEDS = 2
TINY_STEPS = 20
TINY_RUN = (
    f"run.seeds={TINY_SEEDS}",
    'run.keep_seeds="all"',
    "run.record_every=0",
    'hardware.device="cpu"',
    "hardware.threads=1",
)
# Overrides that make an example tiny where TINY_RUN alone does not: keyed by the id of
# the problem (applied to every algorithm on it) or of the algorithm.
SHRINK_PROBLEM = {
    # the model to unlearn is trained when the problem is built
    "unlearning.gaussian_blobs": (
        "problem.n_train=60",
        "problem.n_test=60",
        "problem.hidden=8",
        "problem.train_steps=20",
    ),
    # tasks of two steps, so that a tiny run crosses task boundaries, where the
    # per-task metrics are recorded
    "continual.label_permuted_blobs": (
        "problem.task_steps=2",
        "problem.eval_samples=20",
        "problem.hidden=[8, 8]",
    ),
    # dynamic programming over a stock-by-quota grid before the first step
    "rl.beverton_holt": ("problem.stock_points=11", "problem.quota_points=6"),
}
SHRINK_ALGORITHM = {
    # one model per bit width, each evaluated every step
    "pareto.fake_quantisation": ("algorithm.bit_widths=[2, 32]", "algorithm.hidden=8"),
    "pareto.dot": ("algorithm.teacher_steps=10",),  # the teacher is trained before step 1
    "pareto.cyclic_lr": ("algorithm.cycles=2",),  # it refuses fewer steps than cycles
    # Its plays follow a fixed schedule until an elimination, and in its example's horizon
    # no arm can be eliminated: two arms whose gap (0.6) is near the elimination threshold
    # at the end of the third phase (round 286), so that the draws decide, seed by seed.
    "bandits.tallying_elimination": (
        "run.steps=300",
        "run.seeds=8",
        "algorithm.memory_bound=1",
        "algorithm.first_phase_samples=20",
        "problem.memory=1",
        "problem.fresh_loss=[0.2, 0.8]",
        "problem.saturated_loss=[0.2, 0.8]",
    ),
}
# Checks an algorithm fails by a design the suite does not second-guess: (test, id) -> reason.
KNOWN_FAILURES = {
    ("finite", "rl.sharpe_ratio_at_k"): (
        "SharpeRatio@k is recorded as NaN where std@k = 0, always at k = 1 (step 1), as its "
        "docstring and tests/labs/rl_offpolicy/test_sharpe_ratio.py specify"
    ),
}

PAPERS = ROOT / "docs" / "papers.txt"


def engine_algorithms() -> list[str]:
    """The algorithms the engine ships (tests may register classes of their own)."""
    return [
        ident
        for ident, cls in registry.algorithms().items()
        if cls.__module__.startswith("engine.")
    ]


ALGORITHMS = engine_algorithms()


@cache
def catalogue() -> Catalogue:
    return Catalogue.live()


@cache
def examples() -> dict[str, list]:
    """Algorithm id -> its example specs' paths, sorted by file name."""
    found: dict[str, list] = {}
    for path in run_examples():  # single runs; sweep examples are checked as sweeps elsewhere
        found.setdefault(RunSpec.from_file(path, catalogue()).algorithm, []).append(path)
    return found


def tiny_spec(ident: str, seed: int = 0) -> RunSpec:
    path = examples()[ident][0]
    full = RunSpec.from_file(path, catalogue())
    overrides = (
        *TINY_RUN,
        f"run.steps={min(full.steps, TINY_STEPS)}",
        f"run.seed={seed}",
        *SHRINK_PROBLEM.get(full.problem, ()),
        *SHRINK_ALGORITHM.get(ident, ()),
    )
    return RunSpec.from_file(path, catalogue(), overrides=overrides)


def read_records(store: Store, run_id: int) -> dict:
    """Everything a run recorded: per-seed series, bound curves and Pareto points."""
    per_seed, bounds = {}, {}
    for metric in store.metrics_of(run_id):
        steps, seeds, values = store.series_arrays(run_id, metric)
        own = seeds != BOUND_SEED
        if own.any():
            per_seed[metric] = (steps[own], seeds[own], values[own])
        if (~own).any():
            bounds[metric] = (steps[~own], values[~own])
    pareto, _ = store.pareto_since(run_id)
    return {"per_seed": per_seed, "bounds": bounds, "pareto": pareto}


_RUNS: dict[tuple[str, int, int], dict] = {}


def tiny_run(ident: str, seed: int, repeat: int, tmp_path_factory) -> dict:
    """The records of a tiny run (status, error, records), run once per (seed, repeat)."""
    key = (ident, seed, repeat)
    if key not in _RUNS:
        spec = tiny_spec(ident, seed)
        threads = torch.get_num_threads()
        store = Store(tmp_path_factory.mktemp("conformance") / "store.db")
        try:
            run_id, status = runner.execute(spec, store, "cpu")
            row = store.get_run(run_id)
            _RUNS[key] = {
                "status": status,
                "error": row.get("error") or "",
                **read_records(store, run_id),
            }
        finally:
            store.close()
            torch.set_num_threads(threads)  # the spec's one thread is not left to later tests
    return _RUNS[key]


def finished_run(ident, seed, repeat, tmp_path_factory) -> dict:
    run = tiny_run(ident, seed, repeat, tmp_path_factory)
    assert run["status"] == "finished", f"{ident}: the tiny run {run['status']}\n{run['error']}"
    return run


def checked(check: str) -> list:
    """ALGORITHMS as parameters of one check; a known failure is a strict xfail (it must go on
    failing, so that its entry is removed once the algorithm passes)."""
    return [
        pytest.param(
            ident,
            marks=pytest.mark.xfail(reason=KNOWN_FAILURES[(check, ident)], strict=True),
        )
        if (check, ident) in KNOWN_FAILURES
        else ident
        for ident in ALGORITHMS
    ]


# -- the example ------------------------------------------------------------------------
@pytest.mark.parametrize("ident", ALGORITHMS)
def test_has_an_example_spec_that_validates(ident):
    assert examples().get(ident), f"{ident}: no example spec under resources/examples/ names it"
    spec = tiny_spec(ident)
    assert spec.algorithm == ident and spec.problem in registry.algorithm(ident).problems


# -- a tiny run ---------------------------------------------------------------------------
@pytest.mark.parametrize("ident", ALGORITHMS)
def test_tiny_run_records_exactly_its_declared_metrics(ident, tmp_path_factory):
    cls = registry.algorithm(ident)
    recorded = finished_run(ident, 0, 0, tmp_path_factory)["per_seed"]
    assert sorted(recorded) == sorted(cls.metrics), (
        f"declared but not recorded: {sorted(set(cls.metrics) - set(recorded))}; "
        f"recorded but not declared: {sorted(set(recorded) - set(cls.metrics))}"
    )
    spec = tiny_spec(ident)
    for metric, (steps, seeds, _) in recorded.items():
        assert sorted(set(seeds.tolist())) == list(range(spec.seeds)), metric
        assert steps.min() >= 1 and steps.max() <= spec.steps, metric


@pytest.mark.parametrize("ident", checked("finite"))
def test_tiny_run_values_are_finite(ident, tmp_path_factory):
    recorded = finished_run(ident, 0, 0, tmp_path_factory)["per_seed"]
    for metric, (steps, seeds, values) in recorded.items():
        bad = ~np.isfinite(values)
        assert not bad.any(), (
            f"{metric}: {int(bad.sum())} of {bad.size} values not finite, "
            f"first at step {int(steps[bad][0])}, seed {int(seeds[bad][0])}"
        )


def _assert_same(first: dict, second: dict, measured) -> None:
    assert sorted(first["per_seed"]) == sorted(second["per_seed"])
    for metric, (steps, seeds, values) in first["per_seed"].items():
        steps2, seeds2, values2 = second["per_seed"][metric]
        np.testing.assert_array_equal(steps, steps2, err_msg=metric)
        np.testing.assert_array_equal(seeds, seeds2, err_msg=metric)
        if metric not in measured:
            np.testing.assert_array_equal(values, values2, err_msg=metric)
    assert sorted(first["bounds"]) == sorted(second["bounds"])
    for name, (steps, values) in first["bounds"].items():
        np.testing.assert_array_equal(steps, second["bounds"][name][0], err_msg=name)
        np.testing.assert_array_equal(values, second["bounds"][name][1], err_msg=name)
    assert first["pareto"] == second["pareto"]


@pytest.mark.parametrize("ident", ALGORITHMS)
def test_same_seed_gives_identical_records(ident, tmp_path_factory):
    cls = registry.algorithm(ident)
    first = finished_run(ident, 0, 0, tmp_path_factory)
    second = finished_run(ident, 0, 1, tmp_path_factory)
    _assert_same(first, second, set(cls.measured))


@pytest.mark.parametrize("ident", ALGORITHMS)
def test_different_seed_gives_different_draws(ident, tmp_path_factory):
    cls = registry.algorithm(ident)
    first = finished_run(ident, 0, 0, tmp_path_factory)
    other = finished_run(ident, 1, 0, tmp_path_factory)
    if cls.deterministic:
        # its records must not depend on the seed at all: the declaration is checked too
        _assert_same(first, other, set(cls.measured))
        return
    differs = [
        metric
        for metric, (_, _, values) in first["per_seed"].items()
        if metric not in cls.measured
        and not np.array_equal(values, other["per_seed"][metric][2], equal_nan=True)
    ]
    assert differs, (
        f"{ident}: seeds 0 and 1 record the same values; if it draws nothing at all, "
        "declare `deterministic = True`"
    )


# -- the paper ----------------------------------------------------------------------------
def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@cache
def paper_titles() -> tuple[str, ...]:
    lines = PAPERS.read_text(encoding="utf-8").splitlines()
    return tuple(_words(line) for line in lines if line.strip() and not line.startswith("#"))


def test_papers_list_is_a_list_of_titles():
    titles = paper_titles()
    assert len(titles) > 80 and len(set(titles)) == len(titles)
    assert "Plus Strategies are Exponentially Slower for Planted Optima of Random Height" in titles
    assert all(len(t) < 250 for t in titles)  # titles, not abstracts


@pytest.mark.parametrize("ident", ALGORITHMS)
def test_docstring_names_a_listed_paper_or_says_baseline(ident):
    doc = _words(registry.algorithm(ident).__doc__ or "")
    named = [title for title in paper_titles() if title in doc]
    assert named or "baseline" in doc.lower(), (
        f"{ident}: the docstring names no title of docs/papers.txt and does not say it is "
        "a baseline"
    )


# -- the bounds ---------------------------------------------------------------------------
def _outside(param) -> list:
    """Values just outside the declared bounds (in the parameter's own type)."""
    integer = param.type in ("int", "ints", "int_or_all")
    out = []
    if param.low is not None:
        if integer:
            out.append(math.ceil(param.low) - (0 if param.low_open else 1))
        else:
            out.append(param.low if param.low_open else math.nextafter(param.low, -math.inf))
    if param.high is not None:
        if integer:
            out.append(math.floor(param.high) + (0 if param.high_open else 1))
        else:
            out.append(param.high if param.high_open else math.nextafter(param.high, math.inf))
    if param.type in ("ints", "floats"):
        return [[value] * max(param.min_len, 1) for value in out]
    return out


def _toml(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


@pytest.mark.parametrize("ident", ALGORITHMS)
def test_declared_bounds_are_enforced(ident):
    numeric = [
        p
        for p in registry.algorithm(ident).params
        if p.type in ("int", "float", "ints", "floats", "int_or_all")
    ]
    unbounded = [p.name for p in numeric if p.low is None or p.high is None]
    assert not unbounded, f"{ident}: numeric parameters without both bounds: {unbounded}"
    path = examples()[ident][0]
    for param in numeric:
        for value in _outside(param):
            key = f"algorithm.{param.name}"
            with pytest.raises(SpecError) as refused:
                RunSpec.from_file(path, catalogue(), overrides=[f"{key}={_toml(value)}"])
            assert refused.value.key == key, (param.name, value, str(refused.value))
        if param.type == "int_or_all":
            spec = RunSpec.from_file(path, catalogue(), overrides=[f'algorithm.{param.name}="all"'])
            assert spec.algorithm_params[param.name] == ALL
