"""Starting, cancelling and resuming sweeps from the studio, through the engine's scheduler.

The studio never writes the store: a sweep is queued by `tradeoff submit SWEEP.toml`
(which validates every point, exactly as from the command line, and prints its id), and
run by `tradeoff scheduler`, started detached so that it goes on when the window closes
(the queue lives in the store; a restarted studio shows it where it left off). Only one
scheduler serves a store: one already serving it takes the new points, and the one
started here then refuses and exits. Cancel is `tradeoff cancel --sweep ID`; resume is
`tradeoff resume ID`, detached too.

Where the points run is the hardware panel's choice, asked through `backend` when a sweep
is launched or resumed: local workers (`--workers N`), or a Ray cluster whose address
was checked (`--backend ray --address ADDR`; the cluster's CPUs, not N, then bound the
points in flight). A Ray choice not checked yet is refused before anything starts.

Nothing here waits: the submit process reports through `QProcess.finished`.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from engine.spec import dumps_toml
from studio.queue import engine_command, run_process


def _toml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot sweep over {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    raise TypeError(f"cannot write {type(value).__name__} in a sweep table")


def _toml_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return _toml_scalar(value)


def sweep_toml(document: dict) -> str:
    """A spec document with its `sweep` tables as the TOML a CLI user would write."""
    base = {section: table for section, table in document.items() if section != "sweep"}
    lines = [dumps_toml(base).rstrip("\n")]
    for part in ("grid", "zip", "random"):
        table = document.get("sweep", {}).get(part)
        if not table:
            continue
        lines += ["", f"[sweep.{part}]"]
        for key, value in table.items():
            name = key if key == "samples" or key == "seed" else json.dumps(key)
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def start_detached(args: list[str], workdir: Path) -> subprocess.Popen:
    """An engine command in a session of its own at the engines' lower priority, its output
    in files of `workdir`: it outlives the window, as runs do."""
    with open(workdir / "stdout.txt", "ab") as out, open(workdir / "stderr.txt", "ab") as err:
        return subprocess.Popen(
            run_process.engine_argv(*args),  # looked up here: tests stand in for the engine
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=engine_command.engine_environment(),
            **run_process.DETACHED,
        )


def backend_args(workers: int, ray_address: str | None) -> list[str]:
    """The scheduler's (or resume's) options of where the points run."""
    if ray_address:
        return ["--backend", "ray", "--address", ray_address]
    return ["--workers", str(max(1, workers))]


def last_error_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line[len("error:") :].strip()
    return lines[-1] if lines else "the engine gave no reason"


class SweepLauncher(QObject):
    """Queues sweeps and keeps a scheduler serving the store."""

    submitted = Signal(int, int)  # sweep id, points
    failed = Signal(str)  # why the engine refused the sweep
    command_done = Signal(str)  # a line for the status bar (cancelled, resumed)
    scheduler_started = Signal(object, object)  # its subprocess.Popen, the folder of its output

    def __init__(self, db_path, parent=None, backend=None):
        """backend: () -> (Ray address or None for local workers, refusal or None), as
        `HardwarePanel.sweep_backend`; None: always the local workers."""
        super().__init__(parent)
        self.db_path = str(db_path)
        self.backend = backend or (lambda: (None, None))
        self._processes: list[QProcess] = []
        self._detached: list[subprocess.Popen] = []
        self._workdir: Path | None = None

    @property
    def workdir(self) -> Path:
        """Where the sweep files and the detached commands' output go (made on first use)."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="tradeoff-sweeps-"))
        return self._workdir

    def set_db(self, db_path) -> None:
        self.db_path = str(db_path)

    def launch(self, document: dict, workers: int) -> Path | None:
        """Write the sweep's spec, queue it (`tradeoff submit`), then start a scheduler;
        `submitted` or `failed` follows. Returns the spec file written, or None (with
        `failed`) where the chosen Ray cluster has not been checked."""
        ray_address, refusal = self.backend()
        if refusal:
            self.failed.emit(refusal)
            return None
        folder = Path(tempfile.mkdtemp(prefix="sweep-", dir=self.workdir))
        path = folder / "sweep.toml"
        path.write_text(sweep_toml(document), encoding="utf-8")
        process = engine_command.engine_process(
            self, "submit", str(path), "--db", self.db_path, "--json"
        )
        process.finished.connect(
            lambda code, _status, p=process, w=workers, f=folder, a=ray_address: self._submitted(
                p, code, w, f, a
            )
        )
        self._processes.append(process)
        process.start()
        return path

    def _submitted(
        self, process: QProcess, code: int, workers: int, folder: Path, ray_address=None
    ) -> None:
        self._processes.remove(process)
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace")
        process.deleteLater()
        if code != 0:
            self.failed.emit(last_error_line(err or out))
            return
        try:
            answer = json.loads(out.strip().splitlines()[-1])
            sweep_id, points = int(answer["sweep_id"]), int(answer["points"])
        except (ValueError, KeyError, IndexError, TypeError):
            self.failed.emit(f"the engine's answer was not understood: {out.strip()[-200:]!r}")
            return
        self.serve(workers, folder, ray_address)
        self.submitted.emit(sweep_id, points)

    def serve(
        self, workers: int, folder: Path | None = None, ray_address=None, linger: float = 0
    ) -> None:
        """Start a scheduler for the store (it exits at once where one already serves it:
        that one, local or Ray, takes the new points); `linger`: its `--linger`."""
        self._reap()
        folder = folder or Path(tempfile.mkdtemp(prefix="scheduler-", dir=self.workdir))
        lingering = ["--linger", str(linger)] if linger else []
        popen = start_detached(
            ["scheduler", "--db", self.db_path, *backend_args(workers, ray_address), *lingering],
            folder,
        )
        self._detached.append(popen)
        self.scheduler_started.emit(popen, folder)

    def resume(self, sweep_id: int, workers: int) -> None:
        ray_address, refusal = self.backend()
        if refusal:
            self.failed.emit(f"sweep {sweep_id} not resumed: {refusal}")
            return
        self._reap()
        folder = Path(tempfile.mkdtemp(prefix=f"resume-{sweep_id}-", dir=self.workdir))
        self._detached.append(
            start_detached(
                [
                    "resume",
                    str(sweep_id),
                    "--db",
                    self.db_path,
                    *backend_args(workers, ray_address),
                ],
                folder,
            )
        )
        self.command_done.emit(f"Sweep {sweep_id}: resuming the points not finished")

    def cancel(self, sweep_id: int) -> None:
        process = engine_command.engine_process(
            self, "cancel", "--db", self.db_path, "--sweep", str(sweep_id), "--json"
        )

        def done(code, _status, p=process):
            self._processes.remove(p)
            err = bytes(p.readAllStandardError()).decode("utf-8", "replace")
            p.deleteLater()
            if code == 0:
                self.command_done.emit(f"Sweep {sweep_id}: cancelled")
            else:
                self.failed.emit(f"sweep {sweep_id} not cancelled: {last_error_line(err)}")

        process.finished.connect(done)
        self._processes.append(process)
        process.start()

    def _reap(self) -> None:
        self._detached = [p for p in self._detached if p.poll() is None]
