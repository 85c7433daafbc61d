"""The README's set-up commands are the ones CI runs."""

from tests.helpers import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    test_commands = [line for line in ci_lines if "pip install" in line and "pytest" in line]
    assert len(test_commands) == 1, "CI runs one install-and-test command"
    assert test_commands[0] in readme.splitlines()
    # What CI runs after the tests are checks only: nothing there installs or changes code.
    after = ci_lines[ci_lines.index(test_commands[0]) + 1 :]
    assert after and all(line.startswith(".venv/bin/") for line in after), after
    assert all("--fix" not in line and "install" not in line for line in after), after
    start = [
        line
        for line in readme.splitlines()
        if line.endswith("tradeoff-studio") and "pip install" in line
    ]
    assert len(start) == 1
