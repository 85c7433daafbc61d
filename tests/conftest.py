"""Shared fixtures. Qt runs offscreen in every test (no display in CI)."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def db_path(tmp_path, monkeypatch):
    """A fresh store file; also the default for engine processes started by the test."""
    path = tmp_path / "store.db"
    monkeypatch.setenv("TRADEOFF_STUDIO_DB", str(path))
    return path
