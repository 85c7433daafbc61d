"""The history and compare panels, put into the main window and wired to it.

History lists every run in the store; double-clicking one shows it in Watch;
"Compare" sends the selection to the compare panel; "Export…" (the panels' buttons
and File ▸ Export…) opens the export dialog for what the user is looking at.
"""

from __future__ import annotations

from PySide6.QtWidgets import QScrollArea

from studio.compare.panel import ComparePanel
from studio.export.dialog import open_export_dialog
from studio.history.panel import HistoryPanel
from studio.sweeps.browser import SweepsBrowser
from studio.sweeps.launch import SweepLauncher


class StudioPanels:
    """Owns the history and compare panels of one window."""

    def __init__(self, window):
        self.window = window
        self.history = HistoryPanel(window.store)
        self.compare = ComparePanel(window.store)
        # In scroll areas, so that their tool rows never set the window's minimum width.
        self.history_page = _scrollable(self.history)
        self.compare_page = _scrollable(self.compare)
        self.sweeps = SweepsBrowser(window.store)
        self.launcher = SweepLauncher(
            window.store.path, window, backend=window.hardware_panel.sweep_backend
        )
        window.add_panel("History", self.history_page)
        window.add_panel("Compare", self.compare_page)
        window.add_panel("Sweeps", self.sweeps)
        self.sweeps.run_activated.connect(window.show_run)
        self.sweeps.live_note_changed.connect(window.queue_view.set_sweep_note)
        self.sweeps.cancel_requested.connect(self.launcher.cancel)
        self.sweeps.resume_requested.connect(
            lambda sweep_id: self.launcher.resume(sweep_id, window.hardware_panel.workers.value())
        )
        self.launcher.submitted.connect(self._sweep_submitted)
        self.launcher.failed.connect(self._sweep_failed)
        self.launcher.command_done.connect(
            lambda text: window.statusBar().showMessage(text, 10_000)
        )
        window.store_changed.connect(self.sweeps.set_store)
        window.store_changed.connect(lambda store: self.launcher.set_db(store.path))
        self.history.run_activated.connect(window.show_run)
        self.history.compare_requested.connect(self.compare_runs)
        self.history.export_requested.connect(self.export_runs)
        self.compare.export_requested.connect(self.export_comparison)
        window.run_selected.connect(lambda run_id: self.history.select_runs([run_id]))
        window.store_changed.connect(self.history.set_store)
        window.store_changed.connect(self.compare.set_store)
        window.connect_export(self.export_current)

    def launch_sweep(self, document: dict, workers: int) -> None:
        self.launcher.launch(document, workers)

    def _sweep_submitted(self, sweep_id: int, points: int) -> None:
        self.sweeps.refresh()
        self.sweeps.show_sweep(sweep_id)
        self.window.show_panel(self.sweeps)
        self.window.statusBar().showMessage(f"Sweep {sweep_id}: {points} runs queued", 10_000)

    def _sweep_failed(self, reason: str) -> None:
        self.window.show_message("Sweep not started", reason)

    def compare_runs(self, run_ids: list) -> None:
        self.compare.set_runs(run_ids)
        self.window.show_panel(self.compare_page)

    def export_runs(self, run_ids: list):
        return (
            open_export_dialog(self.window, self.window.store, list(run_ids)) if run_ids else None
        )

    def export_comparison(self):
        run_ids = list(self.compare.run_ids)
        if not run_ids:
            return None
        return open_export_dialog(
            self.window, self.window.store, run_ids, figure=self.compare.current_figure()
        )

    def export_current(self):
        """File ▸ Export…: what the current panel shows, else the runs selected in the history."""
        if self.window.panels.currentWidget() is self.compare_page and self.compare.run_ids:
            return self.export_comparison()
        selected = self.history.selected_ids()
        if selected:
            return self.export_runs(selected)
        self.window.statusBar().showMessage(
            "Select runs in the History panel to export them.", 8000
        )
        return None

    def stop_polling(self) -> None:
        self.history.stop_polling()
        self.compare.stop_polling()
        self.sweeps.stop()


def _scrollable(widget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area
