"""What the engine knows, asked of a child process: the catalogue and the hardware.

The engine's registry imports every lab (and so torch), which the studio must not:
the child pays that import (about two seconds) while the window is already up. Its
JSON answer (`python -m engine list --json`, `python -m engine hardware --json`) is
read here: the catalogue is rebuilt with `Catalogue.from_json` (declarations only,
no torch), the hardware is checked field by field.

The catalogue's answer is also kept in a cache (`studio.configure.catalogue_cache`): a start whose
cache matches lists the catalogue at once and asks the engine anyway, in the background.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from engine.registry import Catalogue
from studio.configure.catalogue_cache import CatalogueCache
from studio.queue.engine_command import engine_process

STDERR_LINES_SHOWN = 15
# After a cache hit the engine is asked this much later: its child (importing torch)
# would otherwise take a core from the window's first paint on a 2-core machine.
REFRESH_DELAY_MS = 500


class EngineJsonQuery(QObject):
    """Runs `python -m engine ARGS`, parses its JSON output; never waits on the process."""

    loaded = Signal(object)  # what `parse` made of the JSON
    failed = Signal(str)  # what went wrong, for the user

    ARGS: tuple[str, ...] = ()
    WHAT = "answer"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.process: QProcess | None = None

    def parse(self, document):
        raise NotImplementedError

    def start(self) -> None:
        self.process = engine_process(self, *self.ARGS)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error_occurred)
        self.process.start()

    def cancel(self) -> None:
        """The answer is no longer wanted (the window closes): end the child now."""
        process, self.process = self.process, None
        if process is not None:
            process.finished.disconnect(self._finished)
            process.errorOccurred.disconnect(self._error_occurred)
            process.kill()
            process.waitForFinished(2000)

    def _finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        process, self.process = self.process, None
        process.deleteLater()
        out = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError()).decode("utf-8", "replace")
        if exit_status != QProcess.ExitStatus.NormalExit or exit_code != 0:
            tail = "\n".join(err.strip().splitlines()[-STDERR_LINES_SHOWN:])
            self.failed.emit(
                f"`{' '.join(['python', *process.arguments()])}` exited with code {exit_code}:\n{tail}"
            )
            return
        try:
            document = json.loads(out)
            result = self.parse(document)
        except (ValueError, KeyError, TypeError) as error:
            self.failed.emit(f"the engine's {self.WHAT} could not be read: {error}")
            return
        self.answered(document, result)

    def answered(self, document, result) -> None:
        """The engine's answer, read: `result` is what `parse` made of `document`."""
        self.loaded.emit(result)

    def _error_occurred(self, error: QProcess.ProcessError) -> None:
        # Only a failed start ends here without `finished`.
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            message = self.process.errorString()
            self.process.deleteLater()
            self.process = None
            self.failed.emit(f"the engine could not be started: {message}")


class CatalogueLoader(EngineJsonQuery):
    """The catalogue: from the cache at once when it matches, then from the engine.

    `loaded` is emitted during `start()` for a cache hit, and again when the engine's
    answer differs from what was listed; an answer equal to it emits nothing. After a
    hit the engine is asked `REFRESH_DELAY_MS` later, once the window is up. Each
    answer of the engine is written to the cache. `document` is the JSON behind the
    catalogue last emitted, `from_cache` whether that came from the cache.
    """

    ARGS = ("list", "--json")
    WHAT = "catalogue"

    def __init__(self, parent=None, cache: CatalogueCache | None = None):
        super().__init__(parent)
        self.cache = cache if cache is not None else CatalogueCache()
        self.document: list | None = None
        self.from_cache = False
        self._key: dict | None = None
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setSingleShot(True)
        self.refresh_timer.setInterval(REFRESH_DELAY_MS)
        self.refresh_timer.timeout.connect(self._ask_engine)

    def parse(self, document) -> Catalogue:
        return Catalogue.from_json(document)

    def start(self) -> None:
        # The key is taken before the engine is asked: a lab edited meanwhile gives the
        # next start a miss (and a fresh answer), never an old answer under a new key.
        self._key = self.cache.key()
        cached = self.cache.read(self._key)
        catalogue = None
        if cached is not None:
            try:
                catalogue = self.parse(cached)
            except Exception:  # noqa: BLE001 - any cache the declarations cannot rebuild is no cache
                catalogue = None
        if catalogue is None:
            self._ask_engine()
            return
        self.document, self.from_cache = cached, True
        self.loaded.emit(catalogue)
        self.refresh_timer.start()

    def _ask_engine(self) -> None:
        super().start()

    def cancel(self) -> None:
        self.refresh_timer.stop()
        super().cancel()

    def answered(self, document, result) -> None:
        if document == self.document:
            return  # the cache was right: the list, the selection and the form stay as they are
        self.cache.write(document, self._key if self._key is not None else self.cache.key())
        self.document, self.from_cache = document, False
        self.loaded.emit(result)


class HardwareLoader(EngineJsonQuery):
    ARGS = ("hardware", "--json")
    WHAT = "hardware report"

    def parse(self, document) -> dict:
        return read_hardware(document)


def read_hardware(document) -> dict:
    """The fields of `tradeoff hardware --json` the studio uses, checked.

    Returns cpu_cores (int >= 1), memory_bytes (int or None), torch_version (str),
    torch_threads (int or None), cpu_name (str), cuda: a list of {index, name, memory_bytes}. Raises ValueError naming the field.
    """
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object, got {type(document).__name__}")
    cores = document.get("cpu_cores")
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise ValueError(f"cpu_cores must be a positive integer, got {cores!r}")
    memory = document.get("memory_bytes")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int)):
        raise ValueError(f"memory_bytes must be an integer or null, got {memory!r}")
    cuda_list = document.get("cuda", [])
    if not isinstance(cuda_list, list):
        raise ValueError(f"cuda must be a list, got {cuda_list!r}")
    cuda = []
    for position, device in enumerate(cuda_list):
        if not isinstance(device, dict) or not isinstance(device.get("name"), str):
            raise ValueError(f"cuda[{position}] must be an object with a name, got {device!r}")
        cuda.append(
            {
                "index": int(device.get("index", position)),
                "name": device["name"],
                "memory_bytes": device.get("memory_bytes"),
            }
        )
    threads = document.get("torch_threads")
    return {
        "cpu_cores": cores,
        "memory_bytes": memory,
        "torch_version": str(document.get("torch_version", "")),
        "torch_threads": threads
        if isinstance(threads, int) and not isinstance(threads, bool)
        else None,
        "cpu_name": str(document.get("cpu_name", "")),
        "cuda": cuda,
    }
