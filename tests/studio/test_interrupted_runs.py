"""A run whose engine is paused stays running in the studio; one whose engine ended is
reported as interrupted with what is known, never with an empty reason."""

import subprocess
import sys
import time

ENGINE_MS = 30_000


def _clock(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def test_a_paused_engine_stays_running_and_an_ended_one_is_reported_with_its_reason(
    qtbot, make_window, toy_catalogue, store, started_run
):
    run_id = started_run("toy.regret", seeds=2, steps=400)  # its engine: this (live) process
    store.heartbeat(run_id, 100)
    store.conn.execute("UPDATE heartbeats SET beat_at = beat_at - 600 WHERE run_id=?", (run_id,))
    beat = store.get_run(run_id)["beat_at"]
    win = make_window(toy_catalogue)
    entry = win.queue.entry_for(run_id)
    assert entry is not None and entry.state == "running"
    win.queue.poll()
    assert (
        entry.state == "running"
    )  # ten minutes without a heartbeat, but its process is alive: paused
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a process that has ended, standing for the engine
    store.conn.execute("UPDATE runs SET pid=? WHERE id=?", (child.pid, run_id))
    qtbot.waitUntil(lambda: entry.state == "interrupted", timeout=ENGINE_MS)
    reason = (
        f"the engine process (pid {child.pid}) ended without finishing (killed or crashed); "
        f"last heartbeat at {_clock(beat)} (step 100)"
    )
    assert entry.error == reason
    assert win.statusBar().currentMessage() == f"Run {run_id} interrupted: {reason}"
