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
