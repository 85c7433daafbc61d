"""The file dialogs behind File ▸ Load spec / Save spec / Open store / New store.

Each asks for a path, remembers the folder, and hands the path to the window, whose
methods (load_spec, config.save_file, open_store) do the work and can be driven
without a dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from studio import settings as keys

STORE_FILTER = "Tradeoff Studio stores (*.db *.sqlite *.sqlite3);;All files (*)"
SPEC_FILTER = "Run specs (*.toml);;All files (*)"


def _spec_folder(window) -> str:
    return str(window.settings.value(keys.SPEC_FOLDER, "") or Path.home())


def load_spec(window) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window, "Load a run spec", _spec_folder(window), SPEC_FILTER
    )
    if path:
        window.settings.setValue(keys.SPEC_FOLDER, str(Path(path).parent))
        window.load_spec(path)


def save_spec(window) -> None:
    if window.config.build_spec() is None:
        window.statusBar().showMessage("The form has a refused value; fix it before saving.", 8000)
        return
    path, _ = QFileDialog.getSaveFileName(
        window, "Save the run spec", _spec_folder(window), SPEC_FILTER
    )
    if path:
        if not path.endswith(".toml"):
            path += ".toml"
        window.settings.setValue(keys.SPEC_FOLDER, str(Path(path).parent))
        window.config.save_file(path)


def open_store(window) -> None:
    path, _ = QFileDialog.getOpenFileName(
        window, "Open a store", str(window.store.path.parent), STORE_FILTER
    )
    if path:
        window.open_store(path)


def new_store(window) -> None:
    path, _ = QFileDialog.getSaveFileName(
        window, "New store", str(window.store.path.parent / "runs.db"), STORE_FILTER
    )
    if path:
        window.open_store(path)
