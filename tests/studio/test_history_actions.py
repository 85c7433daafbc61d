"""Tags, notes and delete from the history go through real `python -m engine` commands."""

import json

import pytest

from engine.spec import RunSpec
from engine.store import StoreReader
from studio.history.engine_actions import tag_arguments
from studio.history.model import COLUMNS
from studio.history.panel import HistoryPanel

ENGINE_TIMEOUT_MS = 30_000


@pytest.fixture
def two_runs(store, toy_catalogue):
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": 1, "steps": 5},
            "algorithm": {"id": "toy.regret"},
            "problem": {"id": "toy.quadratic"},
        },
        toy_catalogue,
    )
    ids = []
    for _ in range(2):
        run_id = store.create_run(spec, family="toy", plot="regret")
        store.start_run(run_id, {"device": "cpu"})
        store.append(run_id, [("cumulative_regret", 1, 0, 1.0, 0.0)], [(1, 0, 0, [1.0, 2.0], {})])
        store.finish_run(run_id, "finished")
        ids.append(run_id)
    return ids


@pytest.fixture
def panel(qtbot, store):
    reader = StoreReader(store.path)
    widget = HistoryPanel(reader)
    widget.stop_polling()
    qtbot.addWidget(widget)
    yield widget
    reader.close()


def _cell(panel, run_id, name):
    row = panel.model.row_of(run_id)
    return panel.model.index(row, COLUMNS.index(name)).data()


def test_tag_arguments_add_and_remove_only_what_changed():
    assert tag_arguments(3, ["a", "b"], ["b", "c"]) == ["tag", "3", "--add", "c", "--remove", "a"]
    assert tag_arguments(3, ["a"], ["a"]) is None


def test_tags_and_notes_edited_in_the_details_reach_the_store_and_the_table(
    qtbot, panel, store, two_runs
):
    first, _ = two_runs
    panel.refresh()
    panel.select_runs([first])
    assert panel.details.record.id == first
    panel.details.tags_edit.setText("baseline, paper ,baseline")
    with qtbot.waitSignal(panel.actions.done, timeout=ENGINE_TIMEOUT_MS) as done:
        panel.details.tags_button.click()
    assert done.args[0] is True, done.args[1]
    assert json.loads(store.get_run(first)["tags"]) == ["baseline", "paper"]
    assert _cell(panel, first, "tags") == "baseline, paper"

    panel.details.notes_edit.setPlainText("-rerun with c=1")  # a leading "-" is text, not an option
    with qtbot.waitSignal(panel.actions.done, timeout=ENGINE_TIMEOUT_MS) as done:
        panel.details.notes_button.click()
    assert done.args[0] is True, done.args[1]
    assert store.get_run(first)["notes"] == "-rerun with c=1"
    assert _cell(panel, first, "notes") == "-rerun with c=1"

    panel.details.tags_edit.setText(
        "paper, a,b"
    )  # a comma inside a tag cannot be typed; "a" and "b" are two
    with qtbot.waitSignal(panel.actions.done, timeout=ENGINE_TIMEOUT_MS):
        panel.details.tags_button.click()
    assert json.loads(store.get_run(first)["tags"]) == ["paper", "a", "b"]


def test_delete_after_confirmation_removes_the_run_from_store_and_table(
    qtbot, panel, store, two_runs, monkeypatch
):
    first, second = two_runs
    panel.refresh()
    panel.select_runs([first])
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    panel.delete_button.click()
    assert (
        not panel.actions.is_busy() and store.get_run(first) is not None
    )  # cancelled: nothing asked of the engine
    asked = []
    monkeypatch.setattr(
        QMessageBox,
        "question",
        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes,
    )
    with qtbot.waitSignal(panel.actions.done, timeout=ENGINE_TIMEOUT_MS) as done:
        panel.delete_button.click()
    assert done.args[0] is True, done.args[1]
    assert asked and f"run {first}" in asked[0]
    assert store.get_run(first) is None and store.get_run(second) is not None
    assert (
        store.conn.execute(
            "SELECT count(*) FROM series_blocks WHERE run_id=?", (first,)
        ).fetchone()[0]
        == 0
    )
    assert (
        store.conn.execute(
            "SELECT count(*) FROM pareto_points WHERE run_id=?", (first,)
        ).fetchone()[0]
        == 0
    )
    assert panel.model.row_of(first) == -1 and panel.model.rowCount() == 1


def test_deleting_a_running_run_is_refused_with_the_engines_reason(
    qtbot, panel, store, toy_catalogue
):
    spec = RunSpec.from_dict(
        {
            "run": {"steps": 5},
            "algorithm": {"id": "toy.regret"},
            "problem": {"id": "toy.quadratic"},
        },
        toy_catalogue,
    )
    live = store.create_run(spec, family="toy", plot="regret")
    store.start_run(live, {"device": "cpu"})  # this test process is its "engine": alive
    panel.refresh()
    with qtbot.waitSignal(panel.actions.done, timeout=ENGINE_TIMEOUT_MS) as done:
        panel.delete_runs([live])
    assert done.args[0] is False and f"run {live} is still running" in done.args[1]
    assert panel.message.text().startswith("refused: ")
    assert store.get_run(live) is not None
