"""The engine's queue commands run from the studio: priority and cancel of sweep points.

The studio never writes the store: reordering or cancelling queued points is `tradeoff
priority` / `tradeoff cancel`, each a short QProcess child (as `SweepLauncher.cancel`),
so that a scheduler serving the store from any process takes the change at its next
claim, exactly as from the command line. Nothing here waits: each command reports
through `done` (a line saying what changed) or `failed` (the engine's error line).
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QProcess, Signal

from studio.queue import engine_command
from studio.sweeps.launch import last_error_line


def _points_text(sweep_id: int, idxs) -> str:
    if idxs is None:
        return f"Sweep {sweep_id}"
    return f"Sweep {sweep_id}, point{'s' if len(idxs) > 1 else ''} " + ", ".join(map(str, idxs))


def _named(sweep_id: int, idxs) -> list[str]:
    args = ["--sweep", str(sweep_id)]
    for idx in idxs or ():
        args += ["--point", str(idx)]
    return args


class SweepCommands(QObject):
    """Runs `tradeoff priority` and `tradeoff cancel` on one store, one QProcess each."""

    done = Signal(str)  # what changed, for the user
    failed = Signal(str)  # what was asked and the engine's error line

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = str(db_path)
        self._processes: list[QProcess] = []

    def set_db(self, db_path) -> None:
        self.db_path = str(db_path)

    def busy(self) -> bool:
        return bool(self._processes)

    def stop(self) -> None:
        """The window closes: commands still in flight report to no one. They are short, and
        each is one transaction: one killed with the window has changed all or nothing."""
        for process in self._processes:
            process.finished.disconnect()
            process.errorOccurred.disconnect()
        self._processes = []

    def set_priority(self, sweep_id: int, priority, idxs=None) -> None:
        """Priority `priority` (an int, "first" or "last") for the queued points of a sweep,
        or of the points `idxs` of it."""
        what = _points_text(sweep_id, idxs)
        args = ["priority", "--db", self.db_path, *_named(sweep_id, idxs), str(priority), "--json"]

        def said(answer: dict) -> str:
            changed, left = len(answer["changed"]), len(answer["not_queued"])
            where = {"first": "runs first", "last": "runs last"}.get(
                str(priority), f"priority {answer['priority']}"
            )
            line = f"{what}: {where} ({changed} queued point{'s' if changed != 1 else ''})"
            return line + (f"; {left} not queued, unchanged" if left else "")

        self._run(args, f"{what}: priority not changed", said)

    def cancel(self, sweep_id: int, idxs=None) -> None:
        """Cancel the queued and running points of a sweep, or its points `idxs`."""
        what = _points_text(sweep_id, idxs)
        args = ["cancel", "--db", self.db_path, *_named(sweep_id, idxs), "--json"]

        def said(answer: dict) -> str:
            n = len(answer["cancelled"])
            line = f"{what}: {n} point{'s' if n != 1 else ''} cancelled"
            ended = answer.get("not_live") or []
            return line + (f"; {len(ended)} had ended already" if ended else "")

        self._run(args, f"{what}: not cancelled", said)

    def _run(self, args: list[str], refused: str, said) -> None:
        process = engine_command.engine_process(self, *args)

        def finished(code, _status, p=process):
            self._processes.remove(p)
            out = bytes(p.readAllStandardOutput()).decode("utf-8", "replace")
            err = bytes(p.readAllStandardError()).decode("utf-8", "replace")
            p.deleteLater()
            if code != 0:
                self.failed.emit(f"{refused}: {last_error_line(err or out)}")
                return
            try:
                line = said(json.loads(out.strip().splitlines()[-1]))
            except (ValueError, KeyError, IndexError, TypeError):
                self.failed.emit(f"{refused}: the engine's answer was not understood: {out!r}")
                return
            self.done.emit(line)

        def no_start(error, p=process):
            if error == QProcess.ProcessError.FailedToStart and p in self._processes:
                self._processes.remove(p)
                p.deleteLater()
                self.failed.emit(f"{refused}: the engine could not be started")

        process.finished.connect(finished)
        process.errorOccurred.connect(no_start)
        self._processes.append(process)
        process.start()
