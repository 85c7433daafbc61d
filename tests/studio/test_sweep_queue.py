"""The Sweeps panel reorders and cancels queued points through the engine's commands: Run
first / Run last for a sweep, the Points tab's priority and cancel. Each runs `tradeoff
priority` / `tradeoff cancel` as a QProcess child (the studio reads the store only); the
tests check the argument lists, the store after the command, and the panel read again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from engine import sweep_store
from engine.store import Store
from studio.queue import engine_command
from studio.queue.sweep_commands import SweepCommands
from studio.sweeps.browser import SweepsBrowser

ENGINE_MS = 60_000


def _sweep(name: str, values: list[float]):
    """A sweep as `engine.sweep.from_toml` gives it, over `algorithm.c` (no engine needed to
    queue it: nothing runs in these tests)."""
    spec = SimpleNamespace(to_dict=lambda: {"run": {"seeds": 1}})
    return SimpleNamespace(
        name=name,
        spec_toml="[run]\n",
        keys=["algorithm.c"],
        log_keys=[],
        points=[
            SimpleNamespace(idx=i, values={"algorithm.c": v}, spec=spec)
            for i, v in enumerate(values)
        ],
    )


@pytest.fixture
def commands_run(monkeypatch):
    """The argument lists of the engine commands the studio starts (they still run)."""
    seen: list[list[str]] = []
    real = engine_command.engine_process

    def recording(parent, *args):
        seen.append(list(args))
        return real(parent, *args)

    monkeypatch.setattr(engine_command, "engine_process", recording)
    return seen


@pytest.fixture
def browser(qtbot, store, reader):
    store.create_sweep(_sweep("first", [0.5, 1.0, 2.0]))
    store.create_sweep(_sweep("second", [3.0, 4.0]))
    widget = SweepsBrowser(reader)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.stop()


def _claim_order(store) -> list[tuple[int, int]]:
    """The order a scheduler would take the queued points in (claims them all)."""
    order = []
    while (point := sweep_store.claim_next(store.conn)) is not None:
        order.append((point["sweep_id"], point["idx"]))
    return order


def test_run_last_then_run_first_reorder_the_queue(qtbot, browser, store, commands_run):
    browser.show_sweep(1)
    assert browser.first_button.isEnabled() and browser.last_button.isEnabled()
    with qtbot.waitSignal(browser.commands.done, timeout=ENGINE_MS) as done:
        qtbot.mouseClick(browser.first_button, Qt.MouseButton.LeftButton)
    db = str(store.path)
    assert commands_run == [["priority", "--db", db, "--sweep", "1", "first", "--json"]]
    assert done.args == ["Sweep 1: runs first (3 queued points)"]
    assert browser.command_note.text() == done.args[0] and browser.command_note.isVisible()
    # one above sweep 2's priority 0; the Points tab was read again
    assert [p["priority"] for p in store.sweep(1)["points"]] == [1, 1, 1]
    qtbot.waitUntil(lambda: browser.points.table.item(0, 3).text() == "1", timeout=5000)

    browser.show_sweep(2)
    with qtbot.waitSignal(browser.commands.done, timeout=ENGINE_MS):
        qtbot.mouseClick(browser.last_button, Qt.MouseButton.LeftButton)
    assert commands_run[1] == ["priority", "--db", db, "--sweep", "2", "last", "--json"]
    assert [p["priority"] for p in store.sweep(2)["points"]] == [0, 0]  # below sweep 1's 1
    # Run first for sweep 2 now: above sweep 1's 1
    with qtbot.waitSignal(browser.commands.done, timeout=ENGINE_MS):
        qtbot.mouseClick(browser.first_button, Qt.MouseButton.LeftButton)
    assert [p["priority"] for p in store.sweep(2)["points"]] == [2, 2]
    assert _claim_order(store) == [(2, 0), (2, 1), (1, 0), (1, 1), (1, 2)]


def test_the_points_tab_sets_a_priority_and_cancels_points(qtbot, browser, store, commands_run):
    browser.show_sweep(1)
    points = browser.points
    assert browser.panel.tabs.tabText(browser.panel.tabs.count() - 1) == "Points"
    assert [points.table.item(i, 1).text() for i in range(3)] == [
        "algorithm.c=0.5",
        "algorithm.c=1.0",
        "algorithm.c=2.0",
    ]
    assert not points.set_button.isEnabled()  # nothing selected
    points.select_points([2])
    assert points.set_button.isEnabled() and points.hint.text() == "1 selected, 1 queued."
    points.priority.setValue(7)
    with qtbot.waitSignal(browser.commands.done, timeout=ENGINE_MS) as done:
        qtbot.mouseClick(points.set_button, Qt.MouseButton.LeftButton)
    db = str(store.path)
    assert commands_run == [["priority", "--db", db, "--sweep", "1", "--point", "2", "7", "--json"]]
    assert done.args == ["Sweep 1, point 2: priority 7 (1 queued point)"]
    assert [p["priority"] for p in store.sweep(1)["points"]] == [0, 0, 7]
    assert points.table.item(2, 3).text() == "7" and points.selected_idxs() == [2]
    # its place among the store's 5 queued points: first, then 1/0, 1/1, 2/0, 2/1
    assert [points.table.item(i, 4).text() for i in range(3)] == ["2 of 5", "3 of 5", "next"]

    # point 0 is running (this test is the scheduler serving the store, and claimed it):
    # cancelling 0 and 1 marks both (the worker running 0 would stop its run)
    assert sweep_store.acquire_lock(store.conn)
    sweep_store.set_priority(store.conn, 9, 1, [0])
    assert sweep_store.claim_next(store.conn)["idx"] == 0
    points.refresh()
    points.select_points([0, 1])
    assert points.hint.text() == "2 selected, 1 queued."
    with qtbot.waitSignal(browser.commands.done, timeout=ENGINE_MS) as done:
        qtbot.mouseClick(points.cancel_button, Qt.MouseButton.LeftButton)
    assert commands_run[1] == [
        "cancel",
        "--db",
        db,
        "--sweep",
        "1",
        "--point",
        "0",
        "--point",
        "1",
        "--json",
    ]
    assert done.args == ["Sweep 1, points 0, 1: 2 points cancelled"]
    stored = store.conn.execute(
        "SELECT status FROM sweep_points WHERE sweep_id=1 ORDER BY idx"
    ).fetchall()
    assert [r[0] for r in stored] == ["cancelled", "cancelled", "queued"]
    assert [points.table.item(i, 2).text() for i in range(3)] == [
        "cancelled",
        "cancelled",
        "queued",
    ]


def test_a_refused_command_shows_the_engines_error_line(qtbot, browser, store, commands_run):
    browser.show_sweep(1)
    with qtbot.waitSignal(browser.commands.failed, timeout=ENGINE_MS) as failed:
        browser.commands.set_priority(1, 4, [5])  # the sweep has points 0 to 2
    reason = f"sweep 1 has no point 5 (its points are 0 to 2) in {store.path}"
    assert failed.args == [f"Sweep 1, point 5: priority not changed: {reason}"]
    assert browser.command_note.text() == failed.args[0]
    assert "b00020" in browser.command_note.styleSheet()
    assert [p["priority"] for p in store.sweep(1)["points"]] == [0, 0, 0]


def test_run_first_is_offered_only_while_the_sweep_has_queued_points(qtbot, browser, store):
    browser.show_sweep(2)
    assert browser.first_button.isEnabled()
    store.cancel_sweep(2)
    browser.refresh()
    assert not browser.first_button.isEnabled() and not browser.last_button.isEnabled()


def test_commands_follow_the_store_the_window_opens(qtbot, tmp_path, commands_run):
    Store(tmp_path / "b.db").close()
    owner = QWidget()  # as the browser owns its commands
    qtbot.addWidget(owner)
    commands = SweepCommands(tmp_path / "a.db", owner)
    commands.set_db(tmp_path / "b.db")
    with qtbot.waitSignal(commands.failed, timeout=ENGINE_MS) as failed:
        commands.cancel(3)
    assert commands_run == [["cancel", "--db", str(tmp_path / "b.db"), "--sweep", "3", "--json"]]
    assert failed.args[0].startswith("Sweep 3: not cancelled: no sweep 3 in")


def test_a_point_given_to_a_worker_before_its_run_begins_shows_as_starting(qtbot, browser, store):
    """Claimed (status running) with no run yet: a worker builds it, or a Ray runner will
    begin it once it ends the point before; the Points tab and the progress line say
    "starting" until its run exists."""
    from studio.sweeps.data import SweepData

    assert sweep_store.acquire_lock(store.conn)  # a scheduler serves the store
    for _ in range(2):
        sweep_store.claim_next(store.conn)
    browser.show_sweep(1)
    points = browser.points
    qtbot.waitUntil(lambda: points.table.rowCount() == 3, timeout=5000)
    assert [points.table.item(i, 2).text() for i in range(3)] == [
        "starting",
        "starting",
        "queued",
    ]
    doc = store.sweep(1)
    assert SweepData.from_dict(doc).progress() == "0 of 3 points finished, 2 starting, 1 queued"
    doc["points"][0]["run_id"] = 7  # its run began
    assert (
        SweepData.from_dict(doc).progress()
        == "0 of 3 points finished, 1 running, 1 starting, 1 queued"
    )
