"""Opening a store the user picked: refuse, with a clear reason, anything that is not one.

`Store()` would turn any SQLite file into a store (it creates its tables in a file
that has none) and switch its journal to WAL: a user's unrelated database must not be
touched. So a file that exists is first read, read-only, and must be an SQLite
database with the store's `meta` and `runs` tables; only then is it opened as a
store, which refuses a schema newer than this program's.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.store import Store, StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


def why_not_a_store(path: Path) -> str | None:
    """None when the file is empty, absent or a store; else the reason it is not one."""
    if path.is_dir():
        return "is a folder, not a store file"
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if header != SQLITE_HEADER:
        return "is not a Tradeoff Studio store (not an SQLite database)"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        return f"is not a readable SQLite database ({err})"
    missing = [t for t in ("meta", "runs") if t not in tables]
    if missing:
        return (f"is an SQLite database but not a Tradeoff Studio store (no {' or '.join(missing)} table); "
                "it was left unchanged")
    return None


def open_store(path) -> Store:
    """The store at `path` (a new one where there is no file); StoreError says why not."""
    path = Path(path).expanduser()
    reason = why_not_a_store(path)
    if reason:
        raise StoreError(f"{path}: {reason}")
    return Store(path)
