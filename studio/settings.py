"""Where the studio keeps its settings and presets: one INI file in the user config folder.

Tests move the whole thing with `QSettings.setPath(IniFormat, UserScope, folder)`;
the presets live beside the settings file, so they move with it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

ORGANISATION = "tradeoff-studio"
APPLICATION = "studio"

# Keys, in one place so that a rename cannot leave an orphan behind.
GEOMETRY = "window/geometry"
WINDOW_STATE = "window/state"
SPLITTERS = "window/splitters/"  # + the splitter's name
TAB = "window/tab"
THEME = "view/theme"
FOLLOW_RUNS = "view/follow_runs"
WORKERS = "hardware/workers"
LAST_SPEC = "config/last_spec"
SPEC_FOLDER = "config/spec_folder"
LAST_STORE = "store/last"
EXPORT_FOLDER = "export/folder"  # the folder the last export wrote to


def studio_settings() -> QSettings:
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


def config_dir() -> Path:
    return Path(studio_settings().fileName()).parent


def presets_dir() -> Path:
    return config_dir() / "presets"
