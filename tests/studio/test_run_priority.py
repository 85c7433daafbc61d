"""Engines start below the window's priority: nice 10 and, on Linux, batch scheduling."""

import os
import subprocess
import sys

import pytest

from studio.queue import run_process


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX priorities")
def test_an_engine_process_runs_niced_and_in_the_batch_class():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], **run_process.DETACHED
    )
    try:
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 10
        )
        if hasattr(os, "SCHED_BATCH"):
            assert os.sched_getscheduler(child.pid) == os.SCHED_BATCH
        assert (
            os.getsid(child.pid) == child.pid
        )  # its own session: the window's signals do not reach it
    finally:
        child.kill()
        child.wait()


def _autogroup(pid) -> str | None:
    """'nice N' of the process' scheduler group, or None without autogroup."""
    try:
        enabled = open("/proc/sys/kernel/sched_autogroup_enabled").read().strip() == "1"
        text = open(f"/proc/{pid}/autogroup").read().split()
    except OSError:
        return None
    return " ".join(text[-2:]) if enabled else None


@pytest.mark.skipif(
    _autogroup("self") is None or not os.access("/proc/self/autogroup", os.W_OK),
    reason="the kernel groups no sessions (autogroup), or its niceness cannot be set here",
)
def test_an_engine_in_its_own_session_lowers_its_scheduler_group_and_no_other():
    """With autogroup, a session's processes compete as one group, whose weight their nice
    values do not change: an engine in a session of its own sets its group's niceness too.
    A process in the caller's session (the window's group) leaves the group as it is."""
    ours = _autogroup("self")
    detached = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], **run_process.DETACHED
    )
    same_session = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        preexec_fn=run_process.lower_priority,
    )
    try:
        # (preexec_fn runs before exec: by the time /proc shows python, it has run)
        assert _autogroup(detached.pid) == f"nice {run_process.ENGINE_NICENESS}"
        assert _autogroup(same_session.pid) == ours == _autogroup("self")
        assert os.getpriority(os.PRIO_PROCESS, same_session.pid) == min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + 10
        )
    finally:
        for child in (detached, same_session):
            child.kill()
            child.wait()
