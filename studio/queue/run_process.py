"""How the studio starts engine processes that outlive the window (the scheduler, resume).

Such an engine runs in a session of its own, its output in files rather than pipes:
closing the window (or the terminal that started it) neither kills it nor breaks its
output, so work the user lets "finish in the background" does finish and records its
true status in the store. `QProcess` cannot give that: it kills its child when it is
destroyed, and its pipes would break when the window goes. Engines run at a lower
priority than the window (`lower_priority`).
"""

from __future__ import annotations

import os
import subprocess
import sys

from studio.queue import engine_command

ENGINE_NICENESS = 10


def lower_priority() -> None:
    """Make the calling process (an engine, just forked) yield the CPU to the window.

    Engines run at a lower priority than the window, so that on a small machine the window
    stays fluid while they compute: nice 10, and on Linux the batch scheduling class, which
    tells the scheduler they are CPU-bound and lets a waking window preempt them
    (measured in bench/plots.py, rows "engine processes at nice 10").

    A process in a session of its own (`DETACHED`) is, where Linux groups the processes of
    each session for the scheduler ("autogroup", on by default on most desktops), in a
    group that competes with the window's group as an equal whatever its processes' nice
    values: the nice value orders only the processes inside a group. Its group is given the
    same niceness (`/proc/self/autogroup`), so the window gets the CPU before the engines
    there too. A process in the caller's session leaves that group, which is the window's
    own, as it is.
    """
    os.nice(ENGINE_NICENESS)
    if hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass  # not permitted here: nice alone still applies
    if hasattr(os, "getsid") and os.getsid(0) == os.getpid():
        try:
            with open("/proc/self/autogroup", "w") as group:
                group.write(str(ENGINE_NICENESS))
        except OSError:
            pass  # no autogroup here (another OS, or the kernel's grouping off)


if sys.platform == "win32":
    DETACHED = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
else:
    DETACHED = {"start_new_session": True, "preexec_fn": lower_priority}


def engine_argv(*args: str) -> list[str]:
    """`python -m engine ARGS`; tests replace it with a stand-in engine."""
    return engine_command.engine_argv(*args)
