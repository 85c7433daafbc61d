"""The generated form: widgets per type, inline validation, reset, the spec it builds."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from engine.params import Param
from engine.spec import RunSpec, SpecError
from studio.configure.config_panel import ConfigPanel
from studio.configure.param_form import INVALID_STYLE, ParamField, ParamForm


@pytest.fixture
def panel(qtbot, toy_catalogue):
    widget = ConfigPanel()
    qtbot.addWidget(widget)
    widget.set_catalogue(toy_catalogue)
    widget.select_algorithm("toy.every_type")
    return widget


@pytest.fixture
def window(make_window, toy_catalogue):
    win = make_window(toy_catalogue)
    win.catalogue_pane.select("toy.every_type")
    return win


def fields(panel):
    return panel.algorithm_form.fields


def test_each_type_gets_its_widget_with_bounds(panel):
    f = fields(panel)
    assert isinstance(f["n"].editor, QSpinBox)
    assert (f["n"].editor.minimum(), f["n"].editor.maximum(), f["n"].editor.value()) == (1, 10, 3)
    assert isinstance(f["rate"].editor, QLineEdit) and f["rate"].editor.text() == "0.5"
    assert isinstance(f["flag"].editor, QCheckBox) and f["flag"].editor.isChecked()
    combo = f["mode"].editor
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["fast", "exact"]
    assert isinstance(f["label"].editor, QLineEdit) and f["label"].editor.text() == "x"
    assert f["weights"].editor.text() == "0.25, 0.75"
    assert f["sizes"].editor.text() == "8, 16"
    assert f["rate"].editor.toolTip() == "A rate.\nrange: (0, 1]"
    assert f["mode"].editor.toolTip() == "A mode.\nallowed: one of fast, exact"
    assert f["weights"].editor.toolTip() == "Weights.\nrange: [0, 1]\n2 to 3 comma-separated values"
    assert (
        f["sizes"].editor.toolTip() == "Sizes.\nrange: [1, 100]\n1 or more comma-separated values"
    )
    assert f["flag"].editor.toolTip() == "A switch."
    assert panel.is_valid()


def test_open_integer_bounds_narrow_the_spin_box(qtbot):
    field = ParamField(Param("k", "int", 2, "k", low=0, high=5, low_open=True, high_open=True))
    qtbot.addWidget(field)
    assert (field.editor.minimum(), field.editor.maximum()) == (1, 4)


def test_unbounded_int_is_clamped_to_what_a_spin_box_holds(qtbot):
    field = ParamField(Param("seed", "int", 0, "seed", low=0, high=2**62))
    qtbot.addWidget(field)
    assert (field.editor.minimum(), field.editor.maximum()) == (0, 2**31 - 1)


GOOD_TEXT = {"rate": "0.3", "weights": "0.3, 0.4", "sizes": "4"}


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("rate", "1.5", "must be <= 1, got 1.5"),
        ("rate", "0", "must be > 0, got 0"),
        ("rate", "abc", "must be a number, got 'abc'"),
        ("rate", "nan", "must be a finite number, got nan"),
        ("weights", "2, 0.5", "item 1: must be <= 1, got 2"),  # counted from 1, as the user counts
        ("weights", "0.5, 2", "item 2: must be <= 1, got 2"),
        ("weights", "0.5, x", "item 2: must be a number, got 'x'"),
        ("weights", "0.5", "needs at least 2 values, got 1"),
        ("weights", "0.1, 0.2, 0.3, 0.4", "takes at most 3 values, got 4"),
        ("sizes", "4, 2.5", "item 2: must be an integer, got 2.5"),
        ("sizes", "", "needs at least 1 values, got 0"),
    ],
)
def test_a_bad_value_shows_the_reason_and_disables_run(qtbot, window, name, text, reason):
    assert window.run_button.isEnabled()
    field = window.config.algorithm_form.fields[name]
    field.editor.setText(text)
    assert field.error == reason
    assert field.error_label.text() == reason and not field.error_label.isHidden()
    assert field.editor.styleSheet() == INVALID_STYLE
    assert not window.run_button.isEnabled()
    field.editor.setText(GOOD_TEXT[name])
    assert field.error is None and field.error_label.isHidden()
    assert window.run_button.isEnabled()


def test_typing_is_validated_as_the_user_types(qtbot, panel):
    editor = fields(panel)["rate"].editor
    editor.clear()
    qtbot.keyClicks(editor, "2")
    assert fields(panel)["rate"].error == "must be <= 1, got 2"
    qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClicks(editor, ".25")
    assert fields(panel)["rate"].error is None


def test_reset_restores_every_default(qtbot, panel):
    f = fields(panel)
    f["n"].editor.setValue(7)
    f["rate"].editor.setText("2")
    f["flag"].editor.setChecked(False)
    f["mode"].editor.setCurrentText("exact")
    f["weights"].editor.setText("oops")
    panel.run_form.fields["seeds"].editor.setValue(12)
    panel.hardware.set_device("cpu")
    panel.hardware.dtype.setCurrentText("float64")
    panel.problem_form.fields["scale"].editor.setText("4")
    assert not panel.is_valid()
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert panel.algorithm_form.values() == {
        "n": 3,
        "rate": 0.5,
        "flag": True,
        "mode": "fast",
        "label": "x",
        "weights": [0.25, 0.75],
        "sizes": [8, 16],
    }
    assert panel.run_form.values()["seeds"] == 1
    assert panel.hardware.values() == {"device": "auto", "threads": 0, "dtype": "float32"}
    assert panel.problem_form.values() == {"scale": 1.0}
    assert panel.is_valid()


def test_the_spec_round_trips_through_toml(panel, toy_catalogue):
    f = fields(panel)
    f["n"].editor.setValue(9)
    f["rate"].editor.setText("1e-06")
    f["flag"].editor.setChecked(False)
    f["mode"].editor.setCurrentText("exact")
    f["label"].editor.setText('quote " and \\ slash')
    f["weights"].editor.setText("0.1, 0.2, 0.3")
    f["sizes"].editor.setText("3.0, 5")
    panel.run_form.fields["seeds"].editor.setValue(4)
    panel.run_form.fields["steps"].editor.setValue(250)
    panel.run_form.fields["name"].editor.setText("round trip")
    panel.hardware.set_device("cpu")
    spec = panel.build_spec()
    assert spec is not None
    assert spec.algorithm_params == {
        "n": 9,
        "rate": 1e-06,
        "flag": False,
        "mode": "exact",
        "label": 'quote " and \\ slash',
        "weights": [0.1, 0.2, 0.3],
        "sizes": [3, 5],
    }
    assert (spec.seeds, spec.steps, spec.name, spec.device) == (4, 250, "round trip", "cpu")
    assert RunSpec.from_toml(spec.to_toml(), toy_catalogue) == spec


def test_problem_picker_lists_only_the_algorithms_problems(panel):
    combo = panel.problem_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["toy.quadratic"]
    panel.select_algorithm("other.only")
    assert [combo.itemData(i) for i in range(combo.count())] == ["toy.plane"]
    assert panel.algorithm_form.fields == {} and panel.problem_form.fields == {}


def test_the_algorithm_shows_its_id_paper_and_summary(panel):
    assert "toy.every_type" in panel.algorithm_info.text()
    assert "A Paper With Every Type" in panel.algorithm_info.text()
    assert "Declares one parameter of each type." in panel.algorithm_info.text()
    with pytest.raises(KeyError):
        panel.select_algorithm("toy.unknown")


def test_a_spec_error_is_shown_in_the_form_and_nothing_starts(qtbot, window, monkeypatch):
    document = window.config.spec_document()
    document["run"]["record_every"] = -5
    monkeypatch.setattr(window.config, "spec_document", lambda: document)
    qtbot.mouseClick(window.run_button, Qt.MouseButton.LeftButton)
    assert window.queue.entries == []
    assert window.config.spec_error.text() == "run.record_every: must be >= 0, got -5"
    assert not window.config.spec_error.isHidden()


def test_a_spec_error_on_a_field_marks_that_field(panel):
    panel.show_spec_error(SpecError("", "algorithm.rate", "must be > 0, got 0"))
    assert fields(panel)["rate"].error == "must be > 0, got 0"
    assert not panel.is_valid()


def test_empty_declarations_give_an_empty_valid_form(qtbot):
    form = ParamForm(())
    qtbot.addWidget(form)
    assert form.values() == {} and form.is_valid()
