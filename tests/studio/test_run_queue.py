"""The run queue: the worker limit, progress from the store, stopping, failures, adoption."""

import sys

import pytest
from PySide6.QtCore import Qt

from engine.spec import RunSpec
from studio.queue import run_process
from studio.queue.queue_view import QueueView, format_rate, format_seconds, progress_text
from studio.queue.run_queue import QueueEntry, RunQueue

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
def queue(qtbot, store, standin_engine):
    made = RunQueue(store, workers=2)
    yield made
    for entry in made.entries:
        if entry.process is not None and entry.process.popen is not None:
            entry.process.popen.kill()
            entry.process.popen.wait(10)
    made.stop_polling()
    run_process.reap_released()


def test_no_more_than_the_worker_limit_run_at_once(
    qtbot, queue, store, toy_catalogue, standin_engine
):
    most_at_once = []
    queue.counts_changed.connect(lambda: most_at_once.append(len(queue.running())))
    entries = [queue.submit(toy_spec(toy_catalogue, name), "curves") for name in ("a", "b", "c")]
    # Two workers: the first two start at once, the third waits for a free one.
    assert [e.state for e in entries] == ["starting", "starting", "queued"]
    qtbot.waitUntil(lambda: all(e.state == "running" for e in entries[:2]), timeout=ENGINE_MS)
    assert entries[2].state == "queued" and entries[2].process is None
    standin_engine.release("a")
    qtbot.waitUntil(
        lambda: entries[0].state == "finished" and entries[2].state == "running", timeout=ENGINE_MS
    )
    standin_engine.release_all()
    qtbot.waitUntil(lambda: all(e.state == "finished" for e in entries), timeout=ENGINE_MS)
    assert max(most_at_once) == 2
    # The store holds the true outcome of each, under the id the engine announced.
    rows = {row["id"]: row for row in store.list_runs()}
    assert sorted(rows) == sorted(e.run_id for e in entries)
    assert [rows[e.run_id]["status"] for e in entries] == ["finished"] * 3
    assert [rows[e.run_id]["name"] for e in entries] == ["a", "b", "c"]
    assert [e.steps_done for e in entries] == [1000, 1000, 1000]


def test_raising_the_worker_limit_starts_a_waiting_run(qtbot, queue, toy_catalogue):
    queue.set_workers(1)
    first, second = (queue.submit(toy_spec(toy_catalogue, name), "curves") for name in ("a", "b"))
    assert (first.state, second.state) == ("starting", "queued")
    queue.set_workers(2)
    assert second.state == "starting"


def test_stop_cancels_a_running_run_and_a_waiting_one_never_starts(
    qtbot, queue, store, toy_catalogue
):
    queue.set_workers(1)
    running = queue.submit(toy_spec(toy_catalogue, "long"), "curves")
    waiting = queue.submit(toy_spec(toy_catalogue, "next"), "curves")
    qtbot.waitUntil(
        lambda: running.state == "running" and running.steps_done > 0, timeout=ENGINE_MS
    )
    queue.stop(waiting)
    assert waiting.state == "cancelled" and waiting.run_id is None
    with qtbot.waitSignal(
        queue.run_ended, timeout=ENGINE_MS, check_params_cb=lambda e: e is running
    ):
        queue.stop(running)
    assert running.state == "cancelled" and running.error == ""
    row = store.get_run(running.run_id)
    assert row["status"] == "cancelled" and 0 < row["steps_done"] < 1000
    assert len(store.list_runs()) == 1  # the waiting run left no record


def test_a_failing_run_reports_its_error_line(qtbot, queue, store, toy_catalogue):
    with qtbot.waitSignal(queue.run_ended, timeout=ENGINE_MS) as ended:
        queue.submit(toy_spec(toy_catalogue, "fail-1"), "curves")
    entry = ended.args[0]
    assert entry.state == "failed" and entry.error == "ZeroDivisionError: boom"
    assert store.get_run(entry.run_id)["status"] == "failed"


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


def test_the_queue_view_shows_each_entry_and_stops_it(qtbot, queue, toy_catalogue):
    view = QueueView(queue)
    qtbot.addWidget(view)
    queue.set_workers(1)
    first = queue.submit(toy_spec(toy_catalogue, "a"), "curves")
    second = queue.submit(toy_spec(toy_catalogue, "b"), "curves")
    third = queue.submit(toy_spec(toy_catalogue, "c"), "curves")
    assert view.tree.topLevelItemCount() == 3
    assert view.bars[id(third)].format() == "waiting for a worker (1 ahead)"
    assert view.bars[id(second)].format() == "waiting for a worker"
    qtbot.waitUntil(lambda: first.state == "running", timeout=ENGINE_MS)
    assert view.items[id(first)].text(0).startswith(f"Run {first.run_id}: a")
    qtbot.mouseClick(view.stop_buttons[id(second)], Qt.MouseButton.LeftButton)
    assert second.state == "cancelled" and not view.stop_buttons[id(second)].isEnabled()
    assert view.bars[id(second)].format() == "removed from the queue before it started"
    assert view.bars[id(third)].format() == "waiting for a worker"
    assert "1 running, 1 waiting, up to 1 side by side" in view.title.text()
    queue.stop(third)


# An engine that records its run as finished and is still exiting when the user's Stop
# arrives: SIGTERM (default action) ends it, so its exit says "killed by a signal after Stop".
ENGINE_FINISHED_AS_STOP_ARRIVES = r"""
import json, sys, time
from pathlib import Path
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import Store

catalogue_file, _run, spec_path, _db_flag, db = sys.argv[1:6]
spec = RunSpec.from_file(spec_path, Catalogue.from_json(json.loads(Path(catalogue_file).read_text())))
store = Store(db)
run_id = store.create_run(spec, family="toy", plot="curves")
store.start_run(run_id, {"device": "cpu", "dtype": spec.dtype, "threads": 1})
store.append(run_id, [("loss", spec.steps, 0, 0.5, 0.1)], steps_done=spec.steps)
store.finish_run(run_id, "finished", None)
print(f"run {run_id} started: {spec.title}", file=sys.stderr, flush=True)
time.sleep(600)
"""


def test_stop_pressed_as_a_run_finishes_shows_the_stores_status(
    qtbot, queue, store, toy_catalogue, tmp_path, monkeypatch
):
    """The process ends by the Stop's signal, but the store says finished: the queue says finished."""
    script = tmp_path / "engine_finished.py"
    script.write_text(ENGINE_FINISHED_AS_STOP_ARRIVES, encoding="utf-8")
    catalogue_file = tmp_path / "standin" / "catalogue.json"
    monkeypatch.setattr(
        run_process,
        "engine_argv",
        lambda *args: [sys.executable, str(script), str(catalogue_file), *args],
    )
    view = QueueView(queue)
    qtbot.addWidget(view)
    entry = queue.submit(toy_spec(toy_catalogue, "just-done"), "curves")
    qtbot.waitUntil(lambda: entry.state == "running", timeout=ENGINE_MS)
    assert store.get_run(entry.run_id)["status"] == "finished"
    with qtbot.waitSignal(queue.run_ended, timeout=ENGINE_MS):
        assert queue.stop(entry) is None
    assert entry.stop_requested  # the Stop did reach the process...
    assert (entry.state, entry.error) == (
        "finished",
        "",
    )  # ...but the store's final status is shown
    assert view.items[id(entry)].text(1) == "finished"
    assert entry.steps_done == 1000


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
