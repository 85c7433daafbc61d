"""The README's set-up commands are the ones CI runs."""

from tests.helpers import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = next(
        line
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if "pip install" in line
    )
    assert ci_command in readme.splitlines()
    start = [
        line
        for line in readme.splitlines()
        if line.endswith("tradeoff-studio") and "pip install" in line
    ]
    assert len(start) == 1
