"""Comfort and faults: menus and shortcuts, the status bar, failures, closing, stores,
themes, remembered settings, About, and the extension points for other panels."""

import platform
import sqlite3

import numpy
import pyqtgraph
import PySide6
import pytest
from PySide6.QtCore import qVersion
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from engine.store import SCHEMA_VERSION, Store
from studio.theme import apply_theme
from tests.engine.bad_stores import (
    BAD_FILES,
    folder_contents,
    make_bad_file,
    restore_permissions,
    see_permissions_as_a_user,
)

ENGINE_MS = 30_000


@pytest.fixture
def window(make_window, toy_catalogue):
    win = make_window(toy_catalogue)
    win.catalogue_pane.select("toy.every_type")
    win.hardware_panel.set_device("cpu")
    return win


def test_the_menus_carry_the_shortcuts(window):
    a = window.actions
    shortcuts = {
        name: getattr(a, name).shortcut().toString()
        for name in ("run", "stop", "open_store", "export", "load_spec")
    }
    assert shortcuts == {
        "run": "Ctrl+R",
        "stop": "Ctrl+.",
        "open_store": "Ctrl+O",
        "export": "Ctrl+E",
        "load_spec": "Ctrl+L",
    }
    assert a.save_spec.shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus == ["&File", "&Run", "&View", "&Help"]


def test_a_failing_run_is_notified_and_the_studio_keeps_working(
    qtbot, window, store, standin_engine
):
    window.config.run_form.fields["name"].set_value("fail-now")
    with qtbot.waitSignal(window.queue.run_ended, timeout=ENGINE_MS) as ended:
        window.actions.run.trigger()
    run_id = ended.args[0].run_id
    expected = f"Run {run_id} failed: ZeroDivisionError: boom"
    assert not window.notices.isHidden() and window.notices.text().startswith(expected)
    assert f"tradeoff show {run_id}" in window.notices.text()
    assert window.statusBar().currentMessage().startswith(expected)
    assert store.get_run(run_id)["status"] == "failed"
    # Still working: the next run goes through.
    window.config.run_form.fields["name"].set_value("fine")
    standin_engine.release("fine")
    with qtbot.waitSignal(window.queue.run_ended, timeout=ENGINE_MS) as ended:
        window.run_button.click()
    assert ended.args[0].state == "finished"
    window.notices.close_button.click()
    assert window.notices.isHidden()


def test_the_status_bar_counts_running_and_waiting_runs(qtbot, window, standin_engine):
    window.hardware_panel.workers.setValue(1)
    assert window.engine_state.text() == "engine: idle  ·  1 worker"
    window.config.run_form.fields["name"].set_value("first")
    first = window.start_run()
    window.config.run_form.fields["name"].set_value("second")
    second = window.start_run()
    # Both wait while the engine queues them; then one worker runs the first.
    assert window.engine_state.text() == "engine: 0 running, 2 waiting  ·  1 worker"
    # One worker: whichever the engine queued first runs, the other waits.
    qtbot.waitUntil(lambda: "running" in (first.state, second.state), timeout=ENGINE_MS)
    assert window.engine_state.text() == "engine: 1 running, 1 waiting  ·  1 worker"
    standin_engine.release_all()
    qtbot.waitUntil(
        lambda: window.engine_state.text() == "engine: idle  ·  1 worker", timeout=ENGINE_MS
    )


def test_closing_and_stopping_leaves_the_runs_cancelled(qtbot, window, store, standin_engine):
    window.hardware_panel.workers.setValue(1)
    window.config.run_form.fields["name"].set_value("going")
    going = window.start_run()
    qtbot.waitUntil(lambda: going.sweep_id is not None, timeout=ENGINE_MS)  # queued first
    window.config.run_form.fields["name"].set_value("waiting")
    waiting = window.start_run()
    qtbot.waitUntil(
        lambda: going.state == "running" and waiting.state == "queued", timeout=ENGINE_MS
    )
    window.ask_close_choice = lambda in_flight: "stop"
    window.close()
    # The window closes once the engine has cancelled both: the queued one never runs.
    assert window.isVisible() and waiting.stop_requested
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=ENGINE_MS)
    assert (going.state, waiting.state) == ("cancelled", "cancelled")
    assert [(r["name"], r["status"]) for r in store.list_runs()] == [("going", "cancelled")]
    assert store.sweep(waiting.sweep_id)["points"][0]["status"] == "cancelled"


def test_closing_can_be_called_off(qtbot, window, standin_engine):
    entry = window.start_run()
    window.ask_close_choice = lambda in_flight: "cancel"
    window.close()
    assert window.isVisible() and entry.live


def test_opening_a_file_that_is_no_store_says_so_and_changes_nothing(window, reader, tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are my notes, not a database")
    assert not window.open_store(junk)
    assert "not a Tradeoff Studio store (not an SQLite database)" in window.last_message.text()
    assert str(junk) in window.last_message.text()
    assert window.store is reader and junk.read_bytes() == b"these are my notes, not a database"

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE birds (name TEXT)")
    before = other.read_bytes()
    assert not window.open_store(other)
    assert (
        "an SQLite database but not a Tradeoff Studio store (no meta or runs table)"
        in window.last_message.text()
    )
    assert other.read_bytes() == before and window.store is reader


def test_a_store_from_a_newer_schema_is_refused(window, reader, tmp_path):
    newer = tmp_path / "newer.db"
    Store(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    assert not window.open_store(newer)
    assert (
        f"store schema version 99 is newer than this program's ({SCHEMA_VERSION})"
        in window.last_message.text()
    )
    assert window.store is reader


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_the_studio_refuses_every_bad_store_file_as_the_command_line_does(
    window, reader, tmp_path, kind, monkeypatch
):
    """The same check as `tradeoff --db` (engine.store_file): the same reason, the file untouched."""
    see_permissions_as_a_user(monkeypatch)
    folder = tmp_path / "files"
    folder.mkdir()
    path, reason = make_bad_file(kind, folder)
    before = folder_contents(folder)
    try:
        assert not window.open_store(path)
        assert f"{path}: {reason}" in window.last_message.text()
        assert window.store is reader and folder_contents(folder) == before
    finally:
        restore_permissions(folder)


def test_open_store_switches_and_tells_the_panels(qtbot, window, tmp_path, started_run):
    path = tmp_path / "second.db"
    with qtbot.waitSignal(window.store_changed) as changed:
        assert window.open_store(path)
    assert changed.args[0] is window.store and window.store.path == path
    assert window.windowTitle() == "Tradeoff Studio — second.db"
    assert window.settings.value("store/last") == str(path)
    window.close()  # no more reads; then the store this test opened can close
    window.store.close()


def test_the_about_box_names_every_version(window):
    box = window.show_about()
    text = box.text()
    for name, version in (
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("pyqtgraph", pyqtgraph.__version__),
        ("numpy", numpy.__version__),
        ("torch (engine)", "2.13.0+cpu"),
    ):
        assert f"<b>{name}</b>&nbsp;&nbsp;</td><td>{version}</td>" in text
    box.close()


def test_choices_layout_and_theme_come_back_after_a_restart(make_window, toy_catalogue):
    first = make_window(toy_catalogue)
    first.catalogue_pane.select("toy.every_type")
    first.config.algorithm_form.fields["n"].set_value(9)
    first.hardware_panel.workers.setValue(1)
    first.setup_tabs.setCurrentIndex(1)
    # A size the (offscreen) screen holds, so that restoring the geometry keeps it.
    screen = QApplication.primaryScreen().availableGeometry()
    first.resize(screen.width() - 40, screen.height() - 60)
    first.main_splitter.setSizes([200, 250, 300])
    sizes = first.main_splitter.sizes()
    first.set_theme("dark")
    first.close()
    try:
        second = make_window(toy_catalogue)
        assert second.config.algorithm.id == "toy.every_type"
        assert second.config.algorithm_form.fields["n"].raw_value() == 9
        assert second.hardware_panel.workers.value() == 1 and second.queue.workers == 1
        assert second.setup_tabs.currentIndex() == 1
        assert second.size() == first.size() and second.main_splitter.sizes() == sizes
        assert second.theme == "dark" and second.actions.themes["dark"].isChecked()
        window_colour = QApplication.instance().palette().color(QPalette.ColorRole.Window)
        assert window_colour.lightness() < 80
    finally:
        apply_theme(QApplication.instance(), "light")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 180


def test_panels_from_elsewhere_are_one_call_away(qtbot, window, store, started_run):
    extra = QLabel("extra")
    index = window.add_panel("Extra", extra)
    assert window.panels.tabText(index) == "Extra"
    view_actions = {
        a.text(): a.shortcut().toString() for a in window.actions.view_menu.actions() if a.text()
    }
    # Watch, then the built-in History, Compare and Sweeps panels, then this one.
    assert [view_actions[t] for t in ("Watch", "History", "Compare", "Sweeps", "Extra")] == [
        "Ctrl+1",
        "Ctrl+2",
        "Ctrl+3",
        "Ctrl+4",
        "Ctrl+5",
    ]
    window.show_panel(extra)
    assert window.panels.currentWidget() is extra

    run_id = started_run("toy.regret")
    store.finish_run(run_id, "finished")
    assert window.show_run(run_id)
    assert window.panels.currentWidget() is window.watch and window.watch.focused_run_id == run_id
    assert not window.show_run(999)
    assert "no run 999" in window.statusBar().currentMessage()

    # File > Export... is connected to the built-in panels: with nothing selected it says what to do.
    assert window.actions.export.isEnabled()
    window.show_panel(window.studio_panels.history_page)
    window.actions.export.trigger()
    assert "Select runs in the History panel" in window.statusBar().currentMessage()
    exported = []
    window.connect_export(lambda: exported.append(True))
    window.actions.export.trigger()
    assert exported == [True]


def test_a_run_started_from_the_cli_shows_in_the_queue_and_watch(
    qtbot, make_window, toy_catalogue, store, started_run
):
    run_id = started_run("toy.regret", seeds=2, steps=400)  # a live run this window did not start
    store.heartbeat(run_id, 100)
    win = make_window(toy_catalogue)
    entry = win.queue.entry_for(run_id)
    assert entry is not None and entry.adopted and entry.state == "running"
    assert (
        win.queue_view.items[id(entry)].text(0)
        == f"Run {run_id}: toy.regret on toy.quadratic  (started elsewhere)"
    )
    assert win.watch.tile(run_id) is not None
    # Picking it (a click on its plot) tells the panels once; showing it on request does not.
    picked = []
    win.run_selected.connect(picked.append)
    tile = win.watch.tile(run_id)
    tile.clicked.emit(tile)
    assert picked == [run_id] and win.queue_view.selected_entry() is entry
    win.show_run(run_id)
    assert picked == [run_id]
    store.finish_run(run_id, "finished")
    qtbot.waitUntil(
        lambda: entry.state == "finished" and win.watch.tile(run_id).status == "finished",
        timeout=ENGINE_MS,
    )


def _shown_panel(window) -> tuple[int, list[str]]:
    """The tab highlighted, and the titles of the panel pages actually on screen."""
    panels = window.panels
    on_screen = [panels.tabText(i) for i in range(panels.count()) if panels.widget(i).isVisible()]
    return panels.tabBar().currentIndex(), on_screen


def test_every_way_to_switch_panels_shows_the_tab_highlighted(qtbot, window, store, started_run):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    qtbot.waitExposed(window)
    window.activateWindow()
    titles = ["Watch", "History", "Compare"]
    bar = window.panels.tabBar()
    for index in (1, 2, 0, 2):  # a click on the tab
        QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
        assert _shown_panel(window) == (index, [titles[index]])
    for index in (1, 0, 2, 0):  # Ctrl+1, Ctrl+2, Ctrl+3
        QTest.keyClick(
            window, Qt.Key(Qt.Key.Key_1.value + index), Qt.KeyboardModifier.ControlModifier
        )
        assert _shown_panel(window) == (index, [titles[index]])
    panels = window.studio_panels
    window.show_panel(panels.history_page)
    assert _shown_panel(window) == (1, ["History"])
    run_id = started_run("toy.regret")
    store.finish_run(run_id, "finished")
    panels.history.refresh()
    panels.history.run_activated.emit(run_id)  # a double-click in the history
    assert _shown_panel(window) == (0, ["Watch"])
    panels.compare_runs([run_id])
    assert _shown_panel(window) == (2, ["Compare"])
    window.show_run(run_id)
    assert _shown_panel(window) == (0, ["Watch"])
    # A page shown out of turn (Watch highlighted, History on screen): Ctrl+1 puts it right.
    panels.history_page.show()
    assert _shown_panel(window) == (0, ["Watch", "History"])
    QTest.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert _shown_panel(window) == (0, ["Watch"])
