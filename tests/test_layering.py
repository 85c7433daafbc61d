"""The design's first rule: the engine never imports Qt; the studio never imports torch (nor
Ray, which only the engine's Ray backend imports, when asked for)."""

import ast
import subprocess
import sys

import pytest

from tests.helpers import ROOT

QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph")


def _modules(package: str) -> list[str]:
    """Every module of `package`, read off the files on disk (not by walking imports, which
    skips any sub-package it cannot import on its own), so a new sub-package is always seen."""
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize(
    "package, nested",
    [("engine", "engine.labs.pareto.pd_morl"), ("studio", "studio.history.panel")],
)
def test_every_module_file_is_checked(package, nested):
    # Walking the packages without a prefix saw 12 of the 96 engine files and 41 of the 59
    # studio files: the modules of sub-packages were never imported.
    files = [p for p in (ROOT / package).rglob("*.py") if p.name != "__main__.py"]
    modules = _modules(package)
    assert len(modules) == len(set(modules)) == len(files)
    assert package in modules and nested in modules


def _imports_after_loading(modules: list[str], extra: str = "") -> set[str]:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"{extra}\n"
        "print('\\n'.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_engine_and_every_lab_load_without_qt():
    loaded = _imports_after_loading(
        _modules("engine"), "import engine.registry as r; r.algorithms()"
    )
    assert "torch" in loaded  # the check is real: the labs were imported
    assert not loaded & set(QT)
    assert "ray" not in loaded  # only `--backend ray` imports it (engine/ray_backend.py)


def test_studio_loads_without_torch():
    modules = _modules("studio")
    assert len(modules) > 1
    loaded = _imports_after_loading(modules)
    assert "PySide6" in loaded
    assert "torch" not in loaded


@pytest.mark.parametrize("package, forbidden", [("engine", QT), ("studio", ("torch", "ray"))])
def test_no_forbidden_import_statement(package, forbidden):
    """A static scan too, so a lazy import inside a function cannot slip through."""
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} {n}"
                for n in names
                if n.split(".")[0] in forbidden
            ]
    assert not offenders
