"""Choose the history's summary columns: metric, statistic, direction of "best", step."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from studio.history.summary import STATISTICS, SummarySpec, default_direction


class SummaryColumnsDialog(QDialog):
    def __init__(self, metrics: list[str], current: list[SummarySpec], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Summary columns")
        self.summaries = list(current)
        self.metric = QComboBox()
        self.metric.setEditable(True)
        self.metric.addItems(metrics)
        self.statistic = QComboBox()
        for key, label in STATISTICS.items():
            self.statistic.addItem(label, key)
        self.direction = QComboBox()
        self.direction.addItems(["min", "max"])
        self.direction.setToolTip(
            'What "best" means for this metric: the smallest (min) or largest (max) mean.'
        )
        self.step = QSpinBox()
        self.step.setRange(1, 100_000_000)
        self.step.setValue(1000)
        self.step.setToolTip('For "at step": the seed-mean interpolated at this step.')
        self.add_button = QPushButton("Add column")
        self.columns = QListWidget()
        self.remove_button = QPushButton("Remove selected")
        form = QFormLayout()
        form.addRow("metric", self.metric)
        form.addRow("statistic", self.statistic)
        form.addRow("best is", self.direction)
        form.addRow("step", self.step)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Each column summarises the mean over seeds of one metric."))
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(QLabel("Columns shown:"))
        layout.addWidget(self.columns)
        layout.addWidget(self.remove_button)
        layout.addWidget(buttons)
        self.metric.currentTextChanged.connect(
            lambda m: self.direction.setCurrentText(default_direction(m))
        )
        self.statistic.currentIndexChanged.connect(self._enable_fields)
        self.add_button.clicked.connect(self.add_current)
        self.remove_button.clicked.connect(self._remove_selected)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        if metrics:
            self.direction.setCurrentText(default_direction(metrics[0]))
        self._enable_fields()
        self._list()

    def _enable_fields(self) -> None:
        statistic = self.statistic.currentData()
        self.direction.setEnabled(statistic == "best")
        self.step.setEnabled(statistic == "at_step")

    def current_spec(self) -> SummarySpec | None:
        metric = self.metric.currentText().strip()
        if not metric:
            return None
        return SummarySpec(
            metric, self.statistic.currentData(), self.direction.currentText(), self.step.value()
        )

    def add_current(self) -> None:
        spec = self.current_spec()
        if spec is not None and spec not in self.summaries:
            self.summaries.append(spec)
            self._list()

    def _remove_selected(self) -> None:
        row = self.columns.currentRow()
        if 0 <= row < len(self.summaries):
            del self.summaries[row]
            self._list()

    def _list(self) -> None:
        self.columns.clear()
        self.columns.addItems([s.title for s in self.summaries])
