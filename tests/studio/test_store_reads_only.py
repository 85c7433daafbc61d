"""The studio only reads the store, by type: its sources never name the writer type `Store`
and call no writer method on a store; what it opens is a `StoreReader`. (Every window the
studio's tests build reads through a `StoreReader` too: see conftest.make_window.)"""

import ast
from pathlib import Path

from engine.store import Store, StoreReader, open_reader

STUDIO = Path(__file__).resolve().parents[2] / "studio"
WRITERS = {n for n in set(dir(Store)) - set(dir(StoreReader)) if not n.startswith("__")}


def _trees():
    for path in sorted(STUDIO.rglob("*.py")):
        yield path.relative_to(STUDIO.parent), ast.parse(path.read_text(encoding="utf-8"))


def _receiver(node) -> str | None:
    """The name a method is called on: `store` in store.x(), `_store` in self._store.x()."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def test_the_studio_never_names_the_writer_type():
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "engine.store":
                found += [f"{path}:{node.lineno}" for a in node.names if a.name == "Store"]
            elif isinstance(node, ast.Name) and node.id == "Store":
                found.append(f"{path}:{node.lineno}")
            elif isinstance(node, ast.Attribute) and node.attr == "Store":
                found.append(f"{path}:{node.lineno}")
    assert found == []


def test_the_studio_calls_no_writer_method_on_a_store():
    assert {"append", "set_tags", "delete_runs", "create_sweep"} <= WRITERS
    calls = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            name = (_receiver(node.func.value) or "").lower()
            if node.func.attr in WRITERS and ("store" in name or "reader" in name):
                calls.append(f"{path}:{node.lineno}: {name}.{node.func.attr}()")
    assert calls == []


def test_what_the_studio_opens_is_a_reader(tmp_path):
    with open_reader(tmp_path / "runs.db") as reader:
        assert type(reader) is StoreReader
