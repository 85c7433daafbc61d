"""The "regret" and "curves" plot kinds: metrics against steps, one run or several overlaid.

`RegretView` draws cumulative regret (mean over seeds, 95% band, optional per-seed
lines, every theory bound the run recorded, dashed) on linear or log-log axes.
`CurvesView` draws any of the run's metrics, several at once in stacked plots whose x
axes move together, against steps or wall time, with log y and TensorBoard-style
smoothing. Both draw one run (`render`) or several (`render_overlay`), and both work
offscreen: they need no window, only the data.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.views import plot_style
from studio.views.run_data import RunData
from studio.views.series_plot import X_LABELS, X_STEP, SeriesPlot, SeriesSource
from studio.views.smoothing import MAX_WEIGHT

SMOOTHING_SLIDER_STEPS = 1000


def _controls_row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(4, 0, 4, 0)
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


def seed_lines_text(runs: list[RunData], metric: str | None) -> str:
    """The per-seed toggle's text: says when a run kept the values of only its first seeds
    (the mean and band are over all of them; the lines can only be the kept ones)."""
    kept_total = []
    for data in runs:
        metric_of = metric if metric is not None else next(iter(data.metrics()), None)
        if metric_of is None:
            continue
        table = data.tables.get(metric_of)
        kept_total.append(
            (table.seeds if table is not None and table.rows else 0, data.seed_count(metric_of))
        )
    partial = [(kept, total) for kept, total in kept_total if kept < total]
    if not partial:
        return "per-seed lines"
    if len(kept_total) > 1:
        return "per-seed lines (kept seeds only)"
    kept, total = partial[0]
    return (
        f"per-seed lines (none of {total:,} seeds kept)"
        if kept == 0
        else f"per-seed lines (first {kept:,} of {total:,} seeds kept)"
    )


def _bounds_of(data: RunData) -> dict:
    """Every seed-less series of a regret run is a bound on its regret: upper ones first."""
    return {name: data.bounds[name] for name in plot_style.bounds_in_order(data.bounds)}


class RegretView(QWidget):
    """Cumulative regret against steps, with the run's theory bounds dashed."""

    METRIC = "cumulative_regret"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.log_log = QCheckBox("log–log axes")
        self.log_log.setToolTip(
            "Both axes logarithmic: a regret growing like log t becomes a straight line "
            "against log t only on the x axis, sqrt t a line of slope 1/2."
        )
        self.per_seed = QCheckBox("per-seed lines")
        self.per_seed.setToolTip(
            "Draw each seed's cumulative regret faintly beneath the mean: the seeds whose "
            "values the run kept (its first ones). The mean and band are over all seeds."
        )
        self.series = SeriesPlot("Cumulative regret")
        self.series.set_metric(self.METRIC)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(_controls_row(self.log_log, self.per_seed))
        layout.addWidget(self.series, 1)
        self._sources: list[SeriesSource] = []
        self._overlay = False
        self.log_log.toggled.connect(self.set_log_log)
        self.per_seed.toggled.connect(self.set_per_seed)

    def render(self, data: RunData) -> None:
        self.per_seed.setText(seed_lines_text([data], self.METRIC))
        self._draw([SeriesSource.of("", data, self.METRIC, _bounds_of(data))], overlay=False)

    def render_overlay(self, runs: list[tuple[str, RunData]]) -> None:
        """Several runs' regret in one plot, each in its own colour, labelled in the legend."""
        self.per_seed.setText(seed_lines_text([data for _, data in runs], self.METRIC))
        self._draw(
            [SeriesSource.of(label, data, self.METRIC, _bounds_of(data)) for label, data in runs],
            overlay=True,
        )

    def _draw(self, sources: list[SeriesSource], overlay: bool) -> None:
        self._sources, self._overlay = sources, overlay
        self.series.draw(sources, overlay)

    def set_log_log(self, on: bool) -> None:
        if self.log_log.isChecked() != on:
            self.log_log.setChecked(on)  # comes back here through `toggled`
            return
        self.series.set_log_mode(on, on)

    def set_per_seed(self, on: bool) -> None:
        if self.per_seed.isChecked() != on:
            self.per_seed.setChecked(on)
            return
        self.series.set_per_seed(on)
        self.series.draw(self._sources, self._overlay)


class CurvesView(QWidget):
    """Any recorded metrics, stacked with linked x axes, against steps or wall time."""

    DEFAULT_METRIC = "loss"
    DEFAULT_PLOTS = 3  # metrics shown before the user picks: "loss" first, then in recorded order

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metric_button = QToolButton()
        self.metric_button.setText("metrics")
        self.metric_button.setToolTip("Which recorded metrics to plot, one above the other.")
        self.metric_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.metric_menu = QMenu(self.metric_button)
        self.metric_button.setMenu(self.metric_menu)
        self.x_axis = QComboBox()
        for kind, label in X_LABELS.items():
            self.x_axis.addItem(label, kind)
        self.x_axis.setToolTip("Plot against the step, or against seconds since the run started.")
        self.log_y = QCheckBox("log y")
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, round(MAX_WEIGHT * SMOOTHING_SLIDER_STEPS))
        self.smoothing_slider.setFixedWidth(120)
        self.smoothing_box = QDoubleSpinBox()
        self.smoothing_box.setRange(0.0, MAX_WEIGHT)
        self.smoothing_box.setDecimals(3)
        self.smoothing_box.setSingleStep(0.05)
        for widget in (self.smoothing_slider, self.smoothing_box):
            widget.setToolTip(
                "Exponential moving average weight (TensorBoard's smoothing), applied to the "
                "full-resolution mean before thinning; 0 is off. The raw mean stays faint."
            )
        self.per_seed = QCheckBox("per-seed lines")
        self.per_seed.setToolTip(
            "Draw each kept seed (the run's first ones) faintly beneath the mean; "
            "the mean and band are over all seeds."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(
            _controls_row(
                self.metric_button,
                QLabel("x:"),
                self.x_axis,
                self.log_y,
                QLabel("smoothing:"),
                self.smoothing_slider,
                self.smoothing_box,
                self.per_seed,
            )
        )
        self.plot_area = QVBoxLayout()
        self.plot_area.setSpacing(2)
        layout.addLayout(self.plot_area, 1)
        self.plots: dict[str, SeriesPlot] = {}
        self._runs: list[tuple[str, RunData]] = []
        self._overlay = False
        self._chosen_by_user = False
        self._known: list[str] = []
        self._placeholder = SeriesPlot()  # an empty plot until the first metric arrives
        self.plot_area.addWidget(self._placeholder)
        self.x_axis.currentIndexChanged.connect(
            lambda _: self.set_x_axis(self.x_axis.currentData())
        )
        self.log_y.toggled.connect(self.set_log_y)
        self.smoothing_slider.valueChanged.connect(
            lambda v: self.set_smoothing(v / SMOOTHING_SLIDER_STEPS)
        )
        self.smoothing_box.valueChanged.connect(self.set_smoothing)
        self.per_seed.toggled.connect(self.set_per_seed)

    @property
    def series(self) -> SeriesPlot:
        """The topmost plot."""
        return next(iter(self.plots.values()), self._placeholder)

    @property
    def shown_metrics(self) -> list[str]:
        return list(self.plots)

    @property
    def smoothing(self) -> float:
        return self.smoothing_box.value()

    # -- drawing ----------------------------------------------------------------------------
    def render(self, data: RunData) -> None:
        self._runs, self._overlay = [("", data)], False
        self._draw()

    def render_overlay(self, runs: list[tuple[str, RunData]]) -> None:
        """Several runs in the same plots, each in its own colour, labelled in the legend."""
        self._runs, self._overlay = list(runs), True
        self._draw()

    def _draw(self) -> None:
        self._learn_metrics()
        self.per_seed.setText(seed_lines_text([data for _, data in self._runs], None))
        for metric, plot in self.plots.items():
            plot.draw(
                [SeriesSource.of(label, data, metric) for label, data in self._runs],
                overlay=self._overlay,
            )

    def _learn_metrics(self) -> None:
        seen = list(dict.fromkeys(m for _, data in self._runs for m in data.metrics()))
        fresh = [m for m in seen if m not in self._known]
        if not fresh:
            return
        self._known += fresh
        for metric in fresh:
            action = QAction(plot_style.metric_label(metric), self.metric_menu)
            action.setCheckable(True)
            action.setData(metric)
            action.toggled.connect(self._menu_toggled)
            self.metric_menu.addAction(action)
        if not self._chosen_by_user:
            ordered = sorted(self._known, key=lambda m: m != self.DEFAULT_METRIC)
            self._show(ordered[: self.DEFAULT_PLOTS])

    def _menu_toggled(self, _checked: bool) -> None:
        self._chosen_by_user = True
        self._show([a.data() for a in self.metric_menu.actions() if a.isChecked()], from_menu=True)
        self._draw()

    def set_metrics(self, metrics: list[str]) -> None:
        """Show exactly these metrics, top to bottom (as if chosen in the menu)."""
        self._chosen_by_user = True
        self._show(list(metrics))
        self._draw()

    def _show(self, metrics: list[str], from_menu: bool = False) -> None:
        if not from_menu:
            for action in self.metric_menu.actions():
                action.blockSignals(True)
                action.setChecked(action.data() in metrics)
                action.blockSignals(False)
        for metric in [m for m in self.plots if m not in metrics]:
            plot = self.plots.pop(metric)
            self.plot_area.removeWidget(plot)
            plot.hide()  # at once: deletion waits for the event loop
            plot.deleteLater()
        self.plots = {
            metric: self.plots.get(metric) or self._new_plot(metric) for metric in metrics
        }
        for index, metric in enumerate(metrics):
            self.plot_area.insertWidget(index, self.plots[metric], 1)
        first = next(iter(self.plots.values()), None)
        for plot in self.plots.values():
            plot.plot.setXLink(None if plot is first else first.plot)
            # Linking sets ranges, which turns auto-range off: the first plot follows the
            # data again, the others follow the first.
            plot.view_box.enableAutoRange(y=True)
        if first is not None:
            first.view_box.enableAutoRange()
        # One legend says it for all: the plots draw the same runs in the same styles.
        for plot in self.plots.values():
            plot.plot_item.legend.setVisible(plot is first)
        self._placeholder.setVisible(not self.plots)
        self.metric_button.setText(f"metrics ({len(self.plots)} of {len(self._known)})")

    def _new_plot(self, metric: str) -> SeriesPlot:
        # Losses fall from the top left; the top right is usually the empty corner.
        plot = SeriesPlot(plot_style.metric_label(metric), legend_corner="top-right")
        plot.set_metric(metric)
        plot.set_x_axis(self.x_axis.currentData() or X_STEP)
        plot.set_smoothing(self.smoothing)
        plot.set_per_seed(self.per_seed.isChecked())
        plot.set_log_mode(False, self.log_y.isChecked())
        return plot

    # -- options ----------------------------------------------------------------------------
    def set_x_axis(self, kind: str) -> None:
        index = self.x_axis.findData(kind)
        if index < 0:
            raise ValueError(f"x axis must be one of {list(X_LABELS)}; got {kind!r}")
        if self.x_axis.currentIndex() != index:
            self.x_axis.setCurrentIndex(index)  # comes back here
            return
        for plot in self.plots.values():
            plot.set_x_axis(kind)
        if self.plots:
            self.series.view_box.enableAutoRange()
        self._draw()

    def set_log_y(self, on: bool) -> None:
        if self.log_y.isChecked() != on:
            self.log_y.setChecked(on)
            return
        for plot in self.plots.values():
            plot.set_log_mode(False, on)

    def set_smoothing(self, weight: float) -> None:
        weight = round(float(weight), 3)
        if not 0.0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"smoothing weight must be in [0, {MAX_WEIGHT}]; got {weight}")
        for widget, value in (
            (self.smoothing_box, weight),
            (self.smoothing_slider, round(weight * SMOOTHING_SLIDER_STEPS)),
        ):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        for plot in self.plots.values():
            plot.set_smoothing(weight)
        self._draw()

    def set_per_seed(self, on: bool) -> None:
        if self.per_seed.isChecked() != on:
            self.per_seed.setChecked(on)
            return
        for plot in self.plots.values():
            plot.set_per_seed(on)
        self._draw()
