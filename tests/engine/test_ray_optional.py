"""`--backend ray` where Ray is not installed, and the flags' misuses: one `error:` line,
exit 2, nothing written. Runs with or without the ray extra (an import of `ray` is made to
fail by a package of that name first on the path)."""

import os

from tests.helpers import run_engine, write_spec

SWEEP = """
[run]
seeds = 2
steps = 20
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.6]
[hardware]
device = "cpu"
threads = 1
[sweep.grid]
"algorithm.c" = [0.5, 2.0]
"""


def _error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


def test_backend_ray_without_ray_installed_is_refused_writing_nothing(tmp_path):
    blocker = tmp_path / "blocked" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no ray here")\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocked")}
    spec = write_spec(tmp_path / "s.toml", SWEEP)
    db = tmp_path / "s.db"
    result = run_engine("run", spec, "--db", db, "--backend", "ray", env=env)
    assert _error_line(result) == (
        "error: --backend ray needs Ray: pip install 'tradeoff-studio[ray]' (ray==2.60.0)"
    )
    assert not db.exists()


def test_address_without_backend_ray_and_a_single_run_on_ray_are_refused(tmp_path):
    spec = write_spec(tmp_path / "s.toml", SWEEP)
    db = tmp_path / "s.db"
    line = _error_line(run_engine("run", spec, "--db", db, "--address", "127.0.0.1:6379"))
    assert line == "error: --address is for --backend ray"
    single = write_spec(tmp_path / "one.toml", SWEEP.split("[sweep.grid]")[0])
    line = _error_line(run_engine("run", single, "--db", db, "--backend", "ray"))
    assert line == "error: --backend and --address are for sweeps; a single run runs here"
    assert not db.exists()
