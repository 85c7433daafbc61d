"""Files that are not stores this program may write, each with the reason it is refused.

Shared by the engine's tests (every command that takes --db) and the studio's (opening
a store from the File menu): both must refuse each file for the same reason and leave
it, and the folder around it, byte for byte as it was.
"""

import hashlib
import os
import sqlite3
from pathlib import Path

from engine import store_file
from engine.store import SCHEMA_VERSION, Store


def other_program_database(folder: Path) -> Path:
    path = folder / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE birds (name TEXT, seen_at REAL)")
        conn.execute("INSERT INTO birds VALUES ('wren', 1.5)")
    return path


def other_program_wal_database(folder: Path) -> Path:
    """Opening a WAL database read-only makes -wal and -shm files beside it: the check must not."""
    path = folder / "places.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = wal")
    conn.execute("CREATE TABLE places (url TEXT)")
    conn.commit()
    conn.close()
    return path


def newer_store(folder: Path) -> Path:
    """A store of a future schema, in a rollback journal: switching it to WAL would rewrite it."""
    path = folder / "newer.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = delete")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    return path


def random_bytes(folder: Path) -> Path:
    path = folder / "random.db"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(4096)))
    return path


def sqlite_header_then_noise(folder: Path) -> Path:
    """An SQLite header over noise: SQLite itself says it is no database."""
    path = folder / "noise.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    return path


def damaged_database(folder: Path) -> Path:
    """A sound header, and a first page (the schema) overwritten."""
    path = folder / "damaged.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    return path


def empty_text_file(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_bytes(b"")
    return path


def empty_claimed_database(folder: Path) -> Path:
    """No tables yet, but its program has stamped it (PRAGMA user_version)."""
    path = folder / "claimed.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 7")
    return path


def a_folder(folder: Path) -> Path:
    path = folder / "runs.db"
    path.mkdir()
    return path


def in_a_missing_folder(folder: Path) -> Path:
    return folder / "no-such-folder" / "runs.db"


def read_only_store(folder: Path) -> Path:
    path = folder / "frozen.db"
    Store(path).close()
    path.chmod(0o444)
    return path


def store_in_read_only_folder(folder: Path) -> Path:
    inner = folder / "locked"
    inner.mkdir()
    path = inner / "runs.db"
    Store(path).close()
    inner.chmod(0o555)
    return path


def new_store_in_read_only_folder(folder: Path) -> Path:
    inner = folder / "locked"
    inner.mkdir()
    inner.chmod(0o555)
    return inner / "runs.db"


NOT_OURS = "is an SQLite database but not a Tradeoff Studio store"
BAD_FILES = {
    "other program's database": (other_program_database, f"{NOT_OURS} (no meta or runs table)"),
    "other program's WAL database": (
        other_program_wal_database,
        f"{NOT_OURS} (no meta or runs table)",
    ),
    "newer schema": (
        newer_store,
        f"store schema version 99 is newer than this program's ({SCHEMA_VERSION})",
    ),
    "random bytes": (random_bytes, "is not a Tradeoff Studio store (not an SQLite database)"),
    "SQLite header over noise": (
        sqlite_header_then_noise,
        "is not a Tradeoff Studio store (not an SQLite database)",
    ),
    "damaged SQLite file": (
        damaged_database,
        "is not a readable SQLite database (database disk image is malformed)",
    ),
    "empty file not named .db": (empty_text_file, "is an empty file that is not a store"),
    "empty database of another program": (
        empty_claimed_database,
        f"{NOT_OURS} (no meta or runs table)",
    ),
    "a folder": (a_folder, "is a folder, not a store file"),
    "missing folder": (in_a_missing_folder, "cannot be made: the folder {parent} does not exist"),
    "read-only file": (read_only_store, "is read-only"),
    "read-only folder": (store_in_read_only_folder, "is in a read-only folder ({parent})"),
    "new store in a read-only folder": (
        new_store_in_read_only_folder,
        "cannot be made: the folder {parent} is read-only",
    ),
}


def make_bad_file(kind: str, folder: Path) -> tuple[Path, str]:
    """The file of that kind, made in `folder`, and the reason a store refuses it."""
    build, reason = BAD_FILES[kind]
    path = build(folder)
    return path, reason.format(parent=path.parent)


def folder_contents(folder: Path) -> dict[str, str]:
    """Every file under `folder` (side files such as -wal and -shm included) with its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "folder"
        for p in sorted(folder.rglob("*"))
    }


def see_permissions_as_a_user(monkeypatch) -> None:
    """Read-only files and folders as an ordinary user sees them, also where tests run as root
    (root may write a file whatever its mode, so `os.access` would say writable)."""
    if os.geteuid() == 0:
        monkeypatch.setattr(
            store_file, "_writable", lambda path: bool(os.stat(path).st_mode & 0o200)
        )


def restore_permissions(folder: Path) -> None:
    """Make everything under `folder` writable again, so that pytest can remove it."""
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
