"""Run data as CSV or JSON, written by the engine's own `tradeoff export` in child processes.

The studio never re-implements the export format: each file is one
`python -m engine export RUN --format F [--table T] --out PATH --db DB`, run one after
another through QProcess so the window never waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from studio.queue.engine_command import engine_process

STDERR_LINES_SHOWN = 5


@dataclass(frozen=True)
class DataFile:
    run_id: int
    fmt: str  # "csv" or "json"
    table: str  # "series" or "pareto" (CSV only)
    path: Path

    def arguments(self, db_path) -> list[str]:
        args = [
            "export",
            str(self.run_id),
            "--format",
            self.fmt,
            "--out",
            str(self.path),
            "--db",
            str(db_path),
        ]
        if self.fmt == "csv":
            args += ["--table", self.table]
        return args


def data_files(run_ids, folder, formats=("csv",), pareto_runs=()) -> list[DataFile]:
    """The files to ask for: per run and format; a CSV of Pareto points too for runs in `pareto_runs`."""
    folder = Path(folder)
    files = []
    for run_id in run_ids:
        for fmt in formats:
            if fmt == "json":
                files.append(DataFile(run_id, "json", "series", folder / f"run-{run_id}.json"))
            else:
                files.append(DataFile(run_id, "csv", "series", folder / f"run-{run_id}-series.csv"))
                if run_id in pareto_runs:
                    files.append(
                        DataFile(run_id, "csv", "pareto", folder / f"run-{run_id}-pareto.csv")
                    )
    return files


class EngineExport(QObject):
    """Writes `DataFile`s one at a time; `finished` carries the paths written and the errors."""

    finished = Signal(list, list)  # [str paths written], [str error messages]

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = str(db_path)
        self.process: QProcess | None = None
        self._pending: list[DataFile] = []
        self._current: DataFile | None = None
        self._written: list[str] = []
        self._errors: list[str] = []

    def is_running(self) -> bool:
        return self.process is not None

    def start(self, files: list[DataFile]) -> None:
        if self.process is not None:
            raise RuntimeError("an export is already running")
        self._pending = list(files)
        self._written, self._errors = [], []
        self._next()

    def _next(self) -> None:
        if not self._pending:
            self.finished.emit(self._written, self._errors)
            return
        self._current = self._pending.pop(0)
        self._current.path.parent.mkdir(parents=True, exist_ok=True)
        self.process = engine_process(self, *self._current.arguments(self.db_path))
        self.process.finished.connect(self._done)
        self.process.errorOccurred.connect(self._failed_to_start)
        self.process.start()

    def _done(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process, self.process = self.process, None
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace").strip()
        process.deleteLater()
        if exit_status == QProcess.ExitStatus.NormalExit and exit_code == 0:
            self._written.append(str(self._current.path))
        else:
            tail = " ".join(err.splitlines()[-STDERR_LINES_SHOWN:]) or f"exit code {exit_code}"
            self._errors.append(f"{self._current.path.name}: {tail}")
        self._next()

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            process, self.process = self.process, None
            self._errors.append(
                f"{self._current.path.name}: the engine could not be started: {process.errorString()}"
            )
            process.deleteLater()
            self._next()
