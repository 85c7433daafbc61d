"""The menu bar and its shortcuts, built for a MainWindow.

File: load/save a spec, the examples, open or create a store, export, quit.
Run: run (Ctrl+R), stop (Ctrl+.), stop all, clear finished, reset the form.
View: the panels (Ctrl+1, Ctrl+2, …), follow new runs, light/dark theme.
Help: About.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from studio import file_dialogs
from studio.configure.examples import Example


@dataclass
class Actions:
    load_spec: QAction
    save_spec: QAction
    examples: QMenu
    open_store: QAction
    new_store: QAction
    export: QAction
    quit: QAction
    run: QAction
    stop: QAction
    stop_all: QAction
    clear_finished: QAction
    reset_form: QAction
    follow_runs: QAction
    themes: dict[str, QAction]
    view_menu: QMenu
    about: QAction


def make_action(window, text: str, slot=None, shortcut=None, tip: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    if slot is not None:
        action.triggered.connect(lambda _=False: slot())
    return action


def build_menus(window, examples: list[Example]) -> Actions:
    """Menus of `window`, wired to its methods (start_run, stop_selected, …) and the file dialogs."""
    bar = window.menuBar()
    std = QKeySequence.StandardKey

    file_menu = bar.addMenu("&File")
    load_spec = make_action(
        window,
        "&Load spec…",
        lambda: file_dialogs.load_spec(window),
        "Ctrl+L",
        "Fill the form from a TOML spec (the file `tradeoff run` reads)",
    )
    save_spec = make_action(
        window,
        "&Save spec as…",
        lambda: file_dialogs.save_spec(window),
        std.Save,
        "Write the form as a TOML spec that `tradeoff run` runs",
    )
    file_menu.addAction(load_spec)
    file_menu.addAction(save_spec)
    examples_menu = file_menu.addMenu("&Examples")
    for example in examples:
        action = make_action(
            window,
            without_mnemonic(example.name),
            lambda p=example.path: window.load_example(p),
            tip=example.description,
        )
        examples_menu.addAction(action)
    examples_menu.setEnabled(bool(examples))
    file_menu.addSeparator()
    open_store = make_action(
        window,
        "&Open store…",
        lambda: file_dialogs.open_store(window),
        "Ctrl+O",
        "Switch to another store file (SQLite)",
    )
    new_store = make_action(
        window,
        "&New store…",
        lambda: file_dialogs.new_store(window),
        None,
        "Start an empty store file",
    )
    file_menu.addAction(open_store)
    file_menu.addAction(new_store)
    file_menu.addSeparator()
    export = make_action(window, "&Export…", None, "Ctrl+E", "Export figures and data")
    export.setEnabled(False)
    file_menu.addAction(export)
    file_menu.addSeparator()
    quit_action = make_action(window, "&Quit", window.close, std.Quit)
    file_menu.addAction(quit_action)

    run_menu = bar.addMenu("&Run")
    run = make_action(
        window,
        "&Run",
        window.start_run,
        "Ctrl+R",
        "Validate the form and queue the run with the engine's scheduler",
    )
    stop = make_action(
        window,
        "&Stop",
        window.stop_selected,
        "Ctrl+.",
        "Cancel the selected run (else the newest live one); what it recorded stays in the store",
    )
    stop_all = make_action(
        window, "Stop &all", window.queue.stop_all, None, "Cancel every run of this window"
    )
    clear = make_action(
        window,
        "&Clear finished",
        window.queue.clear_finished,
        None,
        "Remove the runs that are over from the queue (they stay in the store)",
    )
    reset = make_action(window, "Reset form to &defaults", window.config.reset_to_defaults)
    for action in (run, stop, stop_all, clear):
        run_menu.addAction(action)
    run_menu.addSeparator()
    run_menu.addAction(reset)

    view_menu = bar.addMenu("&View")
    follow = make_action(
        window, "&Follow new runs", None, None, "Show each run in Watch as it starts"
    )
    follow.setCheckable(True)
    follow.setChecked(True)
    view_menu.addSeparator()
    view_menu.addAction(follow)
    theme_menu = view_menu.addMenu("&Theme")
    group = QActionGroup(window)
    themes = {}
    for name in ("light", "dark"):
        action = make_action(window, name.capitalize(), lambda n=name: window.set_theme(n))
        action.setCheckable(True)
        group.addAction(action)
        theme_menu.addAction(action)
        themes[name] = action

    help_menu = bar.addMenu("&Help")
    about = make_action(window, "&About Tradeoff Studio", window.show_about)
    help_menu.addAction(about)
    return Actions(
        load_spec,
        save_spec,
        examples_menu,
        open_store,
        new_store,
        export,
        quit_action,
        run,
        stop,
        stop_all,
        clear,
        reset,
        follow,
        themes,
        view_menu,
        about,
    )


def without_mnemonic(text: str) -> str:
    """`text` for an action, button, check box, tab or group title, where "&" marks a shortcut
    letter: "Agrawal & Goyal" must not show as "Agrawal _Goyal"."""
    return text.replace("&", "&&")
