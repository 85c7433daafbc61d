"""Helpers shared by tests (import as `tests.helpers`)."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"


def is_sweep_example(path: Path) -> bool:
    """An example spec with a [sweep] table: many runs, not one."""
    return "sweep" in tomllib.loads(path.read_text(encoding="utf-8"))


def run_examples() -> list[Path]:
    """The example specs of single runs, by name."""
    return [p for p in sorted(EXAMPLES.glob("*.toml")) if not is_sweep_example(p)]


def sweep_examples() -> list[Path]:
    return [p for p in sorted(EXAMPLES.glob("*.toml")) if is_sweep_example(p)]


def engine_command(*args) -> list[str]:
    return [sys.executable, "-m", "engine", *map(str, args)]


def run_engine(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        engine_command(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
