"""Sorting and filtering of the history: numbers sort as numbers, empty values sort last."""

from __future__ import annotations

import math

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt

from studio.history.model import COLUMNS, SORT_ROLE

ALL_STATUSES = "all"
SEARCHED = ("id", "name", "algorithm", "problem", "parameters", "device", "tags", "notes")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class RunFilterProxy(QSortFilterProxyModel):
    """A status filter and a text filter (every word must appear in some searched column)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.status = ALL_STATUSES
        self.words: list[str] = []

    def set_status(self, status: str) -> None:
        self.beginFilterChange()
        self.status = status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.words = text.lower().split()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        record = self.sourceModel().records[source_row]
        if self.status != ALL_STATUSES and record.row["status"] != self.status:
            return False
        if not self.words:
            return True
        model = self.sourceModel()
        haystack = (
            " ".join(
                str(model.data(model.index(source_row, COLUMNS.index(name), source_parent)) or "")
                for name in SEARCHED
            ).lower()
            + " "
            + (record.row.get("notes") or "").lower()
        )
        return all(word in haystack for word in self.words)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a = self.sourceModel().data(left, SORT_ROLE)
        b = self.sourceModel().data(right, SORT_ROLE)
        # Runs without a value go to the bottom whichever way the column is sorted.
        if _missing(a) or _missing(b):
            if _missing(a) and _missing(b):
                return False
            return _missing(b) if self.sortOrder() == Qt.SortOrder.AscendingOrder else _missing(a)
        if isinstance(a, str) != isinstance(b, str):
            return str(a) < str(b)
        return a < b
