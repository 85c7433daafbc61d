"""Helpers shared by tests (import as `tests.helpers`)."""

import json
import subprocess
import sys
import time
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


def wait_until(predicate, what: str, timeout: float = 90.0):
    """Poll `predicate` every 50 ms until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_engine(*args) -> subprocess.Popen:
    """`python -m engine ARGS` in the background, its output captured as text."""
    return subprocess.Popen(
        engine_command(*args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def running_run_of_point(store, sweep_id, idx):
    """The run id of a sweep point once its run is running and has recorded a step."""
    try:
        run_id = store.sweep(sweep_id)["points"][idx]["run_id"]
    except KeyError:  # the sweep is not recorded yet
        return None
    if run_id is None:
        return None
    row = store.get_run(run_id)
    return run_id if row["stored_status"] == "running" and row["steps_done"] > 0 else None
