"""The About box: what this studio is made of, with every version a bug report needs.

torch's version comes from the engine's hardware report, never from an import: the
studio does not load torch.
"""

from __future__ import annotations

import html
import platform
from importlib import metadata

import numpy
import pyqtgraph
import PySide6
from PySide6.QtCore import qVersion

DISTRIBUTION = "tradeoff-studio"


def studio_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "source checkout (not installed)"


def versions(hardware: dict | None) -> list[tuple[str, str]]:
    torch = (hardware or {}).get(
        "torch_version"
    ) or "not known yet (the engine has not reported its hardware)"
    return [
        ("Tradeoff Studio", studio_version()),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
        ("pyqtgraph", pyqtgraph.__version__),
        ("numpy", numpy.__version__),
        ("torch (engine)", torch),
    ]


def about_html(hardware: dict | None, store_path: str) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(name)}</b>&nbsp;&nbsp;</td><td>{html.escape(value)}</td></tr>"
        for name, value in versions(hardware)
    )
    return (
        "<h3>Tradeoff Studio</h3>"
        "<p>Run and compare the algorithms of research on trade-offs in machine learning: "
        "regret, Pareto fronts, preference optimisation, continual learning.</p>"
        f"<table>{rows}</table>"
        f"<p><b>Store</b>: {html.escape(store_path)}</p>"
    )
