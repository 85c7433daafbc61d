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


def _with_engine_root(pythonpath: str) -> str:
    return ENGINE_ROOT + (os.pathsep + pythonpath if pythonpath else "")


def engine_argv(*args: str) -> list[str]:
    """The command line of `python -m engine ARGS`; in the installed bundle (PyInstaller
    sets `sys.frozen`), the bundle's own `tradeoff` program beside this one."""
    if getattr(sys, "frozen", False):
        return [str(Path(sys.executable).with_name("tradeoff")), *args]
    return [sys.executable, "-m", "engine", *args]


def engine_environment() -> dict[str, str]:
    """This process's environment with the engine's folder first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = _with_engine_root(env.get("PYTHONPATH", ""))
    return env


def engine_process(parent: QObject, *args: str) -> QProcess:
    """A QProcess set up to run `python -m engine ARGS`; not started yet.

    For short questions (the catalogue, the hardware) whose answer is read from the
    process's output. Engines that must outlive the window (a scheduler) start with
    `studio.queue.run_process.DETACHED`.
    """
    program, *arguments = engine_argv(*args)
    process = QProcess(parent)
    process.setProgram(program)
    process.setArguments(arguments)
    env = QProcessEnvironment.systemEnvironment()
    env.insert("PYTHONPATH", _with_engine_root(env.value("PYTHONPATH", "")))
    process.setProcessEnvironment(env)
    return process
