"""Configure: save and load the spec the CLI runs, refuse a bad file, presets, examples."""

import pytest

from engine.spec import RunSpec
from studio.configure.examples import EXAMPLES_DIR, examples
from studio.configure.presets import PresetError, Presets
from tests.helpers import run_examples


@pytest.fixture
def window(make_window, toy_catalogue):
    win = make_window(toy_catalogue)
    win.catalogue_pane.select("toy.every_type")
    return win


def edit(win):
    f = win.config.algorithm_form.fields
    f["n"].set_value(7)
    f["rate"].set_value(0.125)
    f["mode"].set_value("exact")
    f["weights"].set_value([0.5, 0.25, 0.125])
    win.config.problem_form.fields["scale"].set_value(2.5)
    win.config.run_form.fields["seeds"].set_value(5)
    win.config.run_form.fields["record_every"].set_value(10)
    win.hardware_panel.set_values({"device": "cpu", "threads": 1, "dtype": "float64"})


def test_save_then_load_gives_back_the_same_form(window, tmp_path, toy_catalogue):
    edit(window)
    before = window.config.spec_document()
    path = tmp_path / "saved.toml"
    assert window.config.save_file(path)
    # What was written is the spec the CLI reads, with the form's values.
    assert RunSpec.from_file(path, toy_catalogue) == window.config.build_spec()
    window.config.reset_to_defaults()
    window.catalogue_pane.select("toy.front")
    assert window.config.spec_document() != before
    assert window.load_spec(path)
    assert window.config.spec_document() == before
    assert window.catalogue_pane.current_id == "toy.every_type"


@pytest.mark.parametrize(
    "text, key, reason",
    [
        (
            '[run]\nsteps = -3\n[algorithm]\nid = "toy.every_type"\n[problem]\nid = "toy.quadratic"\n',
            "run.steps",
            "must be >= 1, got -3",
        ),
        (
            '[run]\nsteps = 10\n[algorithm]\nid = "toy.every_type"\nrate = 7.0\n[problem]\nid = "toy.quadratic"\n',
            "algorithm.rate",
            "must be <= 1, got 7",
        ),
        (
            '[run]\nsteps = 10\n[algorithm]\nid = "toy.every_type"\nspeed = 1\n[problem]\nid = "toy.quadratic"\n',
            "algorithm.speed",
            "unknown key (known keys: flag, label, mode, n, rate, sizes, weights)",
        ),
        (
            '[run]\nsteps = 10\n[algorithm]\nid = "other.only"\n[problem]\nid = "toy.quadratic"\n',
            "problem.id",
            "other.only does not run on 'toy.quadratic' (it runs on: toy.plane)",
        ),
        (
            '[run]\nsteps = 10\n[algorithm]\nid = "toy.every_type"\n',
            "problem.id",
            "missing (required)",
        ),
        ("[run]\nsteps = = 10\n", "", "not valid TOML: Invalid value (at line 2, column 9)"),
        # Python's TOML parser raised RecursionError and ValueError on these two
        (
            '[run]\nsteps = 10\n[algorithm]\nid = "toy.every_type"\nweights = '
            + "[" * 2000
            + "]" * 2000
            + "\n",
            "algorithm.weights",
            "nested more than 32 arrays or tables deep (line 5)",
        ),
        (
            "[run]\nsteps = " + "1" * 5000 + "\n",
            "run.steps",
            "a number written with 5000 characters (at most 100) (line 2)",
        ),
    ],
)
def test_a_bad_spec_file_says_file_key_reason_and_changes_nothing(
    window, tmp_path, text, key, reason
):
    edit(window)
    before = window.config.spec_document()
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert not window.load_spec(path)
    shown = window.config.spec_error.text()
    assert (
        str(path) in shown and reason in shown and (key + ": " + reason in shown if key else True)
    )
    assert "the form is unchanged" in shown and not window.config.spec_error.isHidden()
    assert window.config.spec_document() == before
    assert window.catalogue_pane.current_id == "toy.every_type"


def test_a_missing_file_is_refused_too(window, tmp_path):
    assert not window.load_spec(tmp_path / "nowhere.toml")
    assert "no such file" in window.config.spec_error.text()


def test_presets_are_spec_files_per_algorithm(window, studio_settings_folder):
    config, bar = window.config, window.config.preset_bar
    assert bar.combo.itemText(0) == "no presets yet" and not bar.combo.isEnabled()
    edit(window)
    saved = config.spec_document()
    assert config.save_preset("careful run")
    path = (
        studio_settings_folder
        / "tradeoff-studio"
        / "presets"
        / "toy.every_type"
        / "careful run.toml"
    )
    assert path.is_file() and bar.presets.names("toy.every_type") == ["careful run"]
    assert [bar.combo.itemText(i) for i in range(bar.combo.count())] == ["Presets…", "careful run"]
    # Another algorithm has its own (empty) list.
    window.catalogue_pane.select("toy.regret")
    assert bar.presets.names("toy.regret") == [] and bar.combo.count() == 1
    window.catalogue_pane.select("toy.every_type")
    config.reset_to_defaults()
    assert config.spec_document() != saved
    bar.combo.setCurrentIndex(1)
    bar.combo.activated.emit(1)
    assert config.spec_document() == saved
    bar.delete_button.click()
    assert not path.exists() and bar.combo.count() == 1


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden", "x" * 65])
def test_a_preset_name_that_is_no_plain_file_name_is_refused(tmp_path, name):
    with pytest.raises(PresetError) as err:
        Presets(tmp_path).save("toy.every_type", name, "")
    assert "preset name" in str(err.value)
    assert not any(tmp_path.rglob("*.toml"))


def test_the_examples_are_offered_and_load_into_the_form(qtbot, make_window, engine_catalogue):
    found = examples()
    assert [e.name for e in found] == [p.stem for p in run_examples()]  # sweeps not yet
    assert found and all(e.description for e in found)
    win = make_window(engine_catalogue)
    assert set(win.watch.welcome.buttons) == {e.name for e in found}
    assert [a.text() for a in win.actions.examples.actions()] == [e.name for e in found]
    win.watch.welcome.buttons["ucb-vs-thompson"].click()
    expected = RunSpec.from_file(EXAMPLES_DIR / "ucb-vs-thompson.toml", engine_catalogue)
    assert win.config.build_spec() == expected
    assert win.catalogue_pane.current_id == expected.algorithm


@pytest.mark.parametrize(
    "text, sweep",
    [
        ('[sweep.grid]\n"algorithm.c" = [1, 2]\n', True),
        ("[ sweep ]\ngrid = {}\n", True),
        ("sweep = {grid = {}}\n", True),
        ('[run]\nname = "sweep"\n', False),
        ("# [sweep.grid] in a comment\n[run]\n", False),
        ("[run]\nsweeping = 1\n", False),
    ],
)
def test_the_example_list_tells_sweeps_by_their_text(tmp_path, text, sweep):
    from studio.configure.examples import _is_sweep

    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    assert _is_sweep(path) is sweep
