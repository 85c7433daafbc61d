"""Helpers shared by tests (import as `tests.helpers`)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"


def engine_command(*args) -> list[str]:
    return [sys.executable, "-m", "engine", *map(str, args)]


def run_engine(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        engine_command(*args), capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def write_spec(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
