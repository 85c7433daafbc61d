"""What a MainWindow keeps between sessions: geometry, splitters, tab, workers, theme,
whether new runs are followed, and the last spec in the form (restored only while the
catalogue still accepts it)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray

from engine.spec import RunSpec, SpecError
from studio import settings as keys


def _splitters(window) -> dict:
    return {
        "main": window.main_splitter,
        "right": window.right_splitter,
        "catalogue": window.catalogue_pane.splitter,
    }


def restore(window) -> None:
    s = window.settings
    geometry = s.value(keys.GEOMETRY)
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    state = s.value(keys.WINDOW_STATE)
    if isinstance(state, QByteArray):
        window.restoreState(state)
    window.setup_tabs.setCurrentIndex(int(s.value(keys.TAB, 0)))
    workers = s.value(keys.WORKERS)
    if workers is not None:
        window.hardware_panel.workers.setValue(int(workers))
    window.actions.follow_runs.setChecked(str(s.value(keys.FOLLOW_RUNS, "true")).lower() == "true")
    window.set_theme(str(s.value(keys.THEME, "light")))


def restore_layout(window) -> None:
    """Splitter sizes, once the window has its size: restored earlier, they would be
    scaled from a default layout that never shows."""
    for name, splitter in _splitters(window).items():
        saved = window.settings.value(keys.SPLITTERS + name)
        if isinstance(saved, QByteArray):
            splitter.restoreState(saved)


def restore_last_spec(window) -> None:
    text = window.settings.value(keys.LAST_SPEC)
    if not text:
        return
    try:
        spec = RunSpec.from_toml(str(text), window.catalogue, "the last session's spec")
    except SpecError:
        return  # the catalogue has changed since: the defaults are the better start
    window.config.apply_spec(spec)


def save(window) -> None:
    s = window.settings
    s.setValue(keys.GEOMETRY, window.saveGeometry())
    s.setValue(keys.WINDOW_STATE, window.saveState())
    for name, splitter in _splitters(window).items():
        s.setValue(keys.SPLITTERS + name, splitter.saveState())
    s.setValue(keys.TAB, window.setup_tabs.currentIndex())
    s.setValue(keys.FOLLOW_RUNS, "true" if window.actions.follow_runs.isChecked() else "false")
    if window.catalogue is not None and window.config.algorithm is not None:
        try:
            spec = RunSpec.from_dict(window.config.spec_document(), window.catalogue)
        except SpecError:
            spec = None
        if spec is not None:
            s.setValue(keys.LAST_SPEC, spec.to_toml())
    s.sync()
