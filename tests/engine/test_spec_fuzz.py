"""Any text at all, given as a spec, gives a spec or a SpecError: never another exception,
and through `tradeoff run` a refused spec writes nothing.

Property-based (hypothesis): random text, and the example specs mutated (characters
inserted, cut or repeated; values replaced by arbitrary TOML values, deep nesting and
long numbers among them). Derandomised and bounded, so the run is the same on every
machine and takes seconds.
"""

import contextlib
import io
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import cli, runner
from engine.registry import Catalogue
from engine.spec import RunSpec, SpecError
from tests.helpers import EXAMPLES

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BASES = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.toml"))[:12]]
PIECES = [
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    " = ",
    ",",
    ".",
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "#",
    "\n",
    "\t",
    "\x00",
    "\ufeff",
    "-",
    "+",
    "_",
    "0x",
    "1e999",
    "-inf",
    "nan",
    "true",
    "1979-05-27T07:32:00Z",
    "[" * 2000,
    "{a = " * 500,
    "9" * 5000,
    "0x" + "f" * 200,
    "1" * 101,
    "[run]",
    "[[algorithm]]",
    "[problem]\n",
    "id = 3",
    "seeds = -1",
]

scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=12).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.sampled_from(
        ["0x7fffffffffffffff", "0o17", "0b101", "1_000", "2024-01-01", "07:30:00", "+inf", "-nan"]
    ),
    st.sampled_from(
        [
            "9" * 5000,
            "-" + "1" * 4400,
            "0x" + "f" * 90,
            "[" * 2000 + "]" * 2000,
            "{a = " * 500 + "}" * 500,
        ]
    ),
).map(str)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
        st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    ),
    max_leaves=12,
)


@st.composite
def mutated_specs(draw):
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "cut", "repeat", "value"]))
        if action == "insert":
            text = (
                text[:pos]
                + draw(st.one_of(st.sampled_from(PIECES), st.text(max_size=16)))
                + text[pos:]
            )
        elif action == "cut":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        elif action == "repeat":
            text = (
                text[:pos]
                + text[pos : pos + draw(st.integers(1, 40))] * draw(st.integers(2, 3))
                + text[pos:]
            )
        else:
            lines = text.split("\n")
            assignments = [
                i for i, line in enumerate(lines) if " = " in line and not line.startswith("#")
            ]
            if not assignments:
                continue
            i = draw(st.sampled_from(assignments))
            lines[i] = lines[i].split(" = ", 1)[0] + " = " + draw(toml_values)
            text = "\n".join(lines)
    return text


any_spec_text = st.one_of(st.text(max_size=300), mutated_specs())


@pytest.fixture(scope="module")
def catalogue():
    return Catalogue.live()


@FUZZ
@given(text=any_spec_text)
def test_the_parser_gives_a_spec_or_a_spec_error(catalogue, text):
    try:
        spec = RunSpec.from_toml(text, catalogue, "fuzz.toml")
    except SpecError as err:
        assert str(err).startswith("fuzz.toml: ") and err.reason
    else:
        assert (
            RunSpec.from_toml(spec.to_toml(), catalogue) == spec
        )  # what it accepts, it can write back


@FUZZ
@given(
    text=any_spec_text,
    override=st.one_of(st.text(max_size=40), toml_values.map(lambda v: "problem.means=" + v)),
)
def test_overrides_give_a_spec_or_a_spec_error(catalogue, text, override):
    try:
        RunSpec.from_toml(text, catalogue, "fuzz.toml", overrides=[override])
    except SpecError as err:
        assert str(err).startswith("fuzz.toml: ")


class WouldRun(Exception):
    """Raised in place of running a spec the command line accepted."""


@settings(FUZZ, max_examples=60)
@given(text=mutated_specs())
def test_a_refused_spec_exits_2_with_one_line_and_writes_nothing(text):
    with tempfile.TemporaryDirectory() as folder:
        spec, db = Path(folder) / "fuzz.toml", Path(folder) / "s.db"
        spec.write_text(text, encoding="utf-8")
        err = io.StringIO()
        with (
            mock.patch.object(runner, "execute", side_effect=WouldRun),
            contextlib.redirect_stderr(err),
        ):
            try:
                code = cli.main(["run", str(spec), "--db", str(db), "--quiet"])
            except WouldRun:
                return  # a valid spec: running it is the store's and the runner's business
        assert code == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {spec}: "), lines
        assert not db.exists() and sorted(p.name for p in Path(folder).iterdir()) == ["fuzz.toml"]
