"""Spec validation: every bad input is refused with the file, the key and the reason."""

import sqlite3

import pytest

from engine.registry import Catalogue
from engine.spec import RunSpec, SpecError
from tests.helpers import EXAMPLES, run_engine, run_examples, sweep_examples, write_spec

GOOD = """
[run]
seeds = 3
steps = 200
[algorithm]
id = "bandits.ucb1"
c = 1.5
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
[hardware]
device = "cpu"
"""


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.live()


def test_good_spec_fills_defaults_and_round_trips(catalogue):
    spec = RunSpec.from_toml(GOOD, catalogue, "good.toml")
    assert (spec.algorithm, spec.seeds, spec.steps) == ("bandits.ucb1", 3, 200)
    assert spec.algorithm_params["c"] == 1.5
    assert spec.problem_params == {"means": [0.2, 0.8]}
    assert (spec.device, spec.threads, spec.dtype, spec.seed) == ("cpu", 0, "float32", 0)
    again = RunSpec.from_toml(spec.to_toml(), catalogue)
    assert again == spec


def test_every_example_spec_is_valid(catalogue):
    examples = run_examples()
    assert examples
    for path in examples:
        RunSpec.from_file(path, catalogue)


def test_every_sweep_example_expands_into_valid_points(catalogue):
    from engine import sweep

    sizes = {}
    for path in sweep_examples():
        found = sweep.from_file(path, catalogue)
        assert found is not None and found.points
        sizes[path.stem] = (len(found.points), found.keys, found.log_keys)
    assert sizes == {
        "sweep-continual-shrink-perturb-decay": (4, ["algorithm.decay"], ["algorithm.decay"]),
        "sweep-continual-upgd-sigma": (4, ["algorithm.sigma"], ["algorithm.sigma"]),
        "sweep-dpo-beta": (3, ["algorithm.beta"], ["algorithm.beta"]),
        "sweep-evolution-offspring": (
            8,
            ["algorithm.offspring", "algorithm.selection"],
            ["algorithm.offspring"],
        ),
        "sweep-memory-experts-budget": (6, ["algorithm.memory"], ["algorithm.memory"]),
        "sweep-pareto-zeus-energy-weight": (5, ["algorithm.energy_weight"], []),
        "sweep-preference-ipo-beta": (3, ["algorithm.beta"], ["algorithm.beta"]),
        "sweep-private-dpsgd-noise": (
            8,
            ["algorithm.noise_multiplier", "algorithm.start"],
            ["algorithm.noise_multiplier"],
        ),
        "sweep-rl-entropic-risk-aversion": (
            12,
            ["problem.risk_aversion", "algorithm.loss"],
            ["problem.risk_aversion"],
        ),
        "sweep-rl-smoothed-ips-alpha": (5, ["algorithm.alpha_start", "algorithm.alpha_end"], []),
        "sweep-rl-traces-lambda": (12, ["algorithm.lambda", "algorithm.trace"], []),
        "sweep-robust-score-beta": (5, ["algorithm.beta"], []),
        "sweep-robust-trades-beta": (5, ["algorithm.beta"], []),
        "sweep-time-fair-knapsack": (4, ["algorithm.fairness"], []),
        "sweep-ucb1-exploration": (6, ["algorithm.c", "algorithm.id"], ["algorithm.c"]),
        "sweep-unlearning-gradient-ascent-steps": (5, ["run.steps"], ["run.steps"]),
        "sweep-unlearning-slug-target": (4, ["algorithm.forget_target"], []),
        "sweep-unlearning-ssd-dampening": (
            4,
            ["algorithm.dampening"],
            ["algorithm.dampening"],
        ),
    }


@pytest.mark.parametrize(
    "text, key, reason",
    [
        (GOOD.replace("c = 1.5", "c = -1"), "algorithm.c", "must be >= 0, got -1"),
        (GOOD.replace("c = 1.5", 'c = "big"'), "algorithm.c", "must be a number"),
        (GOOD.replace("c = 1.5", "gamma = 1"), "algorithm.gamma", "unknown key"),
        (GOOD.replace("steps = 200", ""), "run.steps", "missing (required)"),
        (GOOD.replace("seeds = 3", "seeds = 0"), "run.seeds", "must be >= 1"),
        (GOOD.replace("seeds = 3", "seeds = 2.5"), "run.seeds", "must be an integer"),
        (
            GOOD.replace('"bandits.ucb1"', '"bandits.nope"'),
            "algorithm.id",
            "unknown algorithm id 'bandits.nope'",
        ),
        (GOOD.replace('"bandits.bernoulli"', '"bandits.nope"'), "problem.id", "unknown problem id"),
        (
            GOOD.replace("[0.2, 0.8]", "[0.2, 1.8]"),
            "problem.means",
            "item 2: must be <= 1, got 1.8",
        ),
        (
            GOOD.replace('device = "cpu"', 'device = "gpu"'),
            "hardware.device",
            "must be auto, cpu, cuda or cuda:N",
        ),
        (GOOD + "\n[extra]\nx = 1\n", "extra", "unknown section"),
    ],
)
def test_bad_values_name_key_and_reason(catalogue, text, key, reason):
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml(text, catalogue, "bad.toml")
    assert err.value.key == key
    assert reason in err.value.reason
    assert str(err.value).startswith(f"bad.toml: {key}: ")


def test_keep_seeds_is_an_integer_or_all_and_round_trips(catalogue):
    assert RunSpec.from_toml(GOOD, catalogue).keep_seeds == 100  # the default
    for written, value in (("0", 0), ("3", 3), ('"all"', "all"), ("250", 250)):
        spec = RunSpec.from_toml(
            GOOD.replace("steps = 200", f"steps = 200\nkeep_seeds = {written}"), catalogue
        )
        assert spec.keep_seeds == value
        assert RunSpec.from_toml(spec.to_toml(), catalogue) == spec
    assert (
        RunSpec.from_toml(GOOD, catalogue, overrides=['run.keep_seeds="all"']).keep_seeds == "all"
    )
    assert RunSpec.from_toml(GOOD, catalogue, overrides=["run.keep_seeds=all"]).keep_seeds == "all"
    # the studio's form gives the field's text: digits count as the integer
    assert (
        RunSpec.from_dict(
            {
                "run": {"steps": 5, "keep_seeds": "12"},
                "algorithm": {"id": "bandits.ucb1"},
                "problem": {"id": "bandits.bernoulli", "means": [0.2, 0.5]},
            },
            catalogue,
        ).keep_seeds
        == 12
    )


@pytest.mark.parametrize(
    "written, shown",
    [
        ("-1", "-1"),
        ("2.5", "2.5"),
        ('"some"', "'some'"),
        ('"ALL"', "'ALL'"),
        ('""', "''"),
        ('"-3"', "'-3'"),
        ("true", "True"),
        ("[3]", "[3]"),
    ],
)
def test_keep_seeds_refuses_anything_else_clearly(catalogue, written, shown):
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml(
            GOOD.replace("steps = 200", f"steps = 200\nkeep_seeds = {written}"), catalogue, "k.toml"
        )
    assert (
        str(err.value)
        == f'k.toml: run.keep_seeds: must be an integer in [0, {2**62}] or "all", got {shown}'
    )


def test_malformed_toml_names_the_file_and_line(catalogue):
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml("[run\nseeds = 3", catalogue, "broken.toml")
    assert str(err.value).startswith("broken.toml: not valid TOML")
    assert "line 1" in str(err.value)


def test_overrides_are_typed_and_validated(catalogue):
    spec = RunSpec.from_toml(
        GOOD,
        catalogue,
        "s.toml",
        overrides=[
            "algorithm.c=0.5",
            "run.seeds=7",
            "problem.means=[0.1, 0.9, 0.4]",
            "hardware.device=cuda:1",
            "run.name=my run",
        ],
    )
    assert spec.algorithm_params["c"] == 0.5 and spec.seeds == 7
    assert spec.problem_params["means"] == [0.1, 0.9, 0.4]
    assert spec.device == "cuda:1" and spec.name == "my run"
    with pytest.raises(SpecError, match="algorithm.c: must be >= 0"):
        RunSpec.from_toml(GOOD, catalogue, "s.toml", overrides=["algorithm.c=-3"])
    with pytest.raises(SpecError, match="section.key"):
        RunSpec.from_toml(GOOD, catalogue, "s.toml", overrides=["c=3"])


def test_cli_refuses_bad_spec_with_exit_2_and_writes_nothing(tmp_path):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "bad.toml", GOOD.replace("c = 1.5", "c = -1"))
    result = run_engine("run", spec, "--db", db)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {spec}: algorithm.c: must be >= 0, got -1"]
    assert not db.exists()  # validation happens before the store is opened

    db2 = tmp_path / "s2.db"
    run_engine("runs", "--db", db2)  # creates an empty store
    for text in ("[run\n", GOOD.replace('"bandits.ucb1"', '"x.y"')):
        result = run_engine("run", write_spec(tmp_path / "b.toml", text), "--db", db2)
        assert result.returncode == 2 and str(tmp_path / "b.toml") in result.stderr
    assert sqlite3.connect(db2).execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_cli_override_refused_with_exit_2(tmp_path):
    spec = write_spec(tmp_path / "ok.toml", GOOD)
    result = run_engine("run", spec, "--db", tmp_path / "s.db", "--set", "run.steps=0")
    assert result.returncode == 2
    assert "run.steps: must be >= 1, got 0" in result.stderr


def test_missing_file(tmp_path):
    result = run_engine("run", tmp_path / "nope.toml", "--db", tmp_path / "s.db")
    assert result.returncode == 2 and "nope.toml: no such file" in result.stderr


def test_a_rule_across_keys_is_refused_before_the_run(tmp_path):
    """consumption must hold K x d values: the problem's own check, surfaced as a spec error."""
    db = tmp_path / "s.db"
    result = run_engine(
        "run",
        EXAMPLES / "online-replenishable-knapsack.toml",
        "--db",
        db,
        "--set",
        "problem.consumption=[0.7, 0.1, -0.4]",
    )
    assert result.returncode == 2
    assert (
        "online-replenishable-knapsack.toml: problem.consumption: needs K x d = 3 x 2 = 6 values"
        in result.stderr
    )
    assert not db.exists()


DEEP = GOOD.replace("[0.2, 0.8]", "[" * 2000 + "]" * 2000)
LONG_INT = GOOD.replace("seeds = 3", "seeds = " + "1" * 5000)


@pytest.mark.parametrize(
    "text, key, reason",
    [
        # Python's TOML parser raised RecursionError here (from about 400 levels) ...
        (DEEP, "problem.means", "nested more than 32 arrays or tables deep (line 10)"),
        (
            GOOD.replace(
                "means = [0.2, 0.8]", "means = [0.2, 0.8]\nx = " + "{a = " * 500 + "1" + "}" * 500
            ),
            "problem.x",
            "nested more than 32 arrays or tables deep (line 11)",
        ),
        # ... and ValueError (the int digit limit) here; hexadecimal ones it read as huge ints
        (LONG_INT, "run.seeds", "a number written with 5000 characters (at most 100) (line 3)"),
        (
            GOOD.replace("seeds = 3", "seeds = 0x" + "f" * 90),
            "run.seeds",
            "integer out of range (integers must lie in -2**63 .. 2**63 - 1)",
        ),
        (
            GOOD.replace("c = 1.5", "c = [1, [2, -9223372036854775809]]"),
            "algorithm.c",
            "integer out of range",
        ),
        (
            GOOD.replace('"bandits.ucb1"', '"bandits.ucb1"\n"quoted key" = ' + "[" * 40 + "]" * 40),
            'algorithm."quoted key"',
            "nested more than 32",
        ),
    ],
)
def test_text_the_parser_cannot_take_is_refused_with_key_and_line(catalogue, text, key, reason):
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml(text, catalogue, "bad.toml")
    assert err.value.key == key and reason in err.value.reason
    assert str(err.value).startswith(f"bad.toml: {key}: ")


def test_deep_brackets_inside_strings_and_comments_are_not_nesting(catalogue):
    text = (
        GOOD.replace('"bandits.bernoulli"', '"bandits.bernoulli" # ' + "[" * 100).replace(
            "[run]", '[run]\nname = "' + "[{" * 100 + '"'
        )
        + "\n# "
        + "9" * 500
        + "\n"
    )
    spec = RunSpec.from_toml(text, catalogue, "fine.toml")
    assert spec.name == "[{" * 100 and spec.problem_params == {"means": [0.2, 0.8]}
    # Nesting within the limit reaches the schema, which names what is wrong with the value.
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml(
            GOOD.replace("[0.2, 0.8]", "[0.5, " + "[" * 31 + "0.5" + "]" * 31 + "]"),
            catalogue,
            "b.toml",
        )
    assert err.value.key == "problem.means" and err.value.reason.startswith(
        "item 2: must be a number, got [[["
    )


def test_overrides_past_the_limits_are_refused_too(catalogue):
    with pytest.raises(SpecError) as err:
        RunSpec.from_toml(
            GOOD, catalogue, "s.toml", overrides=["problem.means=" + "[" * 2000 + "]" * 2000]
        )
    assert (
        str(err.value)
        == "s.toml: problem.means: nested more than 32 arrays or tables deep (--set problem.means)"
    )
    with pytest.raises(
        SpecError, match=r"s.toml: run.seeds: a number written with 5000 characters"
    ):
        RunSpec.from_toml(GOOD, catalogue, "s.toml", overrides=["run.seeds=" + "7" * 5000])


@pytest.mark.parametrize(
    "text, line",
    [
        (DEEP, "problem.means: nested more than 32 arrays or tables deep (line 10)"),
        (LONG_INT, "run.seeds: a number written with 5000 characters (at most 100) (line 3)"),
    ],
)
def test_cli_refuses_what_used_to_crash_with_exit_2_and_one_line(tmp_path, text, line):
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "bad.toml", text)
    result = run_engine("run", spec, "--db", db)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {spec}: {line}"]
    assert not db.exists()
