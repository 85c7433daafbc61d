"""A notice bar: failures reported without a modal dialog, so the studio keeps working.

The newest notice shows; the bar says how many more there are. Dismissing it clears
them all.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

# (background, text, border): fixed colours, legible in the light and the dark theme.
KIND_COLOURS = {
    "error": ("#fdecea", "#7f1d1d", "#e6a5a0"),
    "info": ("#e8f1fb", "#1d3b5f", "#a9c6e8"),
}


class NoticeBar(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.notices: list[tuple[str, str]] = []  # (kind, text)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.close_button.clicked.connect(self.dismiss)
        self.hide()

    def notify(self, text: str, kind: str = "error") -> None:
        self.notices.append((kind, text))
        more = len(self.notices) - 1
        shown = html.escape(text) + (f"  <i>(and {more} earlier)</i>" if more else "")
        self.label.setText(shown)
        background, text_colour, border = KIND_COLOURS.get(kind, KIND_COLOURS["info"])
        self.setStyleSheet(
            f"NoticeBar {{ background: {background}; border: 1px solid {border}; border-radius: 3px; }}"
            f" QLabel, QToolButton {{ color: {text_colour}; background: transparent; border: none; }}"
        )
        self.show()

    def text(self) -> str:
        return self.notices[-1][1] if self.notices else ""

    def dismiss(self) -> None:
        self.notices.clear()
        self.hide()
