"""The history table: live rows, numeric sorting, filters, details and summary columns.

Runs are written to a temporary store through a second connection, as an engine
process would; the panel reads through its own.
"""

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.spec import RunSpec
from engine.store import StoreReader
from studio.history.model import COLUMNS, RUN_ID_ROLE
from studio.history.panel import HistoryPanel
from studio.history.summary import SummarySpec, default_direction, seed_mean, summarise

# A hand-made series: two seeds at steps 1, 2, 4, 8; their mean is 5, 4, 2, 3.
STEPS = (1, 2, 4, 8)
SEED_VALUES = ((4.0, 3.0, 1.0, 2.0), (6.0, 5.0, 3.0, 4.0))


def _rows(metric, steps=STEPS, seed_values=SEED_VALUES):
    return [
        (metric, step, seed, values[i], 0.0)
        for seed, values in enumerate(seed_values)
        for i, step in enumerate(steps)
    ]


@pytest.fixture
def make_run(store, toy_catalogue):
    def make(seeds=2, steps=8, name="", params=None, status="finished", series=()):
        spec = RunSpec.from_dict(
            {
                "run": {"seeds": seeds, "steps": steps, "name": name},
                "algorithm": {"id": "toy.every_type", **(params or {})},
                "problem": {"id": "toy.quadratic"},
            },
            toy_catalogue,
        )
        run_id = store.create_run(spec, family="toy", plot="curves")
        store.start_run(run_id, {"device": "cpu", "dtype": "float32", "threads": 1})
        if series:
            store.append(run_id, series)  # as its engine does: while the run is live
        if status != "running":
            store.finish_run(
                run_id,
                status,
                "Traceback (most recent call last):\nValueError: boom"
                if status == "failed"
                else None,
            )
        return run_id

    return make


@pytest.fixture
def panel(qtbot, store):
    reader = StoreReader(store.path)
    widget = HistoryPanel(reader)
    widget.stop_polling()  # the tests call refresh() themselves: no timing in the assertions
    qtbot.addWidget(widget)
    yield widget
    reader.close()


def _column(panel, name_or_index):
    column = COLUMNS.index(name_or_index) if isinstance(name_or_index, str) else name_or_index
    return [panel.proxy.index(r, column).data() for r in range(panel.proxy.rowCount())]


def _ids(panel):
    return [panel.proxy.index(r, 0).data(RUN_ID_ROLE) for r in range(panel.proxy.rowCount())]


def test_summary_statistics_of_a_hand_made_seed_mean():
    """final, best, min, max, value at a step (interpolated) and the trapezoid area of the mean 5, 4, 2, 3."""
    rows = [
        (step, seed, values[i])
        for seed, values in enumerate(SEED_VALUES)
        for i, step in enumerate(STEPS)
    ]
    rows.append((2, -1, 100.0))  # a theory bound: not a seed, not in the mean
    steps, mean = seed_mean(*(np.array(column) for column in zip(*rows)))
    assert steps.tolist() == [1, 2, 4, 8] and mean.tolist() == [5.0, 4.0, 2.0, 3.0]
    value = {
        stat: summarise(steps, mean, SummarySpec("loss", stat, step=6))
        for stat in ("final", "min", "max", "at_step", "auc")
    }
    # at step 6: halfway between step 4 (2.0) and step 8 (3.0); area: 4.5 + 6 + 10
    assert value == {"final": 3.0, "min": 2.0, "max": 5.0, "at_step": 2.5, "auc": 20.5}
    assert summarise(steps, mean, SummarySpec("loss", "best", "min")) == 2.0
    assert summarise(steps, mean, SummarySpec("accuracy", "best", "max")) == 5.0
    assert math.isnan(
        summarise(steps, mean, SummarySpec("loss", "at_step", step=9))
    )  # past the last record
    assert default_direction("cumulative_regret") == "min" and default_direction("loss") == "min"
    assert default_direction("hypervolume") == "max"
    with pytest.raises(ValueError, match="direction"):
        SummarySpec("loss", "best", "up")


def test_summary_columns_in_the_table_equal_the_hand_computed_values(panel, store, make_run):
    make_run(series=_rows("loss"))
    panel.refresh()
    panel.set_summaries(
        [
            SummarySpec("loss", "final"),
            SummarySpec("loss", "best", "min"),
            SummarySpec("loss", "max"),
            SummarySpec("loss", "at_step", step=6),
            SummarySpec("loss", "auc"),
        ]
    )
    n = len(COLUMNS)
    assert [panel.model.headerData(n + i, Qt.Orientation.Horizontal) for i in range(5)] == [
        "loss final",
        "loss best (min)",
        "loss max",
        "loss @ 6",
        "loss area under curve",
    ]
    assert [_column(panel, n + i)[0] for i in range(5)] == ["3", "2", "5", "2.5", "20.5"]


def test_rows_show_the_run_and_sort_numerically(panel, store, make_run):
    for seeds in (2, 10, 3):
        make_run(seeds=seeds, params={"rate": 0.25, "weights": [0.5, 0.5]})
    panel.refresh()
    assert _ids(panel) == [3, 2, 1]  # newest first by default
    first = {name: panel.proxy.index(2, COLUMNS.index(name)).data() for name in COLUMNS}
    assert first["status"] == "finished" and first["algorithm"] == "toy.every_type"
    assert first["problem"] == "toy.quadratic" and first["device"] == "cpu"
    assert first["parameters"].startswith("n=3 · rate=0.25 · flag=true · mode=fast")
    assert "weights=[0.5, 0.5]" in first["parameters"] and "scale=1.0" in first["parameters"]
    panel.table.sortByColumn(COLUMNS.index("seeds"), Qt.SortOrder.AscendingOrder)
    assert _column(panel, "seeds") == ["2", "3", "10"]  # as numbers, not as text ("10" < "2")
    panel.table.sortByColumn(COLUMNS.index("seeds"), Qt.SortOrder.DescendingOrder)
    assert _column(panel, "seeds") == ["10", "3", "2"]


def test_summary_sorting_is_numeric_and_runs_without_the_metric_go_last(panel, store, make_run):
    values = {}
    for final in (10.0, 9.0, 100.0):
        run_id = make_run(series=[("loss", 1, 0, final, 0.0)])
        values[run_id] = final
    make_run()  # no loss recorded
    panel.refresh()
    panel.set_summaries([SummarySpec("loss", "final")])
    column = len(COLUMNS)
    panel.table.sortByColumn(column, Qt.SortOrder.AscendingOrder)
    assert _column(panel, column) == ["9", "10", "100", ""]
    panel.table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    assert _column(panel, column) == ["100", "10", "9", ""]


def test_text_and_status_filters(panel, store, make_run):
    make_run(name="baseline-a")
    make_run(name="probe", params={"mode": "exact"})
    make_run(name="broken", status="failed")
    panel.refresh()
    panel.filter_edit.setText("mode=exact")
    assert _ids(panel) == [2]
    panel.filter_edit.setText("BASELINE")
    assert _ids(panel) == [1]
    panel.filter_edit.setText("")
    panel.status_combo.setCurrentText("failed")
    assert _ids(panel) == [3]
    assert panel.count_label.text() == "1 of 3 runs"
    panel.status_combo.setCurrentText("all")
    assert _ids(panel) == [3, 2, 1]


def test_a_failed_run_shows_its_traceback_and_the_details_its_spec_and_hardware(
    panel, store, make_run
):
    make_run(name="fine")
    failed = make_run(name="broken", status="failed")
    panel.refresh()
    panel.select_runs([failed])
    details = panel.details
    assert details.tabs.currentWidget() is details.error_view
    assert details.error_view.toPlainText().endswith("ValueError: boom")
    assert 'id = "toy.every_type"' in details.spec_view.toPlainText()
    assert details.hardware_view.toPlainText().splitlines()[0].split() == ["device", "cpu"]
    assert "failed" in details.title.text()
    tooltip = panel.proxy.index(0, COLUMNS.index("status")).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "ValueError: boom"


def test_runs_added_or_changed_after_the_widget_was_built_appear_on_the_next_poll(
    panel, store, make_run
):
    panel.refresh()
    assert panel.model.rowCount() == 0
    running = make_run(status="running")
    panel.refresh()
    assert _ids(panel) == [running]
    assert _column(panel, "status") == ["running"] and _column(panel, "steps") == ["0/8"]
    store.append(running, _rows("loss"), steps_done=4)
    panel.refresh()
    assert _column(panel, "steps") == ["4/8"]
    store.finish_run(running, "finished")
    later = make_run()
    panel.refresh()
    assert _ids(panel) == [later, running]
    assert _column(panel, "status") == ["finished", "finished"]
    version = panel.model._data_version
    assert (
        panel.model.refresh() is False and panel.model._data_version == version
    )  # nothing new: no read


def test_the_poll_timer_picks_up_a_new_run(qtbot, store, make_run):
    reader = StoreReader(store.path)
    widget = HistoryPanel(reader)
    qtbot.addWidget(widget)
    make_run(name="from the command line")
    qtbot.waitUntil(lambda: widget.model.rowCount() == 1, timeout=5000)
    assert widget.proxy.index(0, COLUMNS.index("name")).data() == "from the command line"
    widget.stop_polling()
    reader.close()


def _arrow_points_down(panel, column: int) -> bool:
    """Read the sort arrow off the header as drawn: a ▼ is widest in its top row, a ▲ in its
    bottom row. The arrow is the right-most group of dark pixel columns in the section."""
    header = panel.table.horizontalHeader()
    image = header.grab().toImage()
    left, width = header.sectionViewportPosition(column), header.sectionSize(column)

    def dark(x, y):
        return image.pixelColor(x, y).lightness() < 160

    inked = [
        x for x in range(left, left + width - 2) if any(dark(x, y) for y in range(image.height()))
    ]
    arrow = [inked[-1]]
    for x in reversed(inked[:-1]):
        if x != arrow[-1] - 1:
            break
        arrow.append(x)
    rows = [sum(dark(x, y) for x in arrow) for y in range(image.height())]
    rows = [count for count in rows if count]
    assert len(rows) >= 3 and rows[0] != rows[-1], "no sort arrow found"
    return rows[0] > rows[-1]


def test_the_sort_arrow_points_the_way_the_rows_go(qtbot, panel, store, make_run):
    for _ in range(3):
        make_run()
    panel.refresh()
    panel.resize(900, 400)
    panel.show()
    qtbot.waitExposed(panel)
    id_column = COLUMNS.index("id")
    assert _ids(panel) == [3, 2, 1]  # newest first, as the history opens
    assert _arrow_points_down(panel, id_column)
    panel.table.sortByColumn(id_column, Qt.SortOrder.AscendingOrder)
    assert _ids(panel) == [1, 2, 3]
    assert not _arrow_points_down(panel, id_column)


def test_run_names_are_shown_whole(qtbot, panel, store, make_run):
    """Names that share a long beginning are told apart: the column fits them (up to a cap),
    and past the cap the middle is cut, never the end; the tooltip has the whole name."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QStyleOptionViewItem

    from studio.history.panel import NAME_MAX_WIDTH

    names = ["ucb-c0.5-horizon-10000-seedA", "ucb-c0.5-horizon-10000-seedB"]
    for name in names:
        make_run(name=name)
    panel.refresh()  # added after the table was built, as runs are
    column = COLUMNS.index("name")
    assert panel.table.columnWidth(column) >= panel.table.sizeHintForColumn(column)
    long_names = ["ucb-" + "c0.5-horizon-10000-" * 4 + end for end in ("seedA", "seedB")]
    for name in long_names:
        make_run(name=name)
    panel.refresh()
    assert panel.table.columnWidth(column) == NAME_MAX_WIDTH
    shown = []
    for row, name in enumerate(_column(panel, "name")):
        index = panel.proxy.index(row, column)
        assert index.data(Qt.ItemDataRole.ToolTipRole) == name
        option = QStyleOptionViewItem()
        panel.table.itemDelegateForIndex(index).initStyleOption(option, index)
        assert option.textElideMode == Qt.TextElideMode.ElideMiddle
        shown.append(
            QFontMetrics(option.font).elidedText(name, option.textElideMode, NAME_MAX_WIDTH - 8)
        )
    assert len(set(shown)) == 4 and shown[0].endswith("seedB") and "…" in shown[0]


def _mouse(panel, kind, row):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    viewport = panel.table.viewport()
    position = QPointF(
        panel.table.visualRect(panel.proxy.index(row, COLUMNS.index("name"))).center()
    )
    buttons = (
        Qt.MouseButton.NoButton
        if kind == QEvent.Type.MouseButtonRelease
        else Qt.MouseButton.LeftButton
    )
    event = QMouseEvent(
        kind,
        position,
        viewport.mapToGlobal(position),
        Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


def test_selection_and_double_click_follow_the_run_when_rows_come_in(qtbot, panel, store, make_run):
    """A double-click whose first click was on run 2, with two new runs inserted at the top
    between the clicks (the platform sends press, release, double-click, release): run 2 opens
    and stays selected, not run 4 that moved under the pointer."""
    from PySide6.QtCore import QEvent

    for _ in range(3):
        make_run()
    panel.refresh()
    panel.resize(900, 400)
    panel.show()
    qtbot.waitExposed(panel)
    opened = []
    panel.run_activated.connect(opened.append)
    assert _ids(panel)[1] == 2
    _mouse(panel, QEvent.Type.MouseButtonPress, 1)
    _mouse(panel, QEvent.Type.MouseButtonRelease, 1)
    assert panel.selected_ids() == [2]
    make_run()
    make_run()
    panel.refresh()
    assert _ids(panel) == [5, 4, 3, 2, 1] and panel.selected_ids() == [2]
    assert panel.details.record.id == 2
    _mouse(panel, QEvent.Type.MouseButtonDblClick, 1)
    _mouse(panel, QEvent.Type.MouseButtonRelease, 1)
    assert opened == [2] and panel.selected_ids() == [2]
    # An ordinary double-click, nothing inserted: the run under the pointer.
    _mouse(panel, QEvent.Type.MouseButtonPress, 0)
    _mouse(panel, QEvent.Type.MouseButtonRelease, 0)
    _mouse(panel, QEvent.Type.MouseButtonDblClick, 0)
    _mouse(panel, QEvent.Type.MouseButtonRelease, 0)
    assert opened == [2, 5] and panel.selected_ids() == [5]
