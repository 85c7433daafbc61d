"""Which files may be opened as a store: the one check before any store is opened.

Opening a file with SQLite for writing is not harmless: `Store` switches its journal to
WAL (which rewrites the file's header) and creates its tables in a file that has none.
A user's unrelated file must never be touched, so a file is first looked at without
writing anything (its size, then SQLite read-only, with no -wal or -shm made beside
it), and refused with a reason when it is not a store this program can write:

- a folder, or something that is not a regular file (a pipe, a device);
- a file whose content is not an SQLite database (random bytes, text);
- an SQLite database without the store's `meta` and `runs` tables or schema version
  (another program's database);
- a store of a newer schema than this program's;
- a file or folder this user cannot write ("read-only");
- a path in a folder that does not exist (only the default store's folder in the
  user data directory is created).

An empty file (zero bytes, or an SQLite database with no tables and no application
id or user version) is made a new store only when its name ends in `.db`: that is what
`touch runs.db` or `mktemp --suffix .db` give, and what a crash while a store was being
made leaves. Any other empty file (`notes.txt`, `results.csv`) may belong to another
program and is refused.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

NEW_STORE_SUFFIX = ".db"
READ_TIMEOUT_S = 30.0  # as long as a store connection waits for a writer
NOT_OURS = "is an SQLite database but not a Tradeoff Studio store"


def why_not_a_store(
    path: Path, newest_version: int, folder_may_be_made: bool = False
) -> str | None:
    """None when `path` may be opened (or made) as a store; else the reason it may not.

    `newest_version` is this program's schema version; `folder_may_be_made` allows a
    missing parent folder (the default store's). Reads only: nothing is written.
    """
    if path.is_dir():
        return "is a folder, not a store file"
    if not path.exists():
        return _why_not_a_new_store(path, folder_may_be_made)
    if not path.is_file():
        return "is not a regular file (a pipe, a device or a socket), not a store file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    # Only SQLite opens the file here, never Python's open(): closing a descriptor of a
    # file drops every POSIX lock this process holds on it, and this process may have
    # the store open already (the studio's panels, the engine's writer thread), whose
    # connections would lose their locks, letting another process checkpoint and delete
    # the -wal under them. SQLite keeps such descriptors open until its last connection
    # to the file closes.
    wal = Path(f"{path}-wal")
    if path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size):
        reason = _why_not_an_empty_store(path)
    else:
        reason = _why_not_a_store_database(path, newest_version)
    return reason or _why_not_writable(path)


def _why_not_a_new_store(path: Path, folder_may_be_made: bool) -> str | None:
    if path.is_symlink():
        return "is a link to a file that does not exist"
    folder = path.parent
    if not folder.exists():
        return None if folder_may_be_made else f"cannot be made: the folder {folder} does not exist"
    if not folder.is_dir():
        return f"cannot be made: {folder} is not a folder"
    if not _writable(folder):
        return f"cannot be made: the folder {folder} is read-only"
    return None


def _why_not_an_empty_store(path: Path, what: str = "an empty file") -> str | None:
    if path.suffix == NEW_STORE_SUFFIX:
        return None
    return (
        f"is {what} that is not a store; a new store is made only in a file that does not "
        f"exist yet or in an empty file whose name ends in {NEW_STORE_SUFFIX}"
    )


def _why_not_a_store_database(path: Path, newest_version: int) -> str | None:
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True, timeout=READ_TIMEOUT_S)
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            schema_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            claimed = (
                conn.execute("PRAGMA application_id").fetchone()[0]
                or conn.execute("PRAGMA user_version").fetchone()[0]
            )
            if not schema_objects and not claimed:
                return _why_not_an_empty_store(path, "an empty SQLite database")
            missing = [t for t in ("meta", "runs") if t not in tables]
            if missing:
                return f"{NOT_OURS} (no {' or '.join(missing)} table); it was left unchanged"
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.OperationalError:
                row = None
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            return "is not a Tradeoff Studio store (not an SQLite database)"
        return f"is not a readable SQLite database ({err})"
    if row is None:
        return f"{NOT_OURS} (its meta table has no schema version); it was left unchanged"
    try:
        version = int(row[0])
    except (TypeError, ValueError):
        return f"{NOT_OURS} (its schema version {str(row[0])[:40]!r} is not a number); it was left unchanged"
    if version > newest_version:
        return (
            f"store schema version {version} is newer than this program's ({newest_version}); "
            "update Tradeoff Studio"
        )
    return None


def _read_only_uri(path: Path) -> str:
    """A read-only SQLite URI for `path` that creates no file beside it.

    Opening a WAL database read-only makes its -wal and -shm files and leaves them. When
    no -wal or rollback -journal lies beside the file, nothing is being written to it and
    its whole content is in the file, so it is opened as immutable: no locks, no side
    files. Otherwise a writer is at work and the usual read-only mode waits for it.
    """
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal")):
        uri += "&immutable=1"
    return uri


def _why_not_writable(path: Path) -> str | None:
    if not _writable(path):
        return "is read-only; a store must be writable (the engine records runs in it)"
    if not _writable(path.parent):
        return (
            f"is in a read-only folder ({path.parent}); a store must be able to write its "
            "journal files (-wal, -shm) beside it"
        )
    return None


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK)
