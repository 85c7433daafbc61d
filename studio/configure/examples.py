"""The example specs shipped in resources/examples/, with the description each opens with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "examples"


@dataclass(frozen=True)
class Example:
    path: Path
    name: str
    description: str


def describe(path: Path) -> str:
    """The comment block an example spec opens with, as one paragraph."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


# A line that opens a [sweep…] table or sets `sweep` at the top level. Looked for in the
# text rather than by parsing each file: parsing all ~100 examples cost 80 ms of the start.
SWEEP_LINE = re.compile(r'^\s*(\[\s*"?sweep"?\s*[.\]]|"?sweep"?\s*=)', re.MULTILINE)


def _is_sweep(path: Path) -> bool:
    """Whether a spec has a [sweep] table (a file that is not valid TOML is listed, and
    refused with its reason when opened)."""
    return SWEEP_LINE.search(path.read_text(encoding="utf-8")) is not None


def examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Every *.toml in the folder but sweeps, by name; none when the folder is missing."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.toml")):
        try:
            description = describe(path)
            if _is_sweep(path):
                continue  # a sweep (many runs): not opened in the form yet
        except (OSError, UnicodeDecodeError):
            continue
        found.append(Example(path, path.stem, description))
    return found
