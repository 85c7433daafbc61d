"""The README's set-up commands are the ones CI runs."""

from tests.helpers import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the test command; the lint, format and import checks follow it
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    (ci_command,) = [line for line in ci_lines if "pytest" in line]
    assert ci_command in readme.splitlines()
    start = [
        line
        for line in readme.splitlines()
        if line.endswith("tradeoff-studio") and "pip install" in line
    ]
    assert len(start) == 1
