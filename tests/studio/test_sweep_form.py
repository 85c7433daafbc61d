"""A form field switched to "sweep": lists, ranges and random samples, checked per value."""

from __future__ import annotations

import math

import pytest

from engine.params import Param
from studio.configure.param_form import ParamForm
from studio.configure.sweep_editor import (
    LINEAR,
    LIST,
    LOG,
    RANDOM,
    FormSweep,
    GridEntry,
    RandomEntry,
    SweepInputError,
    modes_for,
    parse_items,
    range_values,
)

C = Param("c", "float", 2.0, "exploration", low=0.0, high=100.0)
N = Param("n", "int", 4, "arms", low=2, high=50)
KIND = Param("kind", "choice", "a", "which", choices=("a", "b", "c"))


def test_a_log_range_is_geometric_with_the_ends_as_typed():
    values = range_values(C, 0.1, 10.0, 3, log=True)
    assert values[0] == 0.1 and values[2] == 10.0
    assert values[1] == pytest.approx(1.0, rel=1e-12)  # sqrt(0.1 * 10)
    linear = range_values(C, 0.0, 1.0, 5, log=False)
    assert linear == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0], abs=1e-15)


def test_an_integer_range_rounds_and_drops_repeats():
    assert range_values(N, 2, 4, 5, log=False) == [2, 3, 4]  # 2, 2.5, 3, 3.5, 4 -> 2, 2, 3, 4, 4
    assert range_values(N, 2, 32, 5, log=True) == [2, 4, 8, 16, 32]


def test_every_value_is_checked_by_the_parameter_itself():
    with pytest.raises(SweepInputError, match="200"):
        parse_items("1, 200", C)  # above high = 100
    with pytest.raises(SweepInputError, match="low end above 0"):
        range_values(C, 0.0, 1.0, 3, log=True)
    with pytest.raises(SweepInputError, match="high end"):
        range_values(C, 2.0, 1.0, 3, log=False)
    with pytest.raises(SweepInputError, match="twice"):
        parse_items("1, 1.0", C)
    assert parse_items("a, c", KIND) == ["a", "c"]
    with pytest.raises(SweepInputError, match="'d'"):
        parse_items("a, d", KIND)


def test_which_modes_each_type_offers():
    assert modes_for(C) == (LIST, LINEAR, LOG, RANDOM)
    assert modes_for(N) == (LIST, LINEAR, LOG)  # random samples would not be integers
    assert modes_for(KIND) == (LIST,)


def test_form_sweep_counts_runs_and_writes_the_spec_tables():
    sweep = FormSweep.from_entries(
        {
            "algorithm.c": GridEntry((0.5, 1.0, 2.0)),
            "problem.n": GridEntry((2, 4)),
            "algorithm.lr": RandomEntry(0.001, 0.1, True, 5),
        }
    )
    assert sweep.runs == 3 * 2 * 5
    assert sweep.tables() == {
        "grid": {"algorithm.c": [0.5, 1.0, 2.0], "problem.n": [2, 4]},
        "random": {"samples": 5, "algorithm.lr": {"low": 0.001, "high": 0.1, "log": True}},
    }
    with pytest.raises(SweepInputError, match="one sample count"):
        FormSweep.from_entries(
            {"a.x": RandomEntry(0, 1, False, 3), "a.y": RandomEntry(0, 1, False, 4)}
        )


def test_a_field_switched_to_sweep_reports_its_entry_and_its_refusal(qtbot):
    form = ParamForm((C, N, KIND), sweepable=True)
    qtbot.addWidget(form)
    assert form.sweeps() == {}
    field = form.fields["c"]
    field.set_sweeping(True)
    assert field.sweep_editor.isVisibleTo(form) and not field.editor.isVisibleTo(form)
    field.sweep_editor.set_mode(LOG)
    field.sweep_editor.low.setText("0.5")
    field.sweep_editor.high.setText("8")
    field.sweep_editor.points.setValue(5)
    entry = form.sweeps()["c"]
    assert entry.log_spaced and entry.values == pytest.approx((0.5, 1.0, 2.0, 4.0, 8.0), rel=1e-12)
    assert form.is_valid()

    field.sweep_editor.high.setText("800")  # beyond the declared bound
    assert not form.is_valid()
    assert "800" in field.error
    field.set_sweeping(False)  # back to one value: the editor's value counts again
    assert form.is_valid() and form.sweeps() == {}
    assert form.values()["c"] == 2.0


def test_only_single_valued_fields_offer_a_sweep(qtbot):
    means = Param("means", "floats", [0.1, 0.2], "arm means", low=0.0, high=1.0)
    name = Param("name", "str", "", "a label")
    form = ParamForm((C, N, KIND, means, name), sweepable=True)
    qtbot.addWidget(form)
    offered = {n for n, f in form.fields.items() if f.sweep_button is not None}
    assert offered == {"c", "n", "kind"}
    form.fields["means"].set_sweeping(True)  # no switch: nothing happens
    assert form.sweeps() == {} and not form.fields["means"].sweeping


def test_a_random_sweep_of_a_float_keeps_its_range(qtbot):
    form = ParamForm((C,), sweepable=True)
    qtbot.addWidget(form)
    field = form.fields["c"]
    field.set_sweeping(True)
    field.sweep_editor.set_mode(RANDOM)
    field.sweep_editor.low.setText("0.01")
    field.sweep_editor.high.setText("10")
    field.sweep_editor.log.setChecked(True)
    field.sweep_editor.points.setValue(8)
    assert form.sweeps() == {"c": RandomEntry(0.01, 10.0, True, 8)}
    field.sweep_editor.low.setText("nan")
    with pytest.raises(SweepInputError, match="finite"):
        form.sweeps()
    assert not math.isnan(C.default)
