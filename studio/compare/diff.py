"""Two runs side by side: their specs and the hardware each actually used, key by key."""

from __future__ import annotations

import json
from dataclasses import dataclass

from studio.compare.grouping import ABSENT, value_text

USED = "hardware used"  # the prefix of what the engine recorded, apart from the spec's request


@dataclass(frozen=True)
class DiffRow:
    key: str
    left: str
    right: str

    @property
    def differs(self) -> bool:
        return self.left != self.right


def flatten_run(row: dict) -> dict[str, str]:
    """ "section.name" -> text for every spec value, then "hardware used.name" for the recorded hardware."""
    flat = {}
    spec = json.loads(row["spec_json"]) if row.get("spec_json") else {}
    for section, table in spec.items():
        for name, value in table.items():
            flat[f"{section}.{name}"] = value_text(value)
    hardware = json.loads(row["hardware_json"]) if row.get("hardware_json") else {}
    for name, value in hardware.items():
        flat[f"{USED}.{name}"] = value_text(value)
    return flat


def diff_rows(left: dict, right: dict, only_differences: bool = False) -> list[DiffRow]:
    """One row per key of either run (a key one run lacks shows ABSENT), in first-seen order."""
    keys = list(dict.fromkeys([*left, *right]))
    rows = [DiffRow(k, left.get(k, ABSENT), right.get(k, ABSENT)) for k in keys]
    return [r for r in rows if r.differs] if only_differences else rows
