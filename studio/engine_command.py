"""How the studio starts an engine process: the same Python, the same engine package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment

import engine

# The folder that holds the `engine` package this studio imported; put first on the
# child's PYTHONPATH so a studio started from a source checkout runs that checkout's
# engine whatever the working directory is.
ENGINE_ROOT = str(Path(engine.__file__).resolve().parents[1])


def engine_process(parent: QObject, *args: str) -> QProcess:
    """A QProcess set up to run `python -m engine ARGS`; not started yet."""
    process = QProcess(parent)
    process.setProgram(sys.executable)
    process.setArguments(["-m", "engine", *args])
    env = QProcessEnvironment.systemEnvironment()
    inherited = env.value("PYTHONPATH", "")
    env.insert("PYTHONPATH", ENGINE_ROOT + (os.pathsep + inherited if inherited else ""))
    process.setProcessEnvironment(env)
    return process
