"""Choose: the catalogue as families → algorithms, each with its paper title; a search box.

Under the list, the chosen algorithm's paper, one-line summary, plot kind, metrics and
the problems it runs on. The search keeps an algorithm when every word typed occurs
in its id, family, paper, summary or in the ids and titles of its problems.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.registry import Catalogue
from studio.views import kinds

ID_ROLE = Qt.ItemDataRole.UserRole
PAPER_ROLE = Qt.ItemDataRole.UserRole + 1


class AlgorithmDelegate(QStyledItemDelegate):
    """Two lines per algorithm: its id, and its paper title in a quieter colour."""

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(ID_ROLE) is None:
            return size
        return QSize(size.width(), option.fontMetrics.height() * 2 + 8)

    def paint(self, painter, option, index) -> None:
        if index.data(ID_ROLE) is None:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        quiet_role = (
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        )
        rect = opt.rect.adjusted(4, 3, -4, -3)
        line = opt.fontMetrics.height()
        painter.save()
        bold = QFont(opt.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(opt.palette.color(text_role))
        painter.drawText(
            QRect(rect.left(), rect.top(), rect.width(), line),
            Qt.AlignmentFlag.AlignLeft,
            index.data(Qt.ItemDataRole.DisplayRole),
        )
        painter.setFont(opt.font)
        painter.setPen(opt.palette.color(quiet_role))
        paper = opt.fontMetrics.elidedText(
            index.data(PAPER_ROLE) or "", Qt.TextElideMode.ElideRight, rect.width()
        )
        painter.drawText(
            QRect(rect.left(), rect.top() + line, rect.width(), line),
            Qt.AlignmentFlag.AlignLeft,
            paper,
        )
        painter.restore()


class CataloguePane(QWidget):
    algorithm_chosen = Signal(str)  # the user picked an algorithm (or `select` was called)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.catalogue: Catalogue | None = None
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search algorithms, papers, problems…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setItemDelegate(AlgorithmDelegate(self.tree))
        self.tree.setUniformRowHeights(False)
        self.no_match = QLabel("No algorithm matches the search.")
        self.no_match.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.no_match.hide()
        self.details = QLabel("Choose an algorithm.")
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMargin(4)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(QLabel("<b>Choose</b> an algorithm"))
        top_layout.addWidget(self.search)
        top_layout.addWidget(self.tree, 1)
        top_layout.addWidget(self.no_match)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        details_scroll = QScrollArea()
        details_scroll.setWidgetResizable(True)
        details_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        details_scroll.setWidget(self.details)
        self.splitter.addWidget(top)
        self.splitter.addWidget(details_scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 0)
        layout.addWidget(self.splitter)
        self.search.textChanged.connect(self.apply_filter)
        self.tree.currentItemChanged.connect(self._current_changed)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._haystacks: dict[str, str] = {}

    def set_catalogue(self, catalogue: Catalogue) -> None:
        """List `catalogue`; the current algorithm stays current while it is listed (a
        catalogue listed again), without `algorithm_chosen`: nothing was chosen anew."""
        current = self.current_id
        self.catalogue = catalogue
        self.tree.blockSignals(True)
        self.tree.clear()
        self._items.clear()
        self._haystacks.clear()
        families: dict[str, QTreeWidgetItem] = {}
        for ident in catalogue.algorithm_ids():
            entry = catalogue.algorithm(ident)
            family = families.get(entry.family)
            if family is None:
                family = QTreeWidgetItem([entry.family])
                font = family.font(0)
                font.setBold(True)
                family.setFont(0, font)
                family.setFlags(Qt.ItemFlag.ItemIsEnabled)
                families[entry.family] = family
            # Under its family's header the family prefix only repeats it: "ucb1", not "bandits.ucb1".
            item = QTreeWidgetItem([entry.id.removeprefix(entry.family + ".")])
            item.setData(0, ID_ROLE, entry.id)
            item.setData(0, PAPER_ROLE, entry.paper)
            item.setToolTip(0, f"{entry.id}\n{entry.paper}\n{entry.summary}")
            family.addChild(item)
            self._items[entry.id] = item
            problems = [
                catalogue.problem(p) for p in entry.problems if p in catalogue.problem_ids()
            ]
            self._haystacks[entry.id] = " ".join(
                [entry.id, entry.family, entry.paper, entry.summary, entry.plot]
                + [f"{p.id} {p.paper} {p.summary}" for p in problems]
            ).lower()
        for name in sorted(families):
            self.tree.addTopLevelItem(families[name])
            families[name].setExpanded(True)
            self._count_children(families[name])
        if current in self._items:
            self.tree.setCurrentItem(self._items[current])
            self.details.setText(self.describe(current))
        self.tree.blockSignals(False)
        self.apply_filter(self.search.text())

    @staticmethod
    def _count_children(family: QTreeWidgetItem) -> None:
        shown = sum(not family.child(i).isHidden() for i in range(family.childCount()))
        name = family.text(0).split("  (")[0]
        family.setText(0, f"{name}  ({shown})")

    # -- searching ------------------------------------------------------------------------
    def matches(self, ident: str, text: str) -> bool:
        return all(word in self._haystacks[ident] for word in text.lower().split())

    def apply_filter(self, text: str = "") -> None:
        for ident, item in self._items.items():
            item.setHidden(not self.matches(ident, text))
        any_shown = False
        for i in range(self.tree.topLevelItemCount()):
            family = self.tree.topLevelItem(i)
            shown = any(not family.child(j).isHidden() for j in range(family.childCount()))
            family.setHidden(not shown)
            self._count_children(family)
            any_shown |= shown
        self.no_match.setVisible(not any_shown and bool(self._items))

    def visible_algorithms(self) -> list[str]:
        return [
            ident
            for ident, item in self._items.items()
            if not item.isHidden() and not item.parent().isHidden()
        ]

    # -- choosing -------------------------------------------------------------------------
    @property
    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, ID_ROLE) if item is not None else None

    def select(self, ident: str) -> None:
        """Make an algorithm current (clearing a search that hides it)."""
        item = self._items.get(ident)
        if item is None:
            raise KeyError(ident)
        if item.isHidden():
            self.search.clear()
        if self.tree.currentItem() is not item:
            self.tree.setCurrentItem(item)

    def _current_changed(self, current, _previous) -> None:
        ident = current.data(0, ID_ROLE) if current is not None else None
        if ident is None:
            return
        self.details.setText(self.describe(ident))
        self.algorithm_chosen.emit(ident)

    def describe(self, ident: str) -> str:
        entry = self.catalogue.algorithm(ident)
        problems = []
        for pid in entry.problems:
            title = self.catalogue.problem(pid).paper if pid in self.catalogue.problem_ids() else ""
            problems.append(
                f"<li><code>{html.escape(pid)}</code>"
                + (f" — {html.escape(title)}" if title else "")
                + "</li>"
            )
        metrics = ", ".join(entry.metrics) or "—"
        return (
            f"<code>{html.escape(entry.id)}</code><br><b>{html.escape(entry.paper)}</b><br>"
            f"{html.escape(entry.summary)}"
            f"<p><b>Plot:</b> {html.escape(kinds.words_for(entry.plot))}<br>"
            f"<b>Metrics:</b> {html.escape(metrics)}</p>"
            f"<b>Runs on:</b><ul style='margin-left:-20px'>{''.join(problems)}</ul>"
        )
