"""The run queue, a view of the engine's queue in the store: runs queued by `tradeoff
submit`, served by the scheduler's workers (the worker limit), progress from the store,
stopping, failures, a queue that outlives the window, adoption of runs started elsewhere."""

import pytest
from PySide6.QtCore import Qt

from engine import sweep_store
from engine.spec import RunSpec
from engine.store import StoreReader
from studio.queue.queue_view import QueueView, format_rate, format_seconds, progress_text
from studio.queue.run_queue import QueueEntry, RunQueue
from tests.studio.conftest import stop_schedulers

ENGINE_MS = 30_000


def toy_spec(catalogue, name, steps=1000):
    return RunSpec.from_dict(
        {
            "run": {"name": name, "steps": steps},
            "algorithm": {"id": "toy.every_type"},
            "problem": {"id": "toy.quadratic"},
            "hardware": {"device": "cpu"},
        },
        catalogue,
    )


@pytest.fixture
def queue(qtbot, store, reader, standin_engine):
    made = RunQueue(reader, workers=2)
    yield made
    made.stop_polling()
    stop_schedulers(made)


def test_a_run_pressed_is_a_queued_point_in_the_store_before_any_engine_runs_it(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    standin_engine.hold_scheduler()
    view = QueueView(queue)
    qtbot.addWidget(view)
    entry = queue.submit(toy_spec(toy_catalogue, "a"), "curves")
    assert entry.state == "submitting" and entry in queue.waiting()
    qtbot.waitUntil(lambda: entry.state == "queued", timeout=ENGINE_MS)
    # The engine queued it: a one-point sweep that sweeps no key, and no run yet.
    (point,) = sweep_store.run_points(store.conn)
    assert (point["sweep_id"], point["status"], point["run_id"]) == (entry.sweep_id, "queued", None)
    assert point["spec"]["run"]["name"] == "a"
    assert store.sweep(entry.sweep_id)["keys"] == [] and store.list_runs() == []
    assert (entry.position, entry.priority) == (1, 0)
    assert view.bars[id(entry)].format() == "next in the queue · priority 0"
    standin_engine.let_scheduler_go()
    with qtbot.waitSignal(queue.run_started, timeout=ENGINE_MS) as started:
        pass
    assert started.args[0] is entry and entry.state == "running"
    assert store.get_run(entry.run_id)["name"] == "a"
    standin_engine.release("a")
    qtbot.waitUntil(lambda: entry.state == "finished", timeout=ENGINE_MS)
    assert entry.steps_done == 1000 and entry.error == ""
    assert store.sweep(entry.sweep_id)["points"][0]["status"] == "finished"


def test_no_more_than_the_worker_limit_run_at_once(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    most_at_once = []
    queue.counts_changed.connect(lambda: most_at_once.append(len(queue.running())))
    entries = []
    for name in ("a", "b", "c"):
        entries.append(queue.submit(toy_spec(toy_catalogue, name), "curves"))
        # One after the other, so that the store's queue has them in this order.
        qtbot.waitUntil(lambda: entries[-1].sweep_id is not None, timeout=ENGINE_MS)
    # Two workers: two run, the third waits for a free one, next in the store's queue.
    qtbot.waitUntil(lambda: all(e.state == "running" for e in entries[:2]), timeout=ENGINE_MS)
    assert (entries[2].state, entries[2].position, entries[2].run_id) == ("queued", 1, None)
    standin_engine.release("a")
    qtbot.waitUntil(
        lambda: entries[0].state == "finished" and entries[2].state == "running", timeout=ENGINE_MS
    )
    standin_engine.release_all()
    qtbot.waitUntil(lambda: all(e.state == "finished" for e in entries), timeout=ENGINE_MS)
    assert max(most_at_once) == 2
    # The store holds the true outcome of each, under the id the engine gave it.
    rows = {row["id"]: row for row in store.list_runs()}
    assert sorted(rows) == sorted(e.run_id for e in entries)
    assert [rows[e.run_id]["status"] for e in entries] == ["finished"] * 3
    assert [rows[e.run_id]["name"] for e in entries] == ["a", "b", "c"]
    assert [e.steps_done for e in entries] == [1000, 1000, 1000]


def test_a_queued_runs_place_follows_the_stores_priorities(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    standin_engine.hold_scheduler()
    first = queue.submit(toy_spec(toy_catalogue, "a"), "curves")
    qtbot.waitUntil(lambda: first.state == "queued", timeout=ENGINE_MS)
    second = queue.submit(toy_spec(toy_catalogue, "b"), "curves")
    qtbot.waitUntil(lambda: second.state == "queued", timeout=ENGINE_MS)
    assert (first.position, second.position) == (1, 2)
    # `tradeoff priority --sweep ID first`, as another process would write it.
    sweep_store.set_priority(store.conn, "first", sweep_id=second.sweep_id)
    qtbot.waitUntil(lambda: (first.position, second.position) == (2, 1), timeout=ENGINE_MS)
    assert (first.priority, second.priority) == (0, 1)


def test_stop_cancels_a_queued_run_and_a_running_one(qtbot, queue, store, toy_catalogue):
    queue.set_workers(1)
    running = queue.submit(toy_spec(toy_catalogue, "long"), "curves")
    qtbot.waitUntil(lambda: running.sweep_id is not None, timeout=ENGINE_MS)
    waiting = queue.submit(toy_spec(toy_catalogue, "next"), "curves")
    qtbot.waitUntil(
        lambda: running.state == "running" and running.steps_done > 0 and waiting.position == 1,
        timeout=ENGINE_MS,
    )
    with qtbot.waitSignal(
        queue.run_ended, timeout=ENGINE_MS, check_params_cb=lambda e: e is waiting
    ):
        assert queue.stop(waiting) is None
    assert (waiting.state, waiting.run_id) == ("cancelled", None)
    assert waiting.error == "removed from the queue before it started"
    assert store.sweep(waiting.sweep_id)["points"][0]["status"] == "cancelled"
    with qtbot.waitSignal(
        queue.run_ended, timeout=ENGINE_MS, check_params_cb=lambda e: e is running
    ):
        assert queue.stop(running) is None
    assert running.state == "cancelled" and running.error == ""
    row = store.get_run(running.run_id)
    assert row["status"] == "cancelled" and 0 < row["steps_done"] < 1000
    assert len(store.list_runs()) == 1  # the queued run left no run


def test_a_failing_run_reports_its_error_line(qtbot, queue, store, toy_catalogue):
    with qtbot.waitSignal(queue.run_ended, timeout=ENGINE_MS) as ended:
        queue.submit(toy_spec(toy_catalogue, "fail-1"), "curves")
    entry = ended.args[0]
    assert entry.state == "failed" and entry.error == "ZeroDivisionError: boom"
    assert store.get_run(entry.run_id)["status"] == "failed"


def test_a_run_the_engine_refuses_to_queue_says_why(qtbot, queue, store, toy_catalogue):
    with qtbot.waitSignal(queue.run_ended, timeout=ENGINE_MS) as ended:
        queue.submit(toy_spec(toy_catalogue, "bad-1"), "curves")
    entry = ended.args[0]
    assert entry.state == "failed" and entry.sweep_id is None
    assert (
        entry.error.startswith("not queued: ") and "refused by the stand-in engine" in entry.error
    )
    assert store.sweeps() == [] and store.list_runs() == []


def test_a_scheduler_that_refuses_to_start_is_reported_and_the_run_waits(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    standin_engine.refuse_scheduler()
    said = []
    queue.problem.connect(said.append)
    entry = queue.submit(toy_spec(toy_catalogue, "a"), "curves")
    qtbot.waitUntil(lambda: entry.state == "queued" and bool(entry.error), timeout=ENGINE_MS)
    reason = "2 workers x 2 torch threads = 4 threads on 2 cores"
    assert said and said[-1].startswith("the engine's scheduler did not start: " + reason)
    assert entry.error.startswith("no scheduler serves the queue: " + reason)
    view = QueueView(queue)
    qtbot.addWidget(view)
    assert view.bars[id(entry)].format() == entry.error
    # The next Run starts a scheduler again; this one starts, and serves both.
    standin_engine.refuse_scheduler(False)
    standin_engine.release_all()
    queue.submit(toy_spec(toy_catalogue, "b"), "curves")
    qtbot.waitUntil(lambda: entry.state == "finished", timeout=ENGINE_MS)


def test_a_queued_run_outlives_the_window_and_runs_in_the_next(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    """The queue is the store's: a new queue over the same store (a restarted studio) shows
    the run still queued, starts a scheduler since none serves the store, and it runs."""
    standin_engine.hold_scheduler()
    entry = queue.submit(toy_spec(toy_catalogue, "kept", steps=300), "curves")
    qtbot.waitUntil(lambda: entry.state == "queued", timeout=ENGINE_MS)
    assert queue.release_all() == 0
    stop_schedulers(queue)  # the scheduler went too (the machine restarted, say)
    standin_engine.let_scheduler_go()
    with StoreReader(store.path) as again:
        later = RunQueue(again, workers=1)
        try:
            assert later.entries == []  # nothing is read before the window asks
            later.refresh()
            (shown,) = later.entries
            assert (shown.title, shown.state, shown.steps, shown.sweep_id) == (
                "kept",
                "queued",
                300,
                entry.sweep_id,
            )
            assert shown in later.in_flight() and later._schedulers
            with qtbot.waitSignal(later.run_started, timeout=ENGINE_MS):
                pass
            assert shown.state == "running" and shown.plot_kind == "curves"
            standin_engine.release("kept")
            qtbot.waitUntil(lambda: shown.state == "finished", timeout=ENGINE_MS)
            assert store.get_run(shown.run_id)["status"] == "finished"
        finally:
            later.stop_polling()
            stop_schedulers(later)


def test_a_run_started_elsewhere_is_adopted_and_followed_to_its_end(
    qtbot, queue, store, started_run
):
    run_id = started_run(
        "toy.regret", seeds=2, steps=500
    )  # as the CLI would, from this (live) process
    store.heartbeat(run_id, 120)
    adopted = queue.adopt_live_runs()
    assert [e.run_id for e in adopted] == [run_id]
    entry = adopted[0]
    assert (entry.adopted, entry.state, entry.steps_done, entry.steps, entry.plot_kind) == (
        True,
        "running",
        120,
        500,
        "regret",
    )
    assert queue.adopt_live_runs() == []  # once only
    store.finish_run(run_id, "failed", "Traceback ...\nValueError: bad arm")
    qtbot.waitUntil(lambda: entry.state == "failed", timeout=ENGINE_MS)
    assert entry.error == "ValueError: bad arm"


def test_a_run_its_worker_is_slow_to_name_is_not_taken_for_one_started_elsewhere(
    queue, store, toy_catalogue
):
    """A worker records its run, then names it as its point's. A worker starved of CPU (at
    the engines' lower priority, on a busy machine) can take longer than NAMING_SECONDS
    between the two: while the point is taken, its unnamed run is not adopted as a run
    started elsewhere (the queue showed it twice), however old; once named, it is ours."""
    assert sweep_store.acquire_lock(store.conn)  # this test is the store's scheduler
    try:
        sweep_id = sweep_store.create_run_point(store.conn, toy_spec(toy_catalogue, "slow"))
        queue.poll()
        [entry] = queue.entries
        assert entry.state == "queued"
        point = sweep_store.claim_next(store.conn)
        assert point["sweep_id"] == sweep_id
        queue.poll()
        assert entry.state == "starting"
        spec = RunSpec.from_dict(point["spec"], toy_catalogue)
        run_id = store.create_run(spec, family="toy", plot="curves")
        with store.conn:  # recorded a minute ago, still not named
            store.conn.execute("UPDATE runs SET created_at = created_at - 60 WHERE id=?", (run_id,))
        assert queue.adopt_live_runs() == []
        queue.poll()
        assert queue.entries == [entry] and entry.run_id is None
        sweep_store.set_point_run(store.conn, sweep_id, 0, run_id)
        store.start_run(run_id, {"device": "cpu", "dtype": "float32", "threads": 1})
        queue.poll()
        assert (entry.run_id, entry.state) == (run_id, "running")
        assert queue.adopt_live_runs() == [] and queue.entries == [entry]
    finally:
        sweep_store.release_lock(store.conn)


def test_rate_and_time_left_come_from_the_store_samples():
    """Steps done at two reads 2 s apart: (1000 - 0) / 2 = 500 steps/s; 2000 left -> 4 s."""
    entry = QueueEntry(
        title="t", plot_kind="curves", steps=3000, seeds=1, state="running", run_id=1
    )
    entry.samples.extend([(100.0, 0), (101.0, 400), (102.0, 1000)])
    entry.steps_done = 1000
    assert entry.rate() == pytest.approx(500.0)
    assert entry.seconds_left() == pytest.approx(4.0)
    assert progress_text(entry) == "1,000 / 3,000 steps · 500 steps/s · 4 s left"
    entry.state, entry.position, entry.priority = "queued", 3, -2
    assert progress_text(entry) == "3 in the queue · priority -2"
    entry.state = "running"
    # Older samples than the window are not used: the rate is the recent one.
    entry.samples.clear()
    entry.samples.extend([(0.0, 0), (100.0, 1000), (104.0, 1400)])
    entry.steps_done = 1400
    assert entry.rate() == pytest.approx(100.0)


def test_durations_and_rates_read_as_a_person_writes_them():
    assert [format_seconds(s) for s in (0, 4.4, 59, 60, 125, 3599, 3780)] == [
        "0 s",
        "4 s",
        "59 s",
        "1 min 00 s",
        "2 min 05 s",
        "59 min 59 s",
        "1 h 03 min",
    ]
    assert [format_rate(r) for r in (12_345.6, 2.25, 0.5)] == [
        "12,346 steps/s",
        "2.2 steps/s",
        "2.0 s/step",
    ]


def test_the_queue_view_shows_each_entry_and_stops_it(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    view = QueueView(queue)
    qtbot.addWidget(view)
    queue.set_workers(1)
    entries = []
    for name in ("a", "b", "c"):
        entries.append(queue.submit(toy_spec(toy_catalogue, name), "curves"))
        qtbot.waitUntil(lambda: entries[-1].sweep_id is not None, timeout=ENGINE_MS)
    first, second, third = entries
    assert view.tree.topLevelItemCount() == 3
    qtbot.waitUntil(lambda: first.state == "running" and third.position == 2, timeout=ENGINE_MS)
    assert view.items[id(first)].text(0).startswith(f"Run {first.run_id}: a")
    assert view.bars[id(second)].format() == "next in the queue · priority 0"
    assert view.bars[id(third)].format() == "2 in the queue · priority 0"
    assert "1 running, 2 waiting, up to 1 side by side" in view.title.text()
    qtbot.mouseClick(view.stop_buttons[id(second)], Qt.MouseButton.LeftButton)
    assert second.stop_requested and not view.stop_buttons[id(second)].isEnabled()
    qtbot.waitUntil(lambda: second.state == "cancelled", timeout=ENGINE_MS)
    assert view.items[id(second)].text(1) == "cancelled"
    assert view.bars[id(second)].format() == "removed from the queue before it started"
    qtbot.waitUntil(lambda: third.position == 1, timeout=ENGINE_MS)
    assert view.bars[id(third)].format() == "next in the queue · priority 0"
    assert "1 running, 1 waiting, up to 1 side by side" in view.title.text()


def test_clearing_finished_runs_selects_none_of_them(qtbot, queue, store, started_run):
    """Qt moves the current row to a neighbour as rows go; "Clear finished" must not take
    that for the user picking a run (the window would open it in Watch)."""
    view = QueueView(queue)
    qtbot.addWidget(view)
    run_ids = [started_run("toy.regret", seeds=1, steps=10) for _ in range(3)]
    entries = queue.adopt_live_runs()
    for run_id in run_ids:
        store.finish_run(run_id, "finished")
    qtbot.waitUntil(lambda: all(e.state == "finished" for e in entries), timeout=ENGINE_MS)
    view.select(entries[0])
    picked = []
    view.entry_selected.connect(picked.append)
    queue.clear_finished()
    assert view.tree.topLevelItemCount() == 0
    assert picked == []


def test_stopping_a_sweeps_run_cancels_that_point_through_the_scheduler(
    qtbot, queue, store, started_run, monkeypatch
):
    """A sweep's run shares its engine process (a pool worker, a Ray driver) with other
    points: Stop asks `tradeoff cancel --run ID`, never signals that process."""
    run_id = started_run("toy.regret", seeds=2, steps=500)
    store.conn.execute(
        "INSERT INTO sweeps(name, spec_toml, keys_json, log_keys_json, created_at, status) "
        "VALUES ('s', '', '[]', '[]', 0, 'running')"
    )
    store.conn.execute(
        "INSERT INTO sweep_points(sweep_id, idx, values_json, spec_json, run_id, status) "
        "VALUES (1, 0, '{}', '{}', ?, 'running')",
        (run_id,),
    )
    store.conn.commit()
    started, killed = [], []

    class Process:
        def __init__(self, args):
            self.args = args
            from PySide6.QtCore import QObject, Signal

            class Finished(QObject):
                finished = Signal()

            self._signals = Finished()
            self.finished = self._signals.finished

        def start(self):
            started.append(self.args)

        def deleteLater(self):
            pass

    from studio.queue import engine_command
    from studio.queue import run_queue as run_queue_module

    monkeypatch.setattr(engine_command, "engine_process", lambda _parent, *a: Process(a))
    monkeypatch.setattr(run_queue_module.os, "kill", lambda pid, sig: killed.append(pid))
    (entry,) = queue.adopt_live_runs()
    assert queue.stop(entry) is None
    assert started == [("cancel", "--db", str(store.path), "--run", str(run_id), "--json")]
    assert killed == [] and entry.stop_requested


def test_the_sweeps_panel_leaves_runs_queued_alone_to_the_queue(
    qtbot, store, reader, toy_catalogue
):
    """A run queued alone is a one-point sweep that sweeps no key: the run queue shows it,
    the Sweeps panel lists only the real sweep."""
    from engine.sweep import from_toml
    from studio.sweeps.browser import SweepsBrowser

    alone = sweep_store.create_run_point(store.conn, toy_spec(toy_catalogue, "alone"))
    sweep = from_toml(
        toy_spec(toy_catalogue, "grid").to_toml() + '\n[sweep.grid]\n"algorithm.n" = [1, 2]\n',
        toy_catalogue,
    )
    swept = store.create_sweep(sweep)
    browser = SweepsBrowser(reader)
    qtbot.addWidget(browser)
    browser.refresh()
    assert [r["id"] for r in browser.rows] == [swept] and alone != swept
    assert browser.table.rowCount() == 1
    assert sorted(r["id"] for r in reader.sweeps()) == sorted([alone, swept])  # both stored


def test_a_warmed_queue_has_a_scheduler_waiting_and_the_first_run_goes_to_it(
    qtbot, queue, store, toy_catalogue
):
    """`warm` starts a scheduler with nothing queued (it lingers with its workers ready);
    the next Run joins its queue: no scheduler is started beside the submit, and the run
    is served by the one warmed."""
    assert queue.warm()
    qtbot.waitUntil(lambda: sweep_store.scheduler(store.conn) is not None, timeout=ENGINE_MS)
    warm_pid = sweep_store.scheduler(store.conn)["pid"]
    assert [popen.pid for popen, _ in queue._schedulers] == [warm_pid]
    assert not queue.warm()  # one serves the store: no second one
    entry = queue.submit(toy_spec(toy_catalogue, "warm"), "curves")
    with qtbot.waitSignal(queue.run_started, timeout=ENGINE_MS):
        pass
    assert sweep_store.scheduler(store.conn)["pid"] == warm_pid
    assert store.get_run(entry.run_id)["name"] == "warm"


def test_the_sweeps_panel_says_no_sweeps_only_while_there_are_none(
    qtbot, store, reader, toy_catalogue
):
    """With no sweep, how to make one; with one listed and none opened, to click it."""
    from engine.sweep import from_toml
    from studio.sweeps.browser import CHOOSE_A_SWEEP, NO_SWEEPS, SweepsBrowser

    browser = SweepsBrowser(reader)
    qtbot.addWidget(browser)
    browser.refresh()
    assert browser.empty.text() == NO_SWEEPS
    sweep = from_toml(
        toy_spec(toy_catalogue, "grid").to_toml() + '\n[sweep.grid]\n"algorithm.n" = [1, 2]\n',
        toy_catalogue,
    )
    store.create_sweep(sweep)
    browser.refresh()
    assert browser.empty.text() == CHOOSE_A_SWEEP


def test_idle_schedulers_started_here_stop_for_a_sweep_sent_elsewhere(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    """A scheduler warmed ahead of a Run and serving nothing is stopped (the store's lock
    free again, no problem reported); one serving a run is not."""
    said = []
    queue.problem.connect(said.append)
    assert queue.warm()
    qtbot.waitUntil(lambda: sweep_store.scheduler(store.conn) is not None, timeout=ENGINE_MS)
    assert queue.stop_idle_schedulers() == 1
    assert queue._schedulers == [] and sweep_store.scheduler(store.conn) is None
    entry = queue.submit(toy_spec(toy_catalogue, "busy"), "curves")
    with qtbot.waitSignal(queue.run_started, timeout=ENGINE_MS):
        pass
    assert queue.stop_idle_schedulers() == 0  # a run goes on: its scheduler stays
    assert sweep_store.scheduler(store.conn) is not None
    standin_engine.release("busy")
    qtbot.waitUntil(lambda: entry.state == "finished", timeout=ENGINE_MS)
    queue.poll()
    assert said == []
