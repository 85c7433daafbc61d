"""The main window: choose, configure, run side by side, watch.

Left to right: the catalogue (choose), the configuration with its Hardware tab and
the Run / Stop buttons, and the panels (Watch first) above the run queue. Nothing
here waits on a process: engines run apart and write the store; the queue and the
plots read it on timers.
"""

from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.registry import Catalogue
from engine.store import StoreError, StoreReader, open_reader
from studio import settings as keys
from studio import window_settings
from studio.about import about_html
from studio.close_prompt import ask_about_runs_in_flight
from studio.configure.catalogue_loader import CatalogueLoader, HardwareLoader
from studio.configure.catalogue_pane import CataloguePane
from studio.configure.config_panel import ID_ROLE, ConfigPanel
from studio.configure.examples import examples
from studio.configure.hardware_panel import HardwarePanel
from studio.configure.sweep_editor import SweepInputError
from studio.menus import build_menus, make_action
from studio.notices import NoticeBar
from studio.panels import StudioPanels
from studio.queue.queue_view import QueueView
from studio.queue.run_queue import QueueEntry, RunQueue
from studio.settings import studio_settings
from studio.theme import apply_theme
from studio.views import kinds
from studio.views.watch_area import WatchArea

# A sweep of more runs than this is queued only once the user confirms it.
SWEEP_CONFIRM_RUNS = 100
# At most one start of the engine's workers ahead of a Run in this many seconds (a
# scheduler started for it lingers `run_queue.SCHEDULER_LINGER_SECONDS` with nothing queued).
WARM_ENGINE_EVERY_SECONDS = 60.0
# A widget of the set-up panes taking the focus from none (the window coming to the front)
# counts as the user's only this long after the window was first shown: before, it is the
# window's own first focus.
FIRST_FOCUS_SECONDS = 2.0


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def _typed(field):
    """A field's value as the user left it: the text of a text box, even one refused."""
    return field.editor.text() if isinstance(field.editor, QLineEdit) else field.raw_value()


def _retype(field, value) -> None:
    if isinstance(field.editor, QLineEdit):
        field.editor.setText(value)
    else:
        field.set_value(value)


class MainWindow(QMainWindow):
    """The studio's window on a store.

    `catalogue` and `hardware` (a `read_hardware` dict), when already known, skip
    asking the engine; `settings` defaults to the studio's QSettings file.

    For panels built elsewhere (history, compare, export):

    - ``add_panel(title, widget) -> int``: adds `widget` as a tab beside "Watch" (and a
      View menu entry with Ctrl+N); returns the tab's index. ``show_panel(widget)``
      brings it to the front.
    - ``show_run(run_id) -> bool``: shows any stored run (running or over) in a live
      plot tile and brings Watch to the front; False (and a status message) when the
      store has no such run.
    - ``run_selected(int)``: emitted when the user picks a run in the queue or clicks
      its plot, so that a history can follow the selection. Not emitted for show_run.
    - ``store_changed(StoreReader)``: emitted after File ▸ Open store… switched stores;
      ``window.store`` is always the current one. Read from it; never write to it.
    - ``connect_export(slot)``: connects File ▸ Export… (Ctrl+E) to `slot` and enables
      it; ``actions.export`` is that QAction.
    """

    run_selected = Signal(int)
    store_changed = Signal(object)

    def __init__(
        self,
        store: StoreReader,
        catalogue: Catalogue | None = None,
        hardware: dict | None = None,
        settings=None,
        parent=None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Tradeoff Studio")
        self.resize(1400, 860)
        self.store = store
        self.settings = settings if settings is not None else studio_settings()
        self.catalogue: Catalogue | None = None
        self.hardware: dict | None = None
        self.theme = "light"
        self.last_message: QMessageBox | None = None
        self._closing = False
        self._panel_actions = []
        self._showing_run = False
        self._layout_restored = False
        # Start the engine's workers while the user sets up a run (`warm_engine_now`), so
        # that Run does not wait for their import of torch; tests turn it off.
        self.warm_engine = True
        self._warmed_at: float | None = None
        self._shown_at: float | None = None

        self.catalogue_pane = CataloguePane()
        self.hardware_panel = HardwarePanel()
        self.config = ConfigPanel(self.hardware_panel)
        self.catalogue_message = QLabel("loading catalogue…")
        self.catalogue_message.setWordWrap(True)
        self.catalogue_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.catalogue_message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.catalogue_message.setMargin(8)
        self.config_scroll = _scrolled(self.config)
        self.config_scroll.hide()
        configure_page = QWidget()
        configure_layout = QVBoxLayout(configure_page)
        configure_layout.setContentsMargins(0, 0, 0, 0)
        configure_layout.addWidget(self.catalogue_message)
        configure_layout.addWidget(self.config_scroll, 1)
        self.setup_tabs = QTabWidget()
        self.setup_tabs.addTab(configure_page, "Configure")
        self.setup_tabs.addTab(_scrolled(self.hardware_panel), "Hardware")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip(
            "Validate the form and queue the run in the store (Ctrl+R); the engine's "
            "scheduler starts it as soon as a worker is free."
        )
        self.run_button.setEnabled(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip(
            "Cancel the selected run, else the newest live one (Ctrl+.); what it "
            "recorded stays in the store."
        )
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.stop_button, 1)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.setup_tabs, 1)
        middle_layout.addLayout(buttons)

        self.queue = RunQueue(store, workers=self.hardware_panel.workers.value(), parent=self)
        self.queue_view = QueueView(self.queue)
        self.examples = examples()
        self.watch = WatchArea(store, self.examples)
        self.notices = NoticeBar()
        self.panels = QTabWidget()
        self.panels.addTab(self.watch, "Watch")
        panels_holder = QWidget()
        panels_layout = QVBoxLayout(panels_holder)
        panels_layout.setContentsMargins(0, 0, 0, 0)
        panels_layout.addWidget(self.notices)
        panels_layout.addWidget(self.panels, 1)
        self.right_splitter = QSplitter(Qt.Orientation.Vertical)
        self.right_splitter.addWidget(panels_holder)
        self.right_splitter.addWidget(self.queue_view)
        self.right_splitter.setStretchFactor(0, 1)
        self.right_splitter.setSizes([640, 200])
        self.main_splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.catalogue_pane, middle, self.right_splitter):
            self.main_splitter.addWidget(widget)
        self.main_splitter.setStretchFactor(2, 1)
        # The form needs its width to stay usable; the catalogue may be folded away.
        middle.setMinimumWidth(360)
        self.main_splitter.setCollapsible(1, False)
        self.main_splitter.setCollapsible(2, False)
        self.main_splitter.setSizes([260, 400, 740])
        self.setCentralWidget(self.main_splitter)

        self.engine_state = QLabel()
        self.store_label = QLabel()
        for label in (self.engine_state, self.store_label):
            label.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addPermanentWidget(self.engine_state)
        self.statusBar().addPermanentWidget(self.store_label)
        self.actions = build_menus(self, self.examples)
        self._add_view_action("Watch", self.watch)

        self.catalogue_loader = CatalogueLoader(self)
        self.catalogue_loader.loaded.connect(self._catalogue_loaded)
        self.catalogue_loader.failed.connect(self._catalogue_failed)
        self.hardware_loader = HardwareLoader(self)
        self.hardware_loader.loaded.connect(self._hardware_loaded)
        self.hardware_loader.failed.connect(self.hardware_panel.set_detection_failed)
        self.catalogue_pane.algorithm_chosen.connect(self._algorithm_chosen)
        # a click in the list is the user's (the list may have had the focus already)
        self.catalogue_pane.tree.itemClicked.connect(lambda *_: self.warm_engine_now())
        self.config.algorithm_changed.connect(self.catalogue_pane.select)
        self.config.changed.connect(self._update_actions)
        self.config.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.hardware_panel.workers_changed.connect(self._workers_changed)
        self.run_button.clicked.connect(self.start_run)
        self.stop_button.clicked.connect(self.stop_selected)
        self.queue.run_started.connect(self._run_started)
        self.queue.run_ended.connect(self._run_ended)
        self.queue.problem.connect(self._queue_problem)
        self.queue.counts_changed.connect(self._update_actions)
        self.queue_view.entry_selected.connect(self._entry_selected)
        self.watch.run_focused.connect(self._tile_focused)
        self.watch.example_chosen.connect(self.load_example)
        self.panels.currentChanged.connect(self._pages_follow_tabs)

        QApplication.instance().focusChanged.connect(self._focus_changed)
        self._follows_focus = True
        window_settings.restore(self)
        self._show_store_label()
        self._update_actions()
        if hardware is None:
            self.hardware_loader.start()
        else:
            self._hardware_loaded(hardware)
        if catalogue is None:
            self.catalogue_loader.start()
        else:
            self._catalogue_loaded(catalogue)
        self.queue.refresh()
        self.studio_panels = StudioPanels(self)

    # -- extension points -----------------------------------------------------------------
    def add_panel(self, title: str, widget: QWidget) -> int:
        index = self.panels.addTab(widget, title)
        self._add_view_action(title, widget)
        return index

    def show_panel(self, widget: QWidget) -> None:
        """Every switch of panel goes through here (View menu, Ctrl+N, show_run, the queue,
        the history's Compare) or through the tab bar itself, whose index is the one truth."""
        index = self.panels.indexOf(widget)
        if index < 0:
            return
        self.panels.setCurrentIndex(index)
        # Also when it was current already: Ctrl+N puts a page shown out of turn right.
        self._pages_follow_tabs()

    def _pages_follow_tabs(self, *_) -> None:
        """The page shown is the tab highlighted, and no other."""
        current = self.panels.currentIndex()
        for index in range(self.panels.count()):
            page = self.panels.widget(index)
            if index != current and not page.isHidden():
                page.hide()
        page = self.panels.currentWidget()
        if page is not None and page.isHidden():
            page.show()

    def _add_view_action(self, title: str, widget: QWidget) -> None:
        number = len(self._panel_actions) + 1
        action = make_action(
            self,
            title,
            lambda w=widget: self.show_panel(w),
            f"Ctrl+{number}" if number <= 9 else None,
            f"Show the {title} panel",
        )
        menu = self.actions.view_menu
        # Panels are listed in order above the separator that heads the view options.
        separator = next(a for a in menu.actions() if a.isSeparator())
        menu.insertAction(separator, action)
        self._panel_actions.append(action)

    def show_run(self, run_id: int) -> bool:
        row = self.store.get_run(run_id)
        if row is None:
            self.statusBar().showMessage(f"There is no run {run_id} in {self.store.path}", 10_000)
            return False
        title = row["name"] or f"{row['algorithm']} on {row['problem']}"
        self._showing_run = True
        try:
            self.watch.show_run(run_id, row["plot"] or kinds.DEFAULT_KIND, title, focus=True)
            self.queue_view.select_run(run_id)
        finally:
            self._showing_run = False
        self.show_panel(self.watch)
        return True

    def connect_export(self, slot) -> None:
        self.actions.export.triggered.connect(lambda _=False: slot())
        self.actions.export.setEnabled(True)

    # -- catalogue and hardware -------------------------------------------------------------
    def _catalogue_loaded(self, catalogue: Catalogue) -> None:
        if self.catalogue is not None:
            self._catalogue_refreshed(catalogue)
            return
        self.catalogue = catalogue
        self.catalogue_message.hide()
        self.catalogue_pane.set_catalogue(catalogue)
        self.config.set_catalogue(catalogue)
        if self.config.algorithm is not None:
            self.catalogue_pane.select(self.config.algorithm.id)
        self.config_scroll.show()
        window_settings.restore_last_spec(self)
        self._update_actions()

    def _catalogue_refreshed(self, catalogue: Catalogue) -> None:
        """The engine's answer differs from the cached list shown: list it, keeping what the
        user chose (algorithm, problem, search) and typed (each field whose declaration is
        still there, as typed, even where the new bounds refuse it)."""
        chosen = self.config.algorithm.id if self.config.algorithm is not None else None
        problem = self.config.problem.id if self.config.problem is not None else None
        typed = {
            section: {name: (field.param, _typed(field)) for name, field in form.fields.items()}
            for section, form in self.config.forms().items()
            if section != "run"
        }
        self.catalogue = catalogue
        self.catalogue_pane.set_catalogue(catalogue)
        # Rebuilt quietly: passing through the first algorithm must not reach the pane
        # (whose search it would clear to show it).
        self.config.blockSignals(True)
        try:
            self.config.set_catalogue(catalogue)
            if chosen in catalogue.algorithm_ids():
                self.config.select_algorithm(chosen)
                index = self.config.problem_combo.findData(problem, ID_ROLE)
                if index >= 0 and index != self.config.problem_combo.currentIndex():
                    self.config.problem_combo.setCurrentIndex(index)
                for section, form in self.config.forms().items():
                    for name, (param, value) in typed.get(section, {}).items():
                        field = form.fields.get(name)
                        if field is not None and field.param.type == param.type:
                            _retype(field, value)
        finally:
            self.config.blockSignals(False)
        if (
            self.config.algorithm is not None
            and self.catalogue_pane.current_id != self.config.algorithm.id
        ):
            self.catalogue_pane.select(self.config.algorithm.id)
        self._update_actions()

    def _catalogue_failed(self, message: str) -> None:
        if self.catalogue is not None:
            # The cached list is shown; only its refresh failed.
            first_line = (message.splitlines() or [""])[0]
            self.statusBar().showMessage(
                f"The catalogue could not be refreshed: {first_line}", 15_000
            )
            return
        self.catalogue_message.setText(
            f"<b>The catalogue could not be loaded.</b><pre>{html.escape(message)}</pre>"
        )
        self.catalogue_message.setStyleSheet("color: #c0392b;")

    def _hardware_loaded(self, hardware: dict) -> None:
        self.hardware = hardware
        self.hardware_panel.set_hardware(hardware)

    def _algorithm_chosen(self, ident: str) -> None:
        self.config.select_algorithm(ident)

    def _workers_changed(self, workers: int) -> None:
        self.queue.set_workers(workers)
        self.settings.setValue(keys.WORKERS, workers)

    # -- runs ---------------------------------------------------------------------------
    def _focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        """A field of the catalogue or the configure pane took the focus: the user is
        setting up a run. Not the window's own first focus as it opens (from no widget,
        within FIRST_FOCUS_SECONDS of its first showing)."""
        if new is None or self._closing:
            return
        if old is None and (
            self._shown_at is None or time.monotonic() - self._shown_at < FIRST_FOCUS_SECONDS
        ):
            return
        if self.setup_tabs.isAncestorOf(new) or self.catalogue_pane.isAncestorOf(new):
            self.warm_engine_now()

    def warm_engine_now(self) -> bool:
        """Have a scheduler with idle workers ready for the next Run (`RunQueue.warm`): the
        first Run then pays no import of torch by the workers (bench/queue_start.py). At
        most once a `WARM_ENGINE_EVERY_SECONDS`; True when a scheduler was started."""
        if not self.warm_engine or self._closing or self.catalogue is None:
            return False
        if self.hardware_panel.backend() == "ray":
            return False  # sweeps go to the cluster; a single run there is refused
        now = time.monotonic()
        if self._warmed_at is not None and now - self._warmed_at < WARM_ENGINE_EVERY_SECONDS:
            return False
        self._warmed_at = now
        return self.queue.warm()

    def _update_actions(self) -> None:
        can_run = self.catalogue is not None and self.config.is_valid() and not self._closing
        self.run_button.setEnabled(can_run)
        self.actions.run.setEnabled(can_run)
        runs = self._sweep_runs()
        self.run_button.setText("Run" if runs is None else f"Run sweep ({runs} runs)")
        live = any(e.live and not e.stop_requested for e in self.queue.entries)
        self.stop_button.setEnabled(live)
        self.actions.stop.setEnabled(live)
        running, waiting = len(self.queue.running()), len(self.queue.waiting())
        state = "idle" if not running and not waiting else f"{running} running, {waiting} waiting"
        workers = self.queue.workers
        self.engine_state.setText(
            f"engine: {state}  ·  {workers} worker{'s' if workers != 1 else ''}"
        )

    def _sweep_runs(self) -> int | None:
        """How many runs the form's sweep makes; None when no field is swept (or one is refused)."""
        try:
            sweep = self.config.sweep()
        except SweepInputError:
            return None
        return None if sweep is None else sweep.runs

    def confirm_large_sweep(self, runs: int) -> bool:
        """Ask before a sweep of more than SWEEP_CONFIRM_RUNS runs is queued."""
        answer = QMessageBox.question(
            self,
            "Run a large sweep?",
            f"This sweep makes {runs} runs (more than {SWEEP_CONFIRM_RUNS}). Queue them all?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def start_sweep(self) -> bool:
        """Queue the form's sweep with the engine's scheduler; False when refused or declined."""
        document = self.config.sweep_document()
        runs = self._sweep_runs()
        if document is None or runs is None:
            self._update_actions()
            return False
        if runs > SWEEP_CONFIRM_RUNS and not self.confirm_large_sweep(runs):
            self.statusBar().showMessage(f"Sweep of {runs} runs not queued", 5000)
            return False
        if self.hardware_panel.backend() == "ray":
            # a local scheduler serving nothing (warmed ahead of a Run) would take its points
            self.queue.stop_idle_schedulers()
        self.studio_panels.launch_sweep(document, self.hardware_panel.workers.value())
        self.statusBar().showMessage(f"Sweep of {runs} runs: checking every point…", 10_000)
        return True

    def start_run(self) -> QueueEntry | None:
        """Queue the form's spec with the engine (`RunQueue.submit`); its scheduler starts it
        when a worker is free. A form with a swept field queues a sweep instead
        (`start_sweep`; returns None)."""
        if not self.run_button.isEnabled():
            return None
        if self._sweep_runs() is not None:
            self.start_sweep()
            return None
        spec = self.config.build_spec()
        if spec is None:
            self._update_actions()
            return None
        entry = self.queue.submit(spec, self.config.algorithm.plot)
        self.settings.setValue(keys.LAST_SPEC, spec.to_toml())
        self.statusBar().showMessage(f"{spec.title}: queued for the engine's scheduler", 5000)
        return entry

    def stop_selected(self) -> None:
        entry = self.queue_view.selected_entry()
        if entry is None or not entry.live:
            live = [e for e in self.queue.entries if e.live and not e.stop_requested]
            entry = live[-1] if live else None
        if entry is None:
            return
        reason = self.queue.stop(entry)
        if reason:
            self.statusBar().showMessage(f"Not stopped: {reason}", 10_000)
        self._update_actions()

    def _run_started(self, entry: QueueEntry) -> None:
        if self.actions.follow_runs.isChecked():
            self.watch.show_run(entry.run_id, entry.plot_kind, entry.title, focus=not entry.adopted)
            if not entry.adopted:
                self._showing_run = True  # followed, not picked by the user
                try:
                    self.queue_view.select(entry)
                finally:
                    self._showing_run = False

    def _run_ended(self, entry: QueueEntry) -> None:
        who = f"Run {entry.run_id}" if entry.run_id is not None else f"“{entry.title}”"
        if entry.state in ("failed", "interrupted"):
            # An interrupted run has no traceback: its reason is all that is known.
            reason = entry.error or (
                "the engine stopped without finishing"
                if entry.state == "interrupted"
                else "no message"
            )
            text = f"{who} {entry.state}: {reason}"
            if entry.run_id is not None and entry.state == "failed":
                text += f"  (full traceback in the history, or: tradeoff show {entry.run_id})"
            self.notices.notify(text)
            self.statusBar().showMessage(text, 15_000)
        elif entry.state == "finished":
            self.statusBar().showMessage(f"{who} finished: {entry.title}", 10_000)
        self._update_actions()
        if self._closing and not self.queue.in_flight():
            self.close()

    def _queue_problem(self, text: str) -> None:
        self.notices.notify(text)
        self.statusBar().showMessage(text, 15_000)

    def _entry_selected(self, entry: QueueEntry) -> None:
        if entry.run_id is None or self._showing_run:
            return
        self.watch.show_run(entry.run_id, entry.plot_kind, entry.title, focus=True)
        self.show_panel(self.watch)
        self.run_selected.emit(entry.run_id)

    def _tile_focused(self, run_id: int) -> None:
        self._showing_run = True
        try:
            self.queue_view.select_run(run_id)
        finally:
            self._showing_run = False
        self.run_selected.emit(run_id)

    # -- specs --------------------------------------------------------------------------
    def load_spec(self, path) -> bool:
        if self.catalogue is None:
            self.statusBar().showMessage(
                "The catalogue is still loading; try again in a moment.", 5000
            )
            return False
        self.setup_tabs.setCurrentIndex(0)
        loaded = self.config.load_file(path)
        if loaded:
            self.warm_engine_now()
        return loaded

    def load_example(self, path) -> bool:
        return self.load_spec(path)

    # -- stores -------------------------------------------------------------------------
    def open_store(self, path) -> bool:
        """Switch to the store at `path`; anything that is not one is refused with a message."""
        in_flight = self.queue.in_flight()
        if in_flight:
            self.show_message(
                "Runs are still going",
                f"{len(in_flight)} run(s) of this window still write to {self.store.path}. "
                "Stop them or let them finish before switching stores.",
            )
            return False
        try:
            # Refuses, untouched, any file that is not a store; makes or migrates one that must be.
            new_store = open_reader(path)
        except StoreError as err:
            self.show_message(
                "Not a Tradeoff Studio store", f"{err}\n\nThe studio stays on {self.store.path}."
            )
            return False
        old_store, self.store = self.store, new_store
        self.watch.set_store(new_store)
        self.queue.set_store(new_store)
        self.store_changed.emit(new_store)
        old_store.close()
        self.settings.setValue(keys.LAST_STORE, str(new_store.path))
        self._show_store_label()
        self.statusBar().showMessage(f"Opened store {new_store.path}", 8000)
        return True

    def _show_store_label(self) -> None:
        self.store_label.setText(f"store: {self.store.path.name}")
        self.store_label.setToolTip(str(self.store.path))
        self.setWindowTitle(f"Tradeoff Studio — {self.store.path.name}")

    # -- comfort --------------------------------------------------------------------------
    def show_message(self, title: str, text: str) -> QMessageBox:
        """A message that does not block: the studio keeps working while it shows."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.open()
        self.last_message = box
        return box

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle("About Tradeoff Studio")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(about_html(self.hardware, str(self.store.path)))
        box.open()
        self.last_message = box
        return box

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        self.theme = apply_theme(app, name) if app is not None else "light"
        self.actions.themes[self.theme].setChecked(True)
        self.settings.setValue(keys.THEME, self.theme)
        for tile in self.watch.tiles:
            tile.set_focused(tile.focused)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._layout_restored:
            self._layout_restored = True
            self._shown_at = time.monotonic()
            window_settings.restore_layout(self)

    def ask_close_choice(self, in_flight: list[QueueEntry]) -> str:
        """'stop', 'background' or 'cancel': what to do with this window's runs that go on."""
        return ask_about_runs_in_flight(self, in_flight)

    def closeEvent(self, event) -> None:
        in_flight = self.queue.in_flight()
        if in_flight and not self._closing:
            choice = self.ask_close_choice(in_flight)
            if choice == "cancel":
                event.ignore()
                return
            if choice == "stop":
                self._closing = True
                self.queue.stop_all()
                if self.queue.in_flight():
                    # The window closes once the engines have recorded their runs as cancelled.
                    self.statusBar().showMessage(
                        f"Stopping {len(self.queue.in_flight())} run(s); the window "
                        "closes once they have stopped…"
                    )
                    self._update_actions()
                    event.ignore()
                    return
        if self.queue.in_flight():
            # "Let them finish", or a second close while stopping: the engines go on alone.
            self.queue.release_all()
        if self._follows_focus:
            self._follows_focus = False
            QApplication.instance().focusChanged.disconnect(self._focus_changed)
        window_settings.save(self)
        self.catalogue_loader.cancel()
        self.hardware_loader.cancel()
        self.queue.stop_polling()
        self.watch.stop_timers()
        self.studio_panels.stop_polling()
        super().closeEvent(event)
