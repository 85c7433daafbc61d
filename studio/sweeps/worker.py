"""Work of the Sweeps panel's threads (the sweep's reads, the tests between groups), kept
from holding up the GUI thread.

A Python thread that computes holds the GIL, and the GUI thread, which lets the GIL go at
nearly every Qt call, waits up to the interpreter's switch interval (5 ms) to get it back
each time: a tick of a hundred Qt calls then takes half a second with little CPU of its
own (bench/sweep_stall.py; the "convoy" of a busy thread and a responsive one). While any
such work runs, `yielding_gil()` shortens the switch interval to SWITCH_S, so the GUI
thread gets the GIL back within that; the interval is restored when the last one ends.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

SWITCH_S = 0.0005

_lock = threading.Lock()
_active = 0
_saved = 0.005


@contextmanager
def yielding_gil():
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_S, _saved))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                sys.setswitchinterval(_saved)


def run_yielding(function, *args):
    """`function(*args)` under `yielding_gil()`: what a worker thread submits."""
    with yielding_gil():
        return function(*args)
