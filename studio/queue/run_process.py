"""One engine run as a process that can outlive the window: `python -m engine run SPEC --json`.

The spec goes through a TOML file, exactly what a CLI user would write. The engine's
output goes to files, not pipes, and it runs in a session of its own: closing the
window (or the terminal that started it) neither kills it nor breaks its output, so
a run the user lets "finish in the background" does finish and records its true
status in the store. `QProcess` cannot give that: it kills its child when it is
destroyed, and its pipes would break when the window goes.

Nothing here waits on the process. A timer reads the new lines of its stderr file
(the run id arrives as "run N started: ...") and asks, without blocking, whether it
has exited; the outcome comes from its exit code (0 finished, 1 failed, 2 bad input,
3 cancelled, 4 its run was deleted or marked interrupted while it ran) and the closing
JSON line on its stdout. Stop sends SIGTERM, which the
engine turns into a clean "cancelled".
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from engine.spec import RunSpec
from studio.queue import engine_command

STARTED_LINE = re.compile(r"^run (\d+) started")
ERROR_PREFIX = "error: "
STATUS_OF_EXIT_CODE = {0: "finished", 1: "failed", 2: "failed", 3: "cancelled", 4: "interrupted"}
POLL_MS = 200

ENGINE_NICENESS = 10


def lower_priority() -> None:
    """Make the calling process (an engine, just forked) yield the CPU to the window.

    Engines run at a lower priority than the window, so that on a small machine the window
    stays fluid while they compute: nice 10, and on Linux the batch scheduling class, which
    tells the scheduler they are CPU-bound and lets a waking window preempt them
    (measured in bench/plots.py, rows "engine processes at nice 10").
    """
    os.nice(ENGINE_NICENESS)
    if hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass  # not permitted here: nice alone still applies


if sys.platform == "win32":
    DETACHED = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
else:
    DETACHED = {"start_new_session": True, "preexec_fn": lower_priority}

# Engines released to finish alone, with their output folders; kept so that they are
# reaped (never left as zombies) and their folders removed once they end while the
# studio is still up.
_released: list[tuple[subprocess.Popen, Path]] = []


def reap_released() -> None:
    still_going = []
    for popen, workdir in _released:
        if popen.poll() is None:
            still_going.append((popen, workdir))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    _released[:] = still_going


def engine_argv(*args: str) -> list[str]:
    """`python -m engine ARGS`; tests replace it with a stand-in engine."""
    return engine_command.engine_argv(*args)


class RunProcess(QObject):
    run_started = Signal(int)  # the run id in the store
    run_ended = Signal(str, str)  # status (finished, failed, cancelled) and the error line or ""

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = str(db_path)
        self.popen: subprocess.Popen | None = None
        self.run_id: int | None = None
        self.workdir: Path | None = None
        self._stderr_offset = 0
        self._stderr_tail = ""
        self._error_line = ""
        self._last_line = ""
        self._stop_requested = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def is_running(self) -> bool:
        return self.popen is not None

    def start(self, spec: RunSpec) -> None:
        if self.popen is not None:
            raise RuntimeError("a run is already in progress")
        reap_released()
        self.workdir = Path(tempfile.mkdtemp(prefix="tradeoff-run-"))
        spec_path = self.workdir / "spec.toml"
        spec_path.write_text(spec.to_toml(), encoding="utf-8")
        self.run_id = None
        self._stderr_offset = 0
        self._stderr_tail = self._error_line = self._last_line = ""
        self._stop_requested = False
        argv = engine_argv("run", str(spec_path), "--db", self.db_path, "--json")
        try:
            with (
                open(self.workdir / "stdout.txt", "wb") as out,
                open(self.workdir / "stderr.txt", "wb") as err,
            ):
                self.popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=engine_command.engine_environment(),
                    **DETACHED,
                )
        except OSError as error:
            message = f"the engine could not be started: {error}"
            # Reported from the event loop, as every other end is, never from inside start().
            QTimer.singleShot(0, lambda: self._end("failed", message))
            return
        self._timer.start()

    def stop(self) -> None:
        """Ask the engine to cancel (SIGTERM); the end still arrives through `run_ended`.

        On Windows this is TerminateProcess (a console process never sees a posted
        close); the run is then marked interrupted by the store's next reader.
        """
        if self.popen is None or self.popen.poll() is not None:
            return
        self._stop_requested = True
        self.popen.send_signal(signal.SIGTERM)

    def release(self) -> None:
        """Stop watching: the engine goes on alone and writes its outcome to the store.

        Its output folder stays where it is, since the engine still writes to it.
        """
        self._timer.stop()
        if self.popen is not None:
            _released.append((self.popen, self.workdir))
        self.popen = None
        self.workdir = None

    def poll(self) -> None:
        if self.popen is None:
            return
        self._read_stderr()
        exit_code = self.popen.poll()
        if exit_code is None:
            return
        self._take_line(self._stderr_tail)
        self._stderr_tail = ""
        self._end(*self._outcome(exit_code))

    def _read_stderr(self) -> None:
        try:
            with open(self.workdir / "stderr.txt", "rb") as err:
                err.seek(self._stderr_offset)
                data = err.read()
        except OSError:
            return
        self._stderr_offset += len(data)
        *lines, self._stderr_tail = (self._stderr_tail + data.decode("utf-8", "replace")).split(
            "\n"
        )
        for line in lines:
            self._take_line(line.rstrip("\r"))

    def _take_line(self, line: str) -> None:
        if not line.strip():
            return
        self._last_line = line
        match = STARTED_LINE.match(line)
        if match and self.run_id is None:
            self.run_id = int(match.group(1))
            self.run_started.emit(self.run_id)
        elif line.startswith(ERROR_PREFIX):
            self._error_line = line[len(ERROR_PREFIX) :]

    def _result(self) -> dict:
        """The engine's closing JSON line ({"run_id", "status", "error", ...}), or {}."""
        try:
            text = (self.workdir / "stdout.txt").read_text(encoding="utf-8", errors="replace")
            result = json.loads(text.strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            return {}
        return result if isinstance(result, dict) else {}

    def _outcome(self, exit_code: int) -> tuple[str, str]:
        if exit_code < 0:
            # Ended by a signal: SIGTERM before the engine installed its handler (still
            # importing torch) is the user's Stop, not a failure.
            if self._stop_requested:
                return "cancelled", ""
            return (
                "failed",
                f"the engine process was killed by signal {-exit_code} ({self._last_line or 'no output'})",
            )
        status = STATUS_OF_EXIT_CODE.get(exit_code, "failed")
        if status in ("finished", "cancelled"):
            return status, ""
        error = self._result().get("error") or self._error_line or self._last_line
        return status, error or f"the engine exited with code {exit_code} and no message"

    def _end(self, status: str, error: str) -> None:
        self._timer.stop()
        self.popen = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self.run_ended.emit(status, error)
