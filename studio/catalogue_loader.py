"""The catalogue, learned from `python -m engine list --json` in a child process.

The engine's registry imports every lab (and so torch), which the studio must not:
the child pays that import (about two seconds) while the window is already up, and
its JSON is rebuilt here with `Catalogue.from_json` (declarations only, no torch).
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QProcess, Signal

from engine.registry import Catalogue
from studio.engine_command import engine_process

STDERR_LINES_SHOWN = 15


class CatalogueLoader(QObject):
    loaded = Signal(object)  # the Catalogue
    failed = Signal(str)     # what went wrong, for the user

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: QProcess | None = None

    def start(self) -> None:
        self.process = engine_process(self, "list", "--json")
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error_occurred)
        self.process.start()

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process, self.process = self.process, None
        process.deleteLater()
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace")
        if exit_status != QProcess.ExitStatus.NormalExit or exit_code != 0:
            tail = "\n".join(err.strip().splitlines()[-STDERR_LINES_SHOWN:])
            self.failed.emit(f"`{' '.join(['python', *process.arguments()])}` exited with code {exit_code}:\n{tail}")
            return
        try:
            catalogue = Catalogue.from_json(json.loads(out))
        except (ValueError, KeyError, TypeError) as error:
            self.failed.emit(f"the engine's catalogue could not be read: {error}")
            return
        self.loaded.emit(catalogue)

    def _error_occurred(self, error: QProcess.ProcessError) -> None:
        # Only a failed start ends here without `finished`.
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            message = self.process.errorString()
            self.process.deleteLater()
            self.process = None
            self.failed.emit(f"the engine could not be started: {message}")
