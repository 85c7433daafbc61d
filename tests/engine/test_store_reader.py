"""The read-only store type (`StoreReader`, what the studio opens) and `open_reader`: no
writer method, a connection SQLite keeps from writing, and the same refusals as `Store`."""

import sqlite3

import pytest

from engine import store as store_mod
from engine.registry import Catalogue
from engine.spec import RunSpec
from engine.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    StoreNotReady,
    StoreReader,
    open_reader,
)
from tests.engine.bad_stores import (
    BAD_FILES,
    folder_contents,
    make_bad_file,
    restore_permissions,
    see_permissions_as_a_user,
)
from tests.engine.test_store import _version_1_store

SPEC = """
[run]
seeds = 2
steps = 10
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.8]
[hardware]
device = "cpu"
"""

# Every public name a Store has beyond a StoreReader's: each one writes (or, `db`, is the
# sqlite-utils handle the migrations write through).
WRITERS = {
    "append",
    "cancel_point_of_run",
    "cancel_sweep",
    "compute_aggregates",
    "create_run",
    "create_sweep",
    "db",
    "delete_runs",
    "fail_run_of_dead_engine",
    "finish_run",
    "heartbeat",
    "reap_stale",
    "set_notes",
    "set_objectives",
    "set_tags",
    "start_run",
}


@pytest.fixture
def folder(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    yield files
    restore_permissions(files)


@pytest.fixture
def written(tmp_path):
    """A store with one running run and two values of it, and the writer that wrote them."""
    with Store(tmp_path / "runs.db") as store:
        spec = RunSpec.from_toml(SPEC, Catalogue.live())
        run_id = store.create_run(spec, family="bandits", plot="regret")
        store.start_run(run_id, {"device": "cpu"})
        store.append(run_id, [("loss", 1, 0, 0.5, 0.1), ("loss", 1, 1, 1.5, 0.1)], steps_done=1)
        yield store, run_id


def test_the_reader_has_every_read_method_and_no_writer():
    assert issubclass(Store, StoreReader)
    public = {n for n in set(dir(Store)) - set(dir(StoreReader)) if not n.startswith("_")}
    assert public == WRITERS
    reads = {
        "get_run",
        "list_runs",
        "run_states",
        "live_run_ids",
        "run_of_engine",
        "metrics_of",
        "series",
        "series_arrays",
        "series_since",
        "blocks_since",
        "blocks_snapshot",
        "aggregates_since",
        "aggregate_arrays",
        "pareto_since",
        "sweeps",
        "sweep",
        "sweep_of_run",
        "schema_version",
        "data_version",
        "integrity_check",
        "close",
        "__enter__",
        "__exit__",
    }
    assert reads <= set(dir(StoreReader))


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO meta(key, value) VALUES ('x', 'y')",
        "UPDATE runs SET notes = 'changed'",
        "DELETE FROM series_blocks",
        "CREATE TABLE extra (x INTEGER)",
        "DROP TABLE heartbeats",
        "BEGIN IMMEDIATE",
    ],
)
def test_sqlite_refuses_a_write_through_the_readers_connection(written, sql):
    store, run_id = written
    with StoreReader(store.path) as reader:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.conn.execute(sql)
        assert not hasattr(reader, "append") and not hasattr(reader, "delete_runs")
    assert store.get_run(run_id)["notes"] == ""
    assert store.series(run_id, "loss")[1][1].tolist() == [1.5]
    assert {"extra", "heartbeats"} & {
        r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    } == {"heartbeats"}


def test_a_reader_sees_each_commit_of_a_writer_while_it_stays_open(written):
    """WAL reads keep working on a query_only connection: cursors, data_version, snapshots."""
    store, run_id = written
    with StoreReader(store.path) as reader:
        rows, cursor = reader.series_since(run_id)
        assert sorted(rows) == [("loss", 1, 0, 0.5, 0.1), ("loss", 1, 1, 1.5, 0.1)]
        version = reader.data_version()
        store.append(run_id, [("loss", 2, 0, 2.5, 0.2), ("loss", 2, 1, 3.5, 0.2)])
        assert reader.data_version() != version
        rows, _ = reader.series_since(run_id, cursor)
        assert rows == [("loss", 2, 0, 2.5, 0.2), ("loss", 2, 1, 3.5, 0.2)]
        steps, seeds, values = reader.series_arrays(run_id, "loss")
        assert (steps.tolist(), seeds.tolist(), values.tolist()) == (
            [1, 1, 2, 2],
            [0, 1, 0, 1],
            [0.5, 1.5, 2.5, 3.5],
        )
        store.finish_run(run_id, "finished")
        assert reader.get_run(run_id)["status"] == "finished"
        assert reader.sweeps() == [] and reader.integrity_check() == "ok"


def test_a_reader_makes_nothing_where_there_is_no_store_yet(tmp_path):
    missing = tmp_path / "runs.db"
    with pytest.raises(StoreNotReady, match="there is no store here yet"):
        StoreReader(missing)
    assert list(tmp_path.iterdir()) == []
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StoreNotReady, match="an empty store, not made yet"):
        StoreReader(empty)
    assert empty.read_bytes() == b""


def test_open_reader_makes_a_missing_store_once_and_returns_a_reader(tmp_path):
    path = tmp_path / "runs.db"
    with open_reader(path) as reader:
        assert type(reader) is StoreReader and reader.schema_version() == SCHEMA_VERSION
        assert reader.list_runs() == []
    empty = tmp_path / "touched.db"
    empty.write_bytes(b"")  # `touch runs.db`: made a store, as `Store` does
    with open_reader(empty) as reader:
        assert reader.schema_version() == SCHEMA_VERSION


def test_open_reader_migrates_an_older_store_and_a_reader_alone_refuses_it(tmp_path):
    path = tmp_path / "v1.db"
    _version_1_store(path)
    before = path.read_bytes()
    with pytest.raises(
        StoreNotReady,
        match=f"schema version 1 is older than this program's \\({SCHEMA_VERSION}\\)",
    ):
        StoreReader(path)
    assert path.read_bytes() == before
    with open_reader(path) as reader:
        assert type(reader) is StoreReader and reader.schema_version() == SCHEMA_VERSION
        assert reader.get_run(1)["name"] == "old"
        assert reader.series(1, "cumulative_regret")[0][1].tolist() == [
            0.5 * k for k in range(1, 11)
        ]


def test_open_reader_opens_no_writer_on_a_current_store(written, monkeypatch):
    store, run_id = written

    def no_writer(*args, **kwargs):
        raise AssertionError("a current store was opened with a writer")

    monkeypatch.setattr(store_mod.Store, "__init__", no_writer)
    with open_reader(store.path) as reader:
        assert reader.get_run(run_id)["status"] == "running"


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_open_reader_refuses_every_bad_file_as_store_does(folder, kind, monkeypatch):
    """The same reason as `Store(path)` and `tradeoff --db`, and the folder left as it was."""
    see_permissions_as_a_user(monkeypatch)
    path, reason = make_bad_file(kind, folder)
    before = folder_contents(folder)
    with pytest.raises(StoreError) as refused:
        open_reader(path)
    assert str(refused.value).startswith(f"{path}: {reason}")
    with pytest.raises(StoreError) as by_reader:
        StoreReader(path)
    if path.exists():  # a file that is there is refused by the reader with the same words
        assert str(by_reader.value) == str(refused.value)
    else:  # where a store would be made, the reader says only that there is none
        assert isinstance(by_reader.value, StoreNotReady)
    assert folder_contents(folder) == before
