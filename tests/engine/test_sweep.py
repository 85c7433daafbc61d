"""Sweep specs: expansion into points (grid, zip, random), log-spaced keys, --set lists, and
the refusal of a whole sweep for one bad point."""

import math

import numpy as np
import pytest

from engine import sweep
from engine.registry import Catalogue
from engine.spec import SpecError

BASE = """
[run]
seeds = 2
steps = 20
seed = 7
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
[hardware]
device = "cpu"
"""


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.live()


def test_a_spec_without_sweep_is_a_plain_run(catalogue):
    assert sweep.from_toml(BASE, catalogue, "s.toml") is None
    assert sweep.from_toml(BASE, catalogue, "s.toml", ["algorithm.c=1.5"]) is None


def test_grid_then_zip_order_is_row_major_last_key_fastest(catalogue):
    text = (
        BASE
        + """
[sweep.grid]
"algorithm.c" = [0.5, 1.0, 2.0]
"algorithm.id" = ["bandits.ucb1", "bandits.kl_ucb"]
[sweep.zip]
"run.steps" = [10, 30]
"run.seeds" = [3, 1]
"""
    )
    found = sweep.from_toml(text, catalogue, "s.toml")
    assert found.keys == ["algorithm.c", "algorithm.id", "run.steps", "run.seeds"]
    want = [
        (c, alg, steps, seeds)
        for c in (0.5, 1.0, 2.0)
        for alg in ("bandits.ucb1", "bandits.kl_ucb")
        for steps, seeds in ((10, 3), (30, 1))
    ]
    got = [tuple(p.values[k] for k in found.keys) for p in found.points]
    assert got == want and [p.idx for p in found.points] == list(range(12))
    p7 = found.points[7]  # c = 1.0, kl_ucb, second zip row
    assert (p7.spec.algorithm, p7.spec.algorithm_params["c"], p7.spec.steps, p7.spec.seeds) == (
        "bandits.kl_ucb",
        1.0,
        30,
        1,
    )
    assert p7.spec.problem_params["means"] == [0.2, 0.8] and p7.spec.seed == 7
    assert found.spec_toml == text  # as given
    assert found.log_keys == ["algorithm.c"]  # 0.5, 1, 2: ratio 2 throughout


def test_zip_lists_of_unequal_length_are_refused(catalogue):
    text = BASE + '[sweep.zip]\n"run.steps" = [10, 30]\n"run.seeds" = [3, 1, 2]\n'
    with pytest.raises(SpecError) as err:
        sweep.from_toml(text, catalogue, "s.toml")
    assert err.value.key == "sweep.zip"
    assert "run.steps has 2, run.seeds has 3" in err.value.reason


def test_random_log_uniform_samples_lie_in_range_and_follow_the_seed(catalogue):
    text = (
        BASE
        + """
[sweep.random]
samples = 6
seed = 11
"algorithm.c" = {low = 0.01, high = 10.0, log = true}
"run.seeds" = {low = 1, high = 4}
"""
    )
    found = sweep.from_toml(text, catalogue, "s.toml")
    assert found.log_keys == ["algorithm.c"]
    rng = np.random.Generator(np.random.PCG64(11))
    for p in found.points:
        u_c, u_s = rng.random(), rng.random()
        c = math.exp(math.log(0.01) + u_c * (math.log(10.0) - math.log(0.01)))
        assert p.values["algorithm.c"] == pytest.approx(c, rel=1e-12)
        assert 0.01 <= p.values["algorithm.c"] <= 10.0
        assert p.values["run.seeds"] == round(1 + u_s * 3) and isinstance(
            p.values["run.seeds"], int
        )
    again = sweep.from_toml(text, catalogue, "s.toml")
    assert [p.values for p in again.points] == [p.values for p in found.points]
    other = sweep.from_toml(text.replace("seed = 11", "seed = 12"), catalogue, "s.toml")
    assert [p.values for p in other.points] != [p.values for p in found.points]
    # without its own seed, the random points follow run.seed (7 here)
    default = sweep.from_toml(text.replace("seed = 11\n", ""), catalogue, "s.toml")
    first = np.random.Generator(np.random.PCG64(7)).random()
    assert default.points[0].values["algorithm.c"] == pytest.approx(
        0.01 * (1000.0**first), rel=1e-12
    )


def test_points_cross_grid_and_random_samples(catalogue):
    text = (
        BASE
        + '[sweep.grid]\n"run.seeds" = [1, 2]\n[sweep.random]\nsamples = 3\n"algorithm.c" = [0.5, 4.0]\n'
    )
    found = sweep.from_toml(text, catalogue, "s.toml")
    assert len(found.points) == 6
    cs = [p.values["algorithm.c"] for p in found.points]
    assert cs[:3] == cs[3:]  # the same samples for every grid point
    assert set(cs) <= {0.5, 4.0}


def test_log_spaced_lists():
    assert sweep.is_log_spaced([0.1, 1, 10])
    assert sweep.is_log_spaced([0.001, 0.01, 0.1, 1.0])
    assert sweep.is_log_spaced([8, 4, 2, 1])
    assert not sweep.is_log_spaced([1, 2, 3])
    assert not sweep.is_log_spaced([0.1, 1])  # fewer than 3 values
    assert not sweep.is_log_spaced([1, 1, 1])
    assert not sweep.is_log_spaced([-1, -10, -100])
    assert not sweep.is_log_spaced([0.1, 1, 10.001])


def test_log_spaced_grid_key_is_reported(catalogue):
    text = BASE + '[sweep.grid]\n"algorithm.c" = [0.1, 1.0, 10.0]\n"run.seeds" = [1, 2, 4]\n'
    found = sweep.from_toml(text, catalogue, "s.toml")
    assert found.log_keys == ["algorithm.c", "run.seeds"]


def test_set_with_a_list_adds_a_grid_key_but_a_list_parameter_keeps_its_list(catalogue):
    found = sweep.from_toml(BASE, catalogue, "s.toml", ["algorithm.c=[0.5, 2.0]"])
    assert found.keys == ["algorithm.c"]
    assert [p.spec.algorithm_params["c"] for p in found.points] == [0.5, 2.0]
    assert '"algorithm.c" = [0.5, 2.0]' in found.spec_toml  # the spec as given, with --set
    assert sweep.from_toml(BASE, catalogue, "s.toml", ["problem.means=[0.4, 0.6]"]) is None
    means = sweep.from_toml(BASE, catalogue, "s.toml", ["problem.means=[[0.4, 0.6], [0.1, 0.9]]"])
    assert [p.spec.problem_params["means"] for p in means.points] == [[0.4, 0.6], [0.1, 0.9]]


def test_a_bad_point_refuses_the_whole_sweep_naming_the_point_and_key(catalogue):
    text = BASE + '[sweep.grid]\n"algorithm.c" = [1.0, 2.0, -3.0]\n'
    with pytest.raises(SpecError) as err:
        sweep.from_toml(text, catalogue, "s.toml")
    message = str(err.value)
    assert message.startswith("s.toml: sweep point 2 (algorithm.c=-3.0): algorithm.c: ")
    bad_id = BASE + '[sweep.grid]\n"algorithm.id" = ["bandits.ucb1", "bandits.nope"]\n'
    with pytest.raises(
        SpecError, match=r"sweep point 1 \(algorithm.id=\"bandits.nope\"\): algorithm.id"
    ):
        sweep.from_toml(bad_id, catalogue, "s.toml")


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ('[sweep.grid]\n"algorithm.c" = []\n', "sweep.grid.algorithm.c", "non-empty list"),
        ('[sweep.grid]\n"c" = [1.0]\n', "sweep.grid", "must be section.key"),
        (
            '[sweep.grid]\n"algorithm.c" = [1.0]\n[sweep.zip]\n"algorithm.c" = [2.0]\n',
            "sweep.zip.algorithm.c",
            "already swept",
        ),
        (
            '[sweep.random]\nsamples = 0\n"algorithm.c" = {low = 1, high = 2}\n',
            "sweep.random.samples",
            "1..",
        ),
        (
            '[sweep.random]\nsamples = 2\n"algorithm.c" = {low = 0.0, high = 2.0, log = true}\n',
            "sweep.random.algorithm.c",
            "low > 0",
        ),
        (
            '[sweep.random]\nsamples = 2\n"algorithm.c" = {low = 3.0, high = 2.0}\n',
            "sweep.random.algorithm.c",
            "low <= high",
        ),
        ("[sweep.lattice]\nx = 1\n", "sweep.lattice", "unknown sweep table"),
        ("[sweep]\n", "sweep", "sweeps no key"),
    ],
)
def test_malformed_sweep_tables_are_refused_with_their_key(catalogue, table, key, reason):
    with pytest.raises(SpecError) as err:
        sweep.from_toml(BASE + table, catalogue, "s.toml")
    assert err.value.key == key and reason in err.value.reason
