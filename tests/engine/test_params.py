"""The parameter declarations: every type's conversion and refusal messages."""

import math

import pytest

from engine.params import Param, ParamError, validate_params


def test_int_bounds_and_type():
    p = Param("k", "int", 3, "arms", low=2, high=10)
    assert p.validate(5) == 5
    assert p.validate(4.0) == 4  # an integral float (TOML 4.0) is accepted as 4
    with pytest.raises(ParamError, match="must be >= 2, got 1"):
        p.validate(1)
    with pytest.raises(ParamError, match="must be <= 10, got 11"):
        p.validate(11)
    with pytest.raises(ParamError, match="must be an integer"):
        p.validate(2.5)
    with pytest.raises(ParamError, match="must be an integer"):
        p.validate(True)  # bool is an int in Python, never a count here


def test_float_open_bounds_and_non_finite():
    p = Param("beta", "float", 0.1, "temperature", low=0.0, low_open=True)
    assert p.validate(1) == 1.0 and isinstance(p.validate(1), float)
    with pytest.raises(ParamError, match="must be > 0, got 0"):
        p.validate(0.0)
    with pytest.raises(ParamError, match="finite"):
        p.validate(math.inf)
    with pytest.raises(ParamError, match="must be a number, got 'x'"):
        p.validate("x")
    assert p.describe_bounds() == "(0, inf)"


def test_choice_bool_str():
    c = Param("opt", "choice", "adam", "optimiser", choices=("sgd", "adam"))
    assert c.validate("sgd") == "sgd"
    with pytest.raises(ParamError, match="must be one of 'sgd', 'adam', got 'rmsprop'"):
        c.validate("rmsprop")
    b = Param("flag", "bool", False, "a switch")
    with pytest.raises(ParamError, match="true or false"):
        b.validate(1)
    s = Param("name", "str", "", "a name")
    with pytest.raises(ParamError, match="must be a string"):
        s.validate(3)


def test_float_lists_check_each_item_and_length():
    p = Param("means", "floats", [0.1, 0.5], "means", low=0.0, high=1.0, min_len=2, max_len=4)
    assert p.validate([0, 1]) == [0.0, 1.0]
    with pytest.raises(ParamError, match=r"item 2: must be <= 1, got 1.5"):
        p.validate([0.2, 1.5])
    with pytest.raises(ParamError, match="at least 2 values, got 1"):
        p.validate([0.2])
    with pytest.raises(ParamError, match="at most 4 values, got 5"):
        p.validate([0.1] * 5)
    with pytest.raises(ParamError, match="list of numbers"):
        p.validate(0.3)


def test_declaration_refuses_its_own_bad_default():
    with pytest.raises(ParamError):
        Param("c", "float", -1.0, "bad default", low=0.0)


def test_json_round_trip_keeps_every_field():
    p = Param(
        "means",
        "floats",
        [0.1, 0.5],
        "means",
        low=0.0,
        high=1.0,
        high_open=True,
        min_len=2,
        max_len=9,
    )
    q = Param.from_json(p.to_json())
    assert q == p
    c = Param("opt", "choice", "adam", "optimiser", choices=("sgd", "adam"))
    assert Param.from_json(c.to_json()) == c


def test_validate_params_fills_defaults_and_names_the_key():
    declared = (Param("c", "float", 2.0, "c", low=0.0), Param("k", "int", 3, "k"))
    assert validate_params(declared, {"k": 5}, "algorithm") == {"c": 2.0, "k": 5}
    with pytest.raises(ParamError) as err:
        validate_params(declared, {"c": -1}, "algorithm")
    assert err.value.name == "algorithm.c"
    with pytest.raises(ParamError) as err:
        validate_params(declared, {"gamma": 1}, "algorithm")
    assert (
        err.value.name == "algorithm.gamma" and "unknown key (known keys: c, k)" in err.value.reason
    )
