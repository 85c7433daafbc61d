"""One engine run as a child process: `python -m engine run SPEC --db DB`.

The spec goes through a temporary TOML file, exactly what a CLI user would write.
Nothing here waits on the process: its stderr and its end arrive as Qt signals. The
run id comes from the engine's first stderr line ("run N started: ..."), the outcome
from its exit code (0 finished, 1 failed, 2 bad input, 3 cancelled). Stop sends
SIGTERM, which the engine turns into a clean "cancelled".
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from PySide6.QtCore import QObject, QProcess, Signal

from engine.spec import RunSpec
from studio.engine_command import engine_process

STARTED_LINE = re.compile(r"^run (\d+) started")
ERROR_PREFIX = "error: "
STATUS_OF_EXIT_CODE = {0: "finished", 1: "failed", 2: "failed", 3: "cancelled"}


class RunProcess(QObject):
    run_started = Signal(int)        # the run id in the store
    run_ended = Signal(str, str)     # status (finished, failed, cancelled) and the error line or ""

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = str(db_path)
        self.process: QProcess | None = None
        self.run_id: int | None = None
        self._spec_path: str | None = None
        self._stderr_tail = ""
        self._error_line = ""
        self._last_line = ""
        self._stop_requested = False

    def is_running(self) -> bool:
        return self.process is not None

    def start(self, spec: RunSpec) -> None:
        if self.process is not None:
            raise RuntimeError("a run is already in progress")
        handle, self._spec_path = tempfile.mkstemp(prefix="tradeoff-run-", suffix=".toml")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(spec.to_toml())
        self.run_id = None
        self._stderr_tail = self._error_line = self._last_line = ""
        self._stop_requested = False
        self.process = engine_process(self, "run", self._spec_path, "--db", self.db_path)
        # stdout carries only the closing summary line; the store has it all.
        self.process.setStandardOutputFile(QProcess.nullDevice())
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error_occurred)
        self.process.start()

    def stop(self) -> None:
        """Ask the engine to cancel (SIGTERM); the end still arrives through `run_ended`."""
        if self.process is None:
            return
        self._stop_requested = True
        if sys.platform == "win32":
            # terminate() there only posts WM_CLOSE, which a console process never sees;
            # the run is then killed and the store marks it interrupted.
            self.process.kill()
        else:
            self.process.terminate()

    def _read_stderr(self) -> None:
        text = self._stderr_tail + bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        *lines, self._stderr_tail = text.split("\n")
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
            self._error_line = line[len(ERROR_PREFIX):]

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stderr()
        self._take_line(self._stderr_tail)
        self._stderr_tail = ""
        if exit_status == QProcess.ExitStatus.CrashExit:
            # SIGTERM before the engine installed its handler (still importing torch)
            # ends the process by the signal: the user's Stop, not a failure.
            status = "cancelled" if self._stop_requested else "failed"
            error = "" if self._stop_requested else f"the engine process crashed ({self._last_line or 'no output'})"
        else:
            status = STATUS_OF_EXIT_CODE.get(exit_code, "failed")
            error = self._error_line or (self._last_line if status == "failed" else "")
        self._end(status, error)

    def _error_occurred(self, error: QProcess.ProcessError) -> None:
        # Only a failed start ends here without `finished`; crashes also emit `finished`.
        if error == QProcess.ProcessError.FailedToStart:
            self._end("failed", f"the engine could not be started: {self.process.errorString()}")

    def _end(self, status: str, error: str) -> None:
        process, self.process = self.process, None
        process.deleteLater()
        if self._spec_path:
            try:
                os.unlink(self._spec_path)
            except OSError:
                pass
            self._spec_path = None
        self.run_ended.emit(status, error)
