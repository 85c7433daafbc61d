"""Presets: named specs per algorithm, kept as TOML files the CLI can run as they are.

`<config dir>/presets/<algorithm id>/<name>.toml`. A preset is a whole spec (problem,
parameters, run and hardware), written from a validated form and read back through
the same loader as any spec file, so a preset that no longer validates (a parameter
renamed since) is refused with its key and reason like any other file.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QWidget

NAME_PATTERN = re.compile(r"^[\w][\w .+-]{0,63}$")


class PresetError(ValueError):
    pass


class Presets:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, algorithm: str) -> Path:
        return self.root / algorithm

    def names(self, algorithm: str) -> list[str]:
        folder = self.folder(algorithm)
        return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []

    def path(self, algorithm: str, name: str) -> Path:
        return self.folder(algorithm) / f"{name}.toml"

    def save(self, algorithm: str, name: str, toml_text: str) -> Path:
        name = name.strip()
        if not NAME_PATTERN.match(name):
            raise PresetError(
                f"preset name {name!r}: use letters, digits, spaces, '.', '+', '-' or '_' "
                "(up to 64, starting with a letter or digit)"
            )
        path = self.path(algorithm, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(toml_text, encoding="utf-8")
        except OSError as err:
            raise PresetError(f"cannot write {path}: {err}") from None
        return path

    def delete(self, algorithm: str, name: str) -> None:
        try:
            self.path(algorithm, name).unlink()
        except FileNotFoundError:
            pass
        except OSError as err:
            raise PresetError(f"cannot delete {self.path(algorithm, name)}: {err}") from None


class PresetBar(QWidget):
    """A combo of the algorithm's presets (choosing one loads it), Save as… and Delete."""

    preset_chosen = Signal(object)  # the preset's Path
    save_requested = Signal()
    delete_requested = Signal(str)

    PROMPT = "Presets…"

    def __init__(self, presets: Presets, parent=None):
        super().__init__(parent)
        self.presets = presets
        self.algorithm = ""
        self.combo = QComboBox()
        self.combo.setToolTip("Load a preset saved for this algorithm")
        self.save_button = QPushButton("Save as preset…")
        self.save_button.setToolTip(
            "Keep the whole form (problem, parameters, run, hardware) under a name"
        )
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the preset shown")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.save_button)
        layout.addWidget(self.delete_button)
        self.combo.activated.connect(self._activated)
        self.save_button.clicked.connect(self.save_requested)
        self.delete_button.clicked.connect(self._delete_clicked)
        self.refresh()

    def set_algorithm(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.refresh()

    def refresh(self, current: str = "") -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        names = self.presets.names(self.algorithm) if self.algorithm else []
        self.combo.addItem(self.PROMPT if names else "no presets yet", "")
        for name in names:
            self.combo.addItem(name, name)
        if current in names:
            self.combo.setCurrentIndex(names.index(current) + 1)
        self.combo.setEnabled(bool(names))
        self.combo.blockSignals(False)
        self.delete_button.setEnabled(bool(self.current_name()))

    def current_name(self) -> str:
        return self.combo.currentData() or ""

    def _activated(self, _index: int) -> None:
        name = self.current_name()
        self.delete_button.setEnabled(bool(name))
        if name:
            self.preset_chosen.emit(self.presets.path(self.algorithm, name))

    def _delete_clicked(self) -> None:
        name = self.current_name()
        if name:
            self.delete_requested.emit(name)
