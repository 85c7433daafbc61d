"""The history's table model: one row per run in the store, kept current by cheap polls.

`refresh()` (called about once a second) first asks SQLite whether anything was
committed since the last look (`PRAGMA data_version`); only then does it read the
runs' changing columns (`StoreReader.run_states`: no spec or hardware text), fetch the full
row of runs that are new or whose status changed, and drop deleted ones. Live runs
are re-read every tick, as their engine may die without writing anything. Summary
columns are computed from a run's seed-mean curve when first shown and cached until
the run records more steps.
"""

from __future__ import annotations

import json
import math
import time

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from engine.store import LIVE_STATUSES, StoreReader
from studio.compare.grouping import value_text
from studio.history.summary import SummarySpec, run_mean_curve, summarise

COLUMNS = (
    "status",
    "id",
    "name",
    "algorithm",
    "problem",
    "parameters",
    "seeds",
    "steps",
    "duration",
    "device",
    "date",
    "tags",
    "notes",
)
NUMERIC = {"id", "seeds", "steps", "duration", "date"}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ID_ROLE = Qt.ItemDataRole.UserRole + 2
STATUS_COLOURS = {
    "queued": "#6a6a6a",
    "running": "#1f77b4",
    "finished": "#2ca02c",
    "failed": "#c0392b",
    "cancelled": "#8a6d00",
    "interrupted": "#b35900",
}
# The fields of `StoreReader.run_states` whose change means the full row must be read again.
REFETCH_ON = ("stored_status", "finished_at")


def key_parameters(spec: dict) -> str:
    """The algorithm's and the problem's parameters, compact: "c=2.0 · means=[0.1, 0.5]"."""
    parts = [
        f"{name}={value_text(value)}"
        for section in ("algorithm", "problem")
        for name, value in spec.get(section, {}).items()
        if name != "id"
    ]
    return " · ".join(parts)


def duration_text(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def device_text(hardware: dict) -> str:
    device = hardware.get("device", "")
    name = hardware.get("device_name")
    return f"{device} ({name})" if name and device.startswith("cuda") else device


def summary_text(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


class RunRecord:
    """One run as the table shows it; built from `StoreReader.get_run` and updated from `run_states`."""

    def __init__(self, row: dict):
        self.row = row
        self.spec = json.loads(row["spec_json"]) if row.get("spec_json") else {}
        self.hardware = json.loads(row["hardware_json"]) if row.get("hardware_json") else {}
        self.parameters = key_parameters(self.spec)

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def tags(self) -> list[str]:
        return json.loads(self.row.get("tags") or "[]")

    def duration(self, now: float) -> float | None:
        started = self.row.get("started_at")
        if not started:
            return None
        end = self.row.get("finished_at") or (now if self.row["status"] in LIVE_STATUSES else None)
        return None if end is None else end - started

    def value(self, column: str, now: float):
        """(display text, sort key) of a fixed column."""
        r = self.row
        if column == "status":
            return r["status"], r["status"]
        if column == "id":
            return str(r["id"]), r["id"]
        if column in ("name", "algorithm", "problem", "notes"):
            text = r.get(column) or ""
            return (text.splitlines()[0] if text else ""), text.lower()
        if column == "parameters":
            return self.parameters, self.parameters.lower()
        if column == "seeds":
            return str(r["seeds"]), r["seeds"]
        if column == "steps":
            done = r.get("steps_done") or 0
            text = str(r["steps"]) if done >= r["steps"] else f"{done}/{r['steps']}"
            return text, r["steps"]
        if column == "duration":
            seconds = self.duration(now)
            return duration_text(seconds), math.nan if seconds is None else seconds
        if column == "device":
            text = device_text(self.hardware)
            return text, text
        if column == "date":
            return time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])), r["created_at"]
        if column == "tags":
            text = ", ".join(self.tags)
            return text, text.lower()
        raise KeyError(column)


class RunTableModel(QAbstractTableModel):
    def __init__(self, store: StoreReader, parent=None):
        super().__init__(parent)
        self.store = store
        self.records: list[RunRecord] = []
        self._row_of: dict[int, int] = {}
        self._states: dict[int, dict] = {}
        self._data_version: int | None = None
        self.summaries: list[SummarySpec] = []
        self._curves: dict[tuple[int, str], tuple[int, object, object]] = {}
        self.refresh()

    # -- the store ---------------------------------------------------------------------
    def set_store(self, store: StoreReader) -> None:
        self.beginResetModel()
        self.store = store
        self.records, self._row_of, self._states, self._curves = [], {}, {}, {}
        self._data_version = None
        self.endResetModel()
        self.refresh()

    def refresh(self) -> bool:
        """Bring the table up to date with the store; True when anything changed."""
        version = self.store.data_version()
        live = any(r.row["status"] in LIVE_STATUSES for r in self.records)
        if version == self._data_version and not live:
            return False
        self._data_version = version
        states = self.store.run_states()
        current = {s["id"]: s for s in states}
        changed = False
        for run_id in sorted((i for i in self._row_of if i not in current), reverse=True):
            self._remove(run_id)
            changed = True
        last = len(COLUMNS) + len(self.summaries) - 1
        for state in states:
            run_id = state["id"]
            old = self._states.get(run_id)
            if old == state and state["status"] not in LIVE_STATUSES:
                continue
            self._states[run_id] = state
            if run_id not in self._row_of:
                if self._insert(run_id):
                    changed = True
                else:
                    self._states.pop(run_id)  # deleted meanwhile; the next poll agrees
                continue
            record = self.records[self._row_of[run_id]]
            if any(old.get(k) != state[k] for k in REFETCH_ON):
                row = self.store.get_run(run_id)
                if row is None:
                    continue
                record.__init__(row)
            else:
                record.row.update(state)
            if old.get("steps_done") != state["steps_done"]:
                self._forget_curves(run_id)
            row_index = self._row_of[run_id]
            self.dataChanged.emit(self.index(row_index, 0), self.index(row_index, last))
            changed = True
        return changed

    def _insert(self, run_id: int) -> bool:
        row = self.store.get_run(run_id)
        if row is None:
            return False
        # Ids only grow, so new runs go at the end; the proxy sorts for display.
        position = len(self.records)
        self.beginInsertRows(QModelIndex(), position, position)
        self.records.append(RunRecord(row))
        self._row_of[run_id] = position
        self.endInsertRows()
        return True

    def _remove(self, run_id: int) -> None:
        position = self._row_of.pop(run_id)
        self.beginRemoveRows(QModelIndex(), position, position)
        del self.records[position]
        self.endRemoveRows()
        self._states.pop(run_id, None)
        self._forget_curves(run_id)
        self._row_of = {r.id: i for i, r in enumerate(self.records)}

    def _forget_curves(self, run_id: int) -> None:
        for key in [k for k in self._curves if k[0] == run_id]:
            del self._curves[key]

    def row_of(self, run_id: int) -> int:
        """The run's row in this (unsorted) model, or -1."""
        return self._row_of.get(run_id, -1)

    def record(self, run_id: int) -> RunRecord | None:
        position = self._row_of.get(run_id)
        return None if position is None else self.records[position]

    # -- summary columns ----------------------------------------------------------------
    def set_summaries(self, summaries: list[SummarySpec]) -> None:
        self.beginResetModel()
        self.summaries = list(summaries)
        self.endResetModel()

    def summary_value(self, record: RunRecord, spec: SummarySpec) -> float:
        key = (record.id, spec.metric)
        cached = self._curves.get(key)
        if cached is None:
            steps, mean = run_mean_curve(self.store, record.id, spec.metric)
            cached = self._curves[key] = (record.row.get("steps_done"), steps, mean)
        return summarise(cached[1], cached[2], spec)

    def metrics(self) -> list[str]:
        """Every metric any run in the table recorded (one indexed query per run)."""
        seen: dict[str, None] = {}
        for record in self.records:
            for metric in self.store.metrics_of(record.id):
                seen.setdefault(metric)
        return list(seen)

    # -- Qt ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's own signature
        return 0 if parent.isValid() else len(COLUMNS) + len(self.summaries)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                COLUMNS[section]
                if section < len(COLUMNS)
                else self.summaries[section - len(COLUMNS)].title
            )
        if role == Qt.ItemDataRole.ToolTipRole and section >= len(COLUMNS):
            spec = self.summaries[section - len(COLUMNS)]
            return (
                f"{spec.title}: computed on the mean over seeds of {spec.metric} "
                "(at step: interpolated between recorded steps; area: trapezoid rule over steps)"
            )
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.records[index.row()]
        column = index.column()
        if role == RUN_ID_ROLE:
            return record.id
        if column >= len(COLUMNS):
            spec = self.summaries[column - len(COLUMNS)]
            if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
                value = self.summary_value(record, spec)
                return summary_text(value) if role == Qt.ItemDataRole.DisplayRole else value
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        name = COLUMNS[column]
        if role == Qt.ItemDataRole.DisplayRole:
            return record.value(name, time.time())[0]
        if role == SORT_ROLE:
            return record.value(name, time.time())[1]
        if role == Qt.ItemDataRole.ForegroundRole and name == "status":
            return QColor(STATUS_COLOURS.get(record.row["status"], "#202020"))
        if role == Qt.ItemDataRole.TextAlignmentRole and name in NUMERIC - {"date"}:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            if name == "name":
                return record.row.get("name") or None
            if name == "parameters":
                return record.parameters
            if name == "notes":
                return record.row.get("notes") or None
            if name == "status" and record.row.get("error"):
                return record.row["error"].strip().splitlines()[-1]
        return None
