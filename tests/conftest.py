"""Shared fixtures. Qt runs offscreen in every test (no display in CI)."""

import os
import sys

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    """A fresh store file; also the default for engine processes started by the test."""
    path = tmp_path / "store.db"
    monkeypatch.setenv("TRADEOFF_STUDIO_DB", str(path))
    return path


_exit_status = {"code": 0}


def pytest_sessionfinish(session, exitstatus):
    _exit_status["code"] = int(exitstatus)


def pytest_unconfigure(config):
    """Leave without interpreter finalisation once pytest has reported.

    PySide6 can crash (SIGSEGV) while Python tears down modules after the last test,
    when Qt objects still owned by pyqtgraph's or Qt's globals are destroyed out of
    order; every result has been printed by then, so the exit status is pytest's own.
    """
    if "PySide6" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status["code"])
