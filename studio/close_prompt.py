"""The question asked when the window closes while its runs go: stop them, or let them
finish in the background (or do not close)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_about_runs_in_flight(parent: QWidget, in_flight: list) -> str:
    """'stop', 'background' or 'cancel'."""
    waiting = sum(e.state in ("submitting", "queued") for e in in_flight)
    going = len(in_flight) - waiting
    text = f"{going} run{' is' if going == 1 else 's are'} still going"
    if waiting:
        text += f" and {waiting} {'is' if waiting == 1 else 'are'} waiting"
    box = QMessageBox(QMessageBox.Icon.Question, "Runs are still going", text + ".", parent=parent)
    box.setInformativeText(
        "Stop them: each is cancelled and keeps what it recorded.\n"
        "Let them finish: the engines go on without the window and record their outcome in the store; "
        "the next start shows it."
        + (
            "\nRuns still waiting stay in the engine's queue (in the store) and start when a "
            "worker is free."
            if waiting
            else ""
        )
    )
    stop = box.addButton("Stop runs and close", QMessageBox.ButtonRole.DestructiveRole)
    background = box.addButton(
        "Let them finish in the background", QMessageBox.ButtonRole.AcceptRole
    )
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    clicked = box.clickedButton()
    return "stop" if clicked is stop else "background" if clicked is background else "cancel"
