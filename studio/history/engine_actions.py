"""Changes to stored runs (tags, notes, delete) made by engine commands in child processes.

The studio only reads the store; `tradeoff tag`, `tradeoff note` and `tradeoff delete`
write it. Commands run one at a time, in the order asked; each ends with `done`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QProcess, Signal

from studio.queue.engine_command import engine_process

ERROR_PREFIX = "error: "


def tag_arguments(run_id: int, old: list[str], new: list[str]) -> list[str] | None:
    """`tag` arguments turning tags `old` into `new`; None when nothing changes."""
    added = [t for t in new if t not in old]
    removed = [t for t in old if t not in new]
    if not added and not removed:
        return None
    args = ["tag", str(run_id)]
    for tag in added:
        args += ["--add", tag]
    for tag in removed:
        args += ["--remove", tag]
    return args


def note_arguments(run_id: int, text: str) -> list[str]:
    # After "--" the text is positional even when it starts with "-".
    return ["note", str(run_id), "--", text]


def delete_arguments(run_ids) -> list[str]:
    return ["delete", *map(str, run_ids), "--yes"]


class EngineActions(QObject):
    done = Signal(bool, str)  # success, and the engine's message (its `error:` line on failure)

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = str(db_path)
        self.process: QProcess | None = None
        self._queue: list[list[str]] = []

    def is_busy(self) -> bool:
        return self.process is not None or bool(self._queue)

    def run(self, arguments: list[str]) -> None:
        """Queue `python -m engine ARGUMENTS --db DB` (the --db goes before any "--")."""
        if "--" in arguments:
            cut = arguments.index("--")
            arguments = [*arguments[:cut], "--db", self.db_path, *arguments[cut:]]
        else:
            arguments = [*arguments, "--db", self.db_path]
        self._queue.append(arguments)
        if self.process is None:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            return
        self.process = engine_process(self, *self._queue.pop(0))
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error_occurred)
        self.process.start()

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process, self.process = self.process, None
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace").strip()
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace").strip()
        process.deleteLater()
        ok = exit_status == QProcess.ExitStatus.NormalExit and exit_code == 0
        lines = err.splitlines()
        errors = [line[len(ERROR_PREFIX) :] for line in lines if line.startswith(ERROR_PREFIX)]
        message = (
            (out or err)
            if ok
            else (errors[-1] if errors else (lines[-1] if lines else f"exit code {exit_code}"))
        )
        self.done.emit(ok, message)
        self._next()

    def _error_occurred(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            process, self.process = self.process, None
            message = process.errorString()
            process.deleteLater()
            self.done.emit(False, f"the engine could not be started: {message}")
            self._next()
