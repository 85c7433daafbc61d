"""A file that is not a store is refused by every command that takes --db, with one
`error:` line naming it and the reason, and left byte for byte as it was."""

import sqlite3

import pytest

from engine import cli
from engine.store import SCHEMA_VERSION, Store, StoreError
from tests.engine.bad_stores import (
    BAD_FILES,
    folder_contents,
    make_bad_file,
    other_program_database,
    restore_permissions,
    see_permissions_as_a_user,
)
from tests.helpers import run_engine, write_spec

SPEC = """
[run]
seeds = 2
steps = 50
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
[hardware]
device = "cpu"
"""

COMMANDS = {
    "run": lambda db, spec: ["run", spec, "--db", db, "--quiet"],
    "runs": lambda db, spec: ["runs", "--db", db],
    "show": lambda db, spec: ["show", "1", "--db", db],
    "export": lambda db, spec: ["export", "1", "--db", db],
    "tag": lambda db, spec: ["tag", "1", "--add", "x", "--db", db],
    "note": lambda db, spec: ["note", "1", "a note", "--db", db],
    "delete": lambda db, spec: ["delete", "1", "--yes", "--db", db],
    "cancel": lambda db, spec: ["cancel", "--sweep", "1", "--db", db],
    "priority": lambda db, spec: ["priority", "--sweep", "1", "5", "--db", db],
}


@pytest.fixture
def folder(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    yield files
    restore_permissions(files)


def assert_refused(code, captured, path, reason):
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: {path}: {reason}"), lines[0]
    assert captured.out == ""


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_a_file_that_is_not_a_store(
    folder, tmp_path, kind, command, capsys, monkeypatch
):
    see_permissions_as_a_user(monkeypatch)
    spec = write_spec(tmp_path / "spec.toml", SPEC)
    path, reason = make_bad_file(kind, folder)
    before = folder_contents(folder)
    code = cli.main([str(a) for a in COMMANDS[command](path, spec)])
    assert_refused(code, capsys.readouterr(), path, reason)
    assert folder_contents(folder) == before  # no byte changed, no -wal, -shm or folder made


@pytest.mark.parametrize(
    "kind", ["other program's database", "newer schema", "empty file not named .db"]
)
def test_the_environment_variable_is_checked_the_same_way(folder, kind, capsys, monkeypatch):
    path, reason = make_bad_file(kind, folder)
    before = folder_contents(folder)
    monkeypatch.setenv("TRADEOFF_STUDIO_DB", str(path))
    assert_refused(cli.main(["runs"]), capsys.readouterr(), path, reason)
    assert folder_contents(folder) == before


def test_the_command_line_leaves_another_programs_database_alone(folder, tmp_path):
    """The reported case, through the installed entry point: `runs` used to switch the file to
    WAL and add the store's tables, and `run` wrote a run into it."""
    other = other_program_database(folder)
    before = folder_contents(folder)
    spec = write_spec(tmp_path / "spec.toml", SPEC)
    for args in (("runs", "--db", other), ("run", spec, "--db", other)):
        result = run_engine(*args)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"error: {other}: is an SQLite database but not a Tradeoff Studio store (no meta or runs table); "
            "it was left unchanged"
        ]
    assert folder_contents(folder) == before
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT name, seen_at FROM birds").fetchall() == [("wren", 1.5)]


def test_a_newer_store_is_refused_before_its_journal_changes(folder):
    """The version was read after the switch to WAL, which rewrote a refused file's header."""
    path, _ = make_bad_file("newer schema", folder)
    before = folder_contents(folder)
    with pytest.raises(
        StoreError, match=f"schema version 99 is newer than this program's \\({SCHEMA_VERSION}\\)"
    ):
        Store(path)
    assert folder_contents(folder) == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_an_empty_file_named_db_becomes_a_store(folder, capsys):
    """The zero-byte rule: `touch runs.db` or `mktemp --suffix .db` make a file the store may fill;
    an empty file of any other name may be another program's and is refused (BAD_FILES)."""
    fresh = folder / "fresh.db"
    fresh.write_bytes(b"")
    assert cli.main(["runs", "--db", str(fresh), "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    with Store(fresh) as store:
        assert store.schema_version() == SCHEMA_VERSION and store.db.journal_mode == "wal"


def test_an_sqlite_database_with_nothing_in_it_follows_the_zero_byte_rule(folder):
    """A store whose making stopped after the switch to WAL has a header and no tables: it is
    made a store when named .db, and refused, unchanged, under another name."""
    for name in ("half-made.db", "half-made.sqlite"):
        path = folder / name
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE scratch (x)")
        conn.execute("DROP TABLE scratch")
        conn.close()
    with Store(folder / "half-made.db") as store:
        assert store.schema_version() == SCHEMA_VERSION
    before = folder_contents(folder)
    with pytest.raises(
        StoreError, match="half-made.sqlite: is an empty SQLite database that is not a store"
    ):
        Store(folder / "half-made.sqlite")
    assert folder_contents(folder) == before


def test_a_store_in_use_is_opened_without_waiting_or_copying(folder):
    """While another connection writes a store (its -wal beside it), the check reads it read-only."""
    path = folder / "busy.db"
    with Store(path):
        assert (folder / "busy.db-wal").exists()
        with Store(path) as reader:
            assert reader.schema_version() == SCHEMA_VERSION


def test_checking_a_store_this_process_has_open_keeps_its_locks(folder):
    """Closing any descriptor of a file drops all of this process's POSIX locks on it: had the
    check read the file with open(), an engine closing next would take itself for the last
    connection, checkpoint and delete the -wal, and this process would read stale pages."""
    path = folder / "shared.db"
    with Store(path) as store:
        store.conn.execute(
            "INSERT INTO runs(status, algorithm, problem, spec_toml, created_at) "
            "VALUES ('finished', 'a', 'b', '', 1.0)"
        )
        Store(path).close()  # the check runs in this process, which holds the store open
        for text in ("first", "second"):
            result = run_engine("note", "1", "--db", path, "--", text)
            assert result.returncode == 0, result.stderr
            assert store.get_run(1)["notes"] == text
        assert (folder / "shared.db-wal").exists()


def test_the_default_stores_folder_is_still_made(tmp_path, monkeypatch, capsys):
    data_home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.delenv("TRADEOFF_STUDIO_DB", raising=False)
    assert cli.main(["runs", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert (data_home / "tradeoff-studio" / "runs.db").is_file()


def test_a_db_folder_given_by_the_user_is_never_made(tmp_path, capsys):
    missing = tmp_path / "typo" / "runs.db"
    assert cli.main(["runs", "--db", str(missing)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {missing}: cannot be made: the folder {missing.parent} does not exist\n"
    )
    assert not missing.parent.exists()


def test_a_store_damaged_inside_is_an_error_line_not_a_traceback(folder, capsys):
    """Its first page is sound, so it opens; the page of its runs table is not."""
    path = folder / "damaged.db"
    with Store(path) as store:
        store.conn.executemany(
            "INSERT INTO runs(status, algorithm, problem, spec_toml, created_at) "
            "VALUES ('finished', 'a', 'b', ?, 1.0)",
            [("x" * 2000,)] * 50,
        )
        root, page_size = (
            store.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[
                0
            ],
            store.conn.execute("PRAGMA page_size").fetchone()[0],
        )
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xee" * page_size)
    assert cli.main(["runs", "--db", str(path)]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {path}: the store is damaged (database disk image is malformed)\n"
    )
