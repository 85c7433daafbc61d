"""The sweep view: a summary metric against a swept parameter, one line per value of a second.

Each point is one run of the sweep: its summary at the chosen metric (final, at step, best or
AUC: `engine.metrics.run_summary`) with the 95% band over its seeds, drawn both as a shaded
band along the line and as an error bar at the point. The x axis is logarithmic where the
swept key is log-spaced (the sweep says which), categorical where its values are not numbers
(an algorithm id). Keys that are neither on x nor the lines are fixed at one value each (a
slice of the grid), or "any" for a continuum (a random sweep). Lines grow while the sweep
runs: `LiveSweep` re-reads only what changed, once a second, in a thread of its own; the
view draws it at most every 250 ms while it is shown, moving its existing items.

Beside the plot, tests between the groups of runs that share a value of a chosen key
(`GroupStatsTable`), on the kept seeds' values at the same summary.

Embedding: `SweepView(store, sweep_id)`; `run_activated(run_id)` when a point is clicked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.metrics.run_summary import RunSummary
from engine.store import LIVE_STATUSES
from studio.export.figure import Curve, Figure
from studio.sweeps.data import (
    FEW_VALUES,
    SweepData,
    point_label,
    seed_values_by_group,
    summaries_csv,
    value_text,
)
from studio.sweeps.group_stats_panel import GroupStatsTable
from studio.sweeps.live import LiveSweep, Redraws, SummaryChoice, set_text
from studio.sweeps.sticky_range import StickyRange
from studio.views import plot_style
from studio.views.hover import HOVER_RADIUS_PX, Hover, HoverReadout, pixel_distances

ANY = object()  # a key left free: every value of it is drawn
NO_LINES = ""


@dataclass
class SweepLine:
    """One line: the points whose line key has one value, sorted by x."""

    label: str
    x: np.ndarray  # the swept values, or category positions 0, 1, ... for non-numbers
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray
    run_ids: list[int]
    band_from_kept: bool


def sweep_lines(
    sweep: SweepData,
    summaries: dict[int, RunSummary],
    x_key: str,
    line_key: str = NO_LINES,
    fixed: dict | None = None,
) -> tuple[list[SweepLine], list | None]:
    """The lines to draw, and the categories of x (None when x is numeric).

    Points without a run, or whose run has no value at the summary yet, are left out; so are
    points whose fixed keys have other values."""
    fixed = fixed or {}
    categories = None if sweep.is_numeric(x_key) else sweep.values_of(x_key)
    line_values = sweep.values_of(line_key) if line_key else [None]
    lines = []
    for line_value in line_values:
        chosen = [
            p
            for p in sweep.points
            if p.run_id in summaries
            and (not line_key or p.values.get(line_key) == line_value)
            and all(p.values.get(k) == v for k, v in fixed.items())
        ]
        if not chosen:
            continue
        xs = np.array(
            [
                categories.index(p.values.get(x_key)) if categories else p.values.get(x_key)
                for p in chosen
            ],
            dtype=float,
        )
        order = np.argsort(xs, kind="stable")
        chosen = [chosen[i] for i in order]
        runs = [summaries[p.run_id] for p in chosen]
        lines.append(
            SweepLine(
                f"{line_key} = {value_text(line_value)}" if line_key else "",
                xs[order],
                np.array([s.mean for s in runs]),
                np.array([s.lo for s in runs]),
                np.array([s.hi for s in runs]),
                np.array([s.n for s in runs]),
                [p.run_id for p in chosen],
                any(s.band_from_kept for s in runs),
            )
        )
    return lines, categories


class LineItems:
    """What one line is drawn with: its band, its error bars, the mean line with its points.

    Made once per line and updated in place (`show`): while a sweep streams, the view
    refreshes every second, and building the items again each time cost their signal
    connections and every cached picture of the plot (bench/sweep_stall.py)."""

    def __init__(self, plot_item: pg.PlotItem, colour):
        # invisible but drawn: a curve without a pen keeps no path for the band to fill
        self.band_lo = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 0))
        self.band_hi = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 0))
        self.band = pg.FillBetweenItem(
            self.band_lo, self.band_hi, brush=plot_style.band_brush(colour)
        )
        self.bars = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(*colour, 200, width=1.2))
        self.mean = pg.PlotDataItem(
            pen=plot_style.mean_pen(colour),
            symbol="o",
            symbolSize=7,
            symbolBrush=pg.mkBrush(*colour),
            symbolPen=pg.mkPen("w"),
        )
        for item in self.graphics():
            plot_item.addItem(item)

    def graphics(self) -> tuple:
        return (self.band_lo, self.band_hi, self.band, self.bars, self.mean)

    def show(self, line: SweepLine) -> None:
        has_band = np.isfinite(line.lo) & np.isfinite(line.hi)
        lo = np.where(has_band, line.lo, line.mean)
        hi = np.where(has_band, line.hi, line.mean)
        # the band's path is made again whenever an edge changes: once, after both have
        self.band_lo.blockSignals(True)
        self.band_lo.setData(line.x, lo)
        self.band_lo.blockSignals(False)
        self.band_hi.setData(line.x, hi)
        xs = np.repeat(line.x[has_band], 2)
        ys = np.column_stack([line.lo[has_band], line.hi[has_band]]).reshape(-1)
        self.bars.setData(xs, ys)
        self.mean.setData(line.x, line.mean, data=line.run_ids)


def same_lines(a: list[SweepLine], b: list[SweepLine]) -> bool:
    """Whether two sets of lines draw the same (NaN equal to NaN: a band not there yet)."""
    if len(a) != len(b):
        return False
    for p, q in zip(a, b):
        if p.label != q.label or p.run_ids != q.run_ids or p.band_from_kept != q.band_from_kept:
            return False
        for u, v in ((p.x, q.x), (p.mean, q.mean), (p.lo, q.lo), (p.hi, q.hi), (p.n, q.n)):
            if not np.array_equal(u, v, equal_nan=True):
                return False
    return True


class SweepView(QWidget):
    run_activated = Signal(int)  # a point was clicked: the id of its run

    def __init__(self, store, sweep_id: int, parent=None, live: LiveSweep | None = None):
        super().__init__(parent)
        self.live = live or LiveSweep(store, sweep_id, self, seeds=True)
        self.live.want_seeds()
        self.lines: list[SweepLine] = []
        self.categories: list | None = None
        self.items: list[LineItems] = []
        self.redraws = Redraws(self, self.redraw)
        # what is drawn now: only what changes is set again
        self._drawn_log_x: bool | None = None
        self._drawn_ticks = None
        self._drawn_labels: tuple | None = None
        self._legend_labels: list[str] = []
        self._legend_corner = ""
        self._stats_input = None
        self._fixed_combos: dict[str, QComboBox] = {}

        self.choice = SummaryChoice()
        self.x_combo = QComboBox()
        self.x_combo.setToolTip("The swept key along the x axis.")
        self.line_combo = QComboBox()
        self.line_combo.setToolTip("One line per value of this swept key.")
        self.fixed_bar = QHBoxLayout()
        self.progress = QLabel()
        self.progress.setStyleSheet("color: #505050;")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #505050;")
        self.plot = plot_style.new_plot("", "top-left", downsampling=False)
        self.plot_item = self.plot.getPlotItem()
        self.plot_item.legend.setVisible(False)
        self.ranges = StickyRange(self.plot_item)
        self.hover = HoverReadout(self.plot, self._describe)
        self.group_combo = QComboBox()
        self.group_combo.setToolTip(
            "Groups of runs: one per value of this key (the other keys as the plot fixes them); "
            "each group pools its runs' kept seeds' values at the summary."
        )
        self.stats = GroupStatsTable()
        self.export_button = QPushButton("Export sweep CSV…")
        self.export_button.setToolTip(
            "Every point of the sweep with its run's summary (mean, 95% band, n) as NAME.csv, "
            "and the tests between groups as NAME-tests.csv."
        )
        self.export_button.clicked.connect(self._export_clicked)

        keys_bar = QHBoxLayout()
        keys_bar.addWidget(QLabel("x:"))
        keys_bar.addWidget(self.x_combo, 1)
        keys_bar.addWidget(QLabel("lines:"))
        keys_bar.addWidget(self.line_combo, 1)
        keys_bar.addLayout(self.fixed_bar)
        keys_bar.addStretch(0)
        keys_bar.addWidget(self.progress)
        plot_area = QWidget()
        plot_layout = QVBoxLayout(plot_area)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        plot_layout.addWidget(self.plot, 1)
        notes_bar = QHBoxLayout()
        notes_bar.addWidget(self.notes, 1)
        notes_bar.addWidget(self.export_button)
        plot_layout.addLayout(notes_bar)
        stats_area = QWidget()
        stats_layout = QVBoxLayout(stats_area)
        stats_layout.setContentsMargins(0, 0, 0, 0)
        group_bar = QHBoxLayout()
        group_bar.addWidget(QLabel("tests between groups of:"))
        group_bar.addWidget(self.group_combo)
        group_bar.addStretch(1)
        stats_layout.addLayout(group_bar)
        stats_layout.addWidget(self.stats, 1)
        # the table below the plot: its nine columns need the width
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(plot_area)
        splitter.addWidget(stats_area)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.choice)
        layout.addLayout(keys_bar)
        layout.addWidget(splitter, 1)

        self._fill_keys()
        self.choice.set_metrics(self.live.runs.metrics())
        self.choice.changed.connect(self.redraw)
        self.x_combo.currentIndexChanged.connect(self._keys_changed)
        self.line_combo.currentIndexChanged.connect(self._keys_changed)
        self.group_combo.currentIndexChanged.connect(self.redraw)
        self.live.updated.connect(self._updated)
        self._keys_changed()

    # -- keys ---------------------------------------------------------------------------------
    @property
    def sweep(self) -> SweepData:
        return self.live.sweep

    def _fill_keys(self) -> None:
        keys = self.sweep.keys
        for combo in (self.x_combo, self.line_combo, self.group_combo):
            combo.blockSignals(True)
            combo.clear()
        self.x_combo.addItems(keys)
        self.line_combo.addItem("(none)", NO_LINES)
        for key in keys:
            self.line_combo.addItem(key, key)
            self.group_combo.addItem(key, key)
        # the first key along x, the second (when it has few values) as lines
        if len(keys) > 1 and len(self.sweep.values_of(keys[1])) <= FEW_VALUES:
            self.line_combo.setCurrentIndex(2)
        for combo in (self.x_combo, self.line_combo, self.group_combo):
            combo.blockSignals(False)

    def x_key(self) -> str:
        return self.x_combo.currentText()

    def line_key(self) -> str:
        key = self.line_combo.currentData()
        return NO_LINES if key in (None, self.x_key()) else key

    def set_keys(self, x_key: str, line_key: str = NO_LINES) -> None:
        self.x_combo.setCurrentText(x_key)
        self.line_combo.setCurrentIndex(self.line_combo.findData(line_key))

    def fixed(self) -> dict:
        """The keys fixed at one value ({key: value}); keys left at "any" are not in it."""
        out = {}
        for key, combo in self._fixed_combos.items():
            value = combo.currentData()
            if value is not ANY:
                out[key] = value
        return out

    def set_fixed(self, key: str, value) -> None:
        combo = self._fixed_combos[key]
        for i in range(combo.count()):
            if combo.itemData(i) is not ANY and combo.itemData(i) == value:
                combo.setCurrentIndex(i)
                return
        raise KeyError(f"{key} has no value {value!r}")

    def _keys_changed(self, *_):
        free = [k for k in self.sweep.keys if k not in (self.x_key(), self.line_key())]
        while self.fixed_bar.count():
            widget = self.fixed_bar.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self._fixed_combos = {}
        for key in free:
            combo = QComboBox()
            values = self.sweep.values_of(key)
            combo.addItem("any", ANY)
            for value in values:
                combo.addItem(value_text(value), value)
            # a few values: show one slice; a continuum: all of it
            combo.setCurrentIndex(1 if 0 < len(values) <= FEW_VALUES else 0)
            combo.setToolTip(f"Only the points with this value of {key}.")
            combo.currentIndexChanged.connect(self.redraw)
            self.fixed_bar.addWidget(QLabel(f"{key}:"))
            self.fixed_bar.addWidget(combo)
            self._fixed_combos[key] = combo
        if self.group_combo.findData(self.line_key() or self.x_key()) >= 0:
            self.group_combo.blockSignals(True)
            self.group_combo.setCurrentIndex(
                self.group_combo.findData(self.line_key() or self.x_key())
            )
            self.group_combo.blockSignals(False)
        self.redraw()

    # -- data ---------------------------------------------------------------------------------
    def _updated(self, _changed) -> None:
        if self.x_combo.count() != len(self.sweep.keys):
            self._fill_keys()
        self.choice.set_metrics(self.live.runs.metrics())
        self.redraws.request()

    def refresh(self) -> None:
        """Read what is new now and draw it (the view also reads on its own, once a second,
        and then draws at most every REDRAW_MS, only while it is shown)."""
        self.live.refresh()
        self.redraws.flush()

    def summaries(self) -> dict[int, RunSummary]:
        return self.live.runs.summaries(self.sweep, self.choice.metric(), self.choice.summary())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.redraws.shown()

    # -- drawing ------------------------------------------------------------------------------
    def redraw(self, *_):
        """Draw the current choice; items are updated in place, and what did not change (the
        lines, the axis mode, ticks and labels, the tests' groups) is not touched, so that
        the plot's cached pictures survive a refresh that brought nothing for it."""
        self.redraws.done()
        metric, summary = self.choice.metric(), self.choice.summary()
        x_key = self.x_key()
        set_text(self.progress, f"{self.sweep.name}: {self.sweep.progress()}")
        if not metric or not x_key:
            self.lines = []
            self._draw_lines([], False)
            set_text(self.notes, "No run of the sweep has recorded anything yet.")
            return
        summaries = self.summaries()
        fixed = self.fixed()
        lines, self.categories = sweep_lines(self.sweep, summaries, x_key, self.line_key(), fixed)
        log_x = self.categories is None and self.sweep.is_log(x_key)
        if self._drawn_log_x != log_x:
            self.plot_item.setLogMode(x=log_x, y=False)
            self._drawn_log_x = log_x
        self._draw_lines(lines, log_x)
        self._fit_x(x_key, log_x)
        if self.lines:
            self.ranges.fit(
                np.concatenate([np.r_[line.lo, line.mean, line.hi] for line in self.lines]),
                growing=any(point.status in LIVE_STATUSES for point in self.sweep.points),
            )
        ticks = (
            None
            if self.categories is None
            else [[(i, value_text(v)) for i, v in enumerate(self.categories)]]
        )
        if ticks != self._drawn_ticks:
            self.plot_item.getAxis("bottom").setTicks(ticks)
            self._drawn_ticks = ticks
        labels = (x_key + (" (log)" if log_x else ""), summary.label(metric))
        if labels != self._drawn_labels:
            plot_style.set_axis_labels(self.plot, *labels)
            self._drawn_labels = labels
        drawn = sum(len(line.x) for line in self.lines)
        notes = [
            f"{drawn} runs drawn; each point is one run: mean over its seeds with the 95% t-band"
        ]
        if any(line.band_from_kept for line in self.lines):
            notes.append("AUC bands from the kept seeds' own areas (n = kept seeds)")
        if fixed:
            notes.append("fixed: " + ", ".join(f"{k} = {value_text(v)}" for k, v in fixed.items()))
        set_text(self.notes, "; ".join(notes))
        self._update_stats(summaries, metric, summary, fixed)

    def _fit_x(self, x_key: str, log_x: bool) -> None:
        """The x range spans every value of the x key in the sweep's points, drawn or not:
        set once, it does not move (nor make the view box fit its items again at each
        paint) while the points stream in."""
        if self.categories is not None:
            lo, hi = 0.0, float(len(self.categories) - 1)
        else:
            values = np.array([float(v) for v in self.sweep.values_of(x_key)], dtype=float)
            if log_x:
                values = np.log10(values)
            values = values[np.isfinite(values)]
            if not values.size:
                return
            lo, hi = float(values.min()), float(values.max())
        self.ranges.fit_x(lo, hi)

    def _draw_lines(self, lines: list[SweepLine], log_x: bool) -> None:
        """Update the items of each line in place; items are made or removed only when the
        number of lines changes, the legend only when their labels do."""
        if same_lines(lines, self.lines) and len(self.items) == len(lines):
            self.lines = lines
            return
        self.lines = lines
        while len(self.items) < len(lines):
            items = LineItems(self.plot_item, plot_style.run_colour(len(self.items)))
            items.mean.sigPointsClicked.connect(self._clicked)
            self.items.append(items)
        while len(self.items) > len(lines):
            for item in self.items.pop().graphics():
                self.plot_item.removeItem(item)
        for items, line in zip(self.items, lines):
            items.show(line)
        labels = [line.label for line in lines]
        if labels != self._legend_labels:
            legend = self.plot_item.legend
            legend.clear()
            for items, label in zip(self.items, labels):
                if label:
                    legend.addItem(items.mean, label)
            self._legend_labels = labels
        self._place_legend(log_x)

    def _place_legend(self, log_x: bool) -> None:
        """The legend goes where it hides fewest points and error bars; one line needs none
        (an empty legend would still draw its frame)."""
        legend = self.plot_item.legend
        if legend.isVisible() != (len(self.lines) > 1):
            legend.setVisible(len(self.lines) > 1)
        if not self.lines:
            return
        xs = np.concatenate([np.repeat(line.x, 3) for line in self.lines])
        ys = np.concatenate(
            [np.column_stack([line.lo, line.mean, line.hi]).reshape(-1) for line in self.lines]
        )
        if log_x:
            xs = np.log10(xs)
        corner = plot_style.emptiest_corner(xs, ys)
        if corner != self._legend_corner:
            legend.setOffset(plot_style.legend_offset(corner))
            self._legend_corner = corner

    def _update_stats(self, summaries, metric, summary, fixed) -> None:
        key = self.group_combo.currentData()
        if not key:
            self.stats.set_groups({}, [])
            return
        within = {k: v for k, v in fixed.items() if k != key}
        groups = seed_values_by_group(self.sweep, summaries, key, within)
        pooled_over = [k for k in self.sweep.keys if k != key and k not in within]
        header = [
            f"sweep {self.sweep.id} ({self.sweep.name})",
            f"summary: {summary.label(metric)}",
            f"groups: {key}" + (f"; fixed {within}" if within else ""),
        ]
        note = ""
        if pooled_over:
            note = f"Each group pools its runs over {', '.join(pooled_over)}."
            header.append(note[0].lower() + note[1:-1])
        # streaming: the tests in a worker thread (the table fills itself when they are done)
        self.stats.set_groups(groups, header, note, background=self.redraws.streaming)

    # -- export -------------------------------------------------------------------------------
    def csv_text(self) -> str:
        """Every point of the sweep with its run's summary at the chosen metric."""
        metric, summary = self.choice.metric(), self.choice.summary()
        return summaries_csv(
            self.sweep,
            self.summaries() if metric else {},
            [f"sweep {self.sweep.id} ({self.sweep.name}): {self.sweep.progress()}"],
            summary.label(metric) if metric else "",
        )

    def export_csv(self, path) -> list[Path]:
        """Write PATH (the points) and, when there are tests, PATH-tests.csv; the files written."""
        path = Path(path)
        path.write_text(self.csv_text(), encoding="utf-8")
        written = [path]
        if self.stats.rows:
            tests = path.with_name(f"{path.stem}-tests{path.suffix or '.csv'}")
            self.stats.export_csv(tests)
            written.append(tests)
        return written

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the sweep", f"sweep-{self.sweep.id}.csv", "CSV (*.csv)"
        )
        if path:
            self.export_csv(path)

    def current_figure(self) -> Figure:
        """The plot as an export figure: one curve per line. Export draws linear axes, so a
        log-spaced key goes out as log10 of its values, and categories as their positions
        (the axis label says which)."""
        metric, summary = self.choice.metric(), self.choice.summary()
        x_key = self.x_key()
        log_x = self.categories is None and self.sweep.is_log(x_key)
        if self.categories is not None:
            names = ", ".join(f"{i} = {value_text(v)}" for i, v in enumerate(self.categories))
            x_label = f"{x_key} ({names})"
        else:
            x_label = f"log10 {x_key}" if log_x else x_key
        figure = Figure(
            f"{summary.label(metric)} by {x_key}" if metric else "", x_label, summary.label(metric)
        )
        for line in self.lines:
            xs = np.log10(line.x) if log_x else line.x
            figure.curves.append(
                Curve(line.label or summary.label(metric), xs, line.mean, line.lo, line.hi)
            )
        return figure

    def _clicked(self, _item, points, *_):
        if len(points):
            self.run_activated.emit(int(points[0].data()))

    def _describe(self, x: float, y: float) -> Hover | None:
        best = None
        log_x = self.plot_item.getAxis("bottom").logMode
        for line in self.lines:
            xs = np.log10(line.x) if log_x else line.x
            if not len(xs):
                continue
            distances = pixel_distances(self.plot, xs, line.mean, x, y)
            k = int(np.argmin(distances))
            if distances[k] <= HOVER_RADIUS_PX and (best is None or distances[k] < best[0]):
                best = (distances[k], line, k, float(xs[k]))
        if best is None:
            return None
        _, line, k, px = best
        point = next(p for p in self.sweep.points if p.run_id == line.run_ids[k])
        text = (
            f"{point_label(self.sweep, point)}\n"
            f"{line.mean[k]:.6g} [{line.lo[k]:.6g}, {line.hi[k]:.6g}], n = {int(line.n[k])}"
        )
        return Hover(px, float(line.mean[k]), text)

    def stop(self) -> None:
        self.live.stop()
