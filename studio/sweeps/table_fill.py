"""Filling a QTableWidget without resizing its columns once per cell.

With `ResizeToContents` columns, every `setItem` makes Qt measure the whole column again:
about a millisecond a cell here, so a 28-pair table of tests (250 cells) froze the window
for a third of a second at each refresh while a sweep streamed (bench/sweep_stall.py).
`filling(table)` fixes the columns and stops repaints while the cells are set, then
sizes the columns once.
"""

from __future__ import annotations

from contextlib import contextmanager

from PySide6.QtWidgets import QHeaderView, QTableWidget


@contextmanager
def filling(table: QTableWidget):
    header = table.horizontalHeader()
    modes = [header.sectionResizeMode(i) for i in range(header.count())]
    table.setUpdatesEnabled(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    try:
        yield table
    finally:
        table.resizeColumnsToContents()
        for i, mode in enumerate(modes):
            header.setSectionResizeMode(i, mode)
        table.setUpdatesEnabled(True)
