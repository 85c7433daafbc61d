"""Four runs streaming into four live plots: how long the GUI loop stalls, how late records appear.

The processes write a temporary store (real engine runs, or `bench.stream_writer`,
which writes as the engine does and logs each commit's time); one window shows a
`LivePlot` per run, as the studio's watch area does. From a second after the plots
opened (their views built and first painted) a 5 ms probe timer measures the event
loop's lateness: a stall is a tick that came late because some other handler (a
poll, a redraw, a paint) held the loop. A record counts as drawn at the first paint of
its plot after a redraw that included it.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QGridLayout, QWidget

from engine.store import Store
from studio.views.live_plot import LivePlot

ROOT = Path(__file__).resolve().parent.parent
RUNS = 4
WRITER_SECONDS = 12.0
PROBE_MS = 5
SETTLE_SECONDS = 1.0
ENGINE_SPEC = """
[run]
name = "bench-engine"
seeds = 20
steps = 60000
seed = {seed}
record_every = 30

[algorithm]
id = "bandits.ucb1"
c = 2.0

[problem]
id = "bandits.bernoulli"
means = [0.1, 0.2, 0.5]

[hardware]
device = "cpu"
threads = 1
"""


@dataclass
class StreamResult:
    worst_stall: float
    p99_stall: float
    worst_stall_cpu: float  # GUI-thread CPU time spent inside the worst stall
    latency_median: float
    latency_p95: float
    rows: int
    seconds: float


class PaintClock(QObject):
    """Notes (last step drawn, time) at the first paint of a plot after each redraw that changed it."""

    def __init__(self, live_plot: LivePlot):
        super().__init__(live_plot)
        self.live_plot = live_plot
        self.painted: list[tuple[int, float]] = []
        self._pending: int | None = None
        self._watched = None
        original = live_plot.redraw

        def redraw():
            before = live_plot._drawn_version
            original()
            table = live_plot.data.tables.get("cumulative_regret")
            if live_plot._drawn_version != before and table is not None and table.rows:
                self._pending = int(table.steps[-1])
                viewport = live_plot.view.series.plot.viewport()
                if viewport is not self._watched:
                    viewport.installEventFilter(self)
                    self._watched = viewport

        live_plot.redraw_timer.timeout.disconnect()
        live_plot.redraw_timer.timeout.connect(redraw)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint and self._pending is not None:
            self.painted.append((self._pending, time.time()))
            self._pending = None
        return False


def _start(folder: Path, db: Path, engines: bool, preexec) -> list[subprocess.Popen]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = []
    for k in range(RUNS):
        if engines:
            spec = folder / f"run{k}.toml"
            spec.write_text(ENGINE_SPEC.format(seed=k), encoding="utf-8")
            command = [sys.executable, "-m", "engine", "run", "--db", str(db), "--quiet", str(spec)]
        else:
            command = [
                sys.executable,
                "-m",
                "bench.stream_writer",
                str(db),
                str(WRITER_SECONDS),
                str(folder / f"writer{k}.json"),
            ]
        processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, preexec_fn=preexec
            )
        )
    return processes


def _wait(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the streaming processes did not start in time")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.02)


def run_stream(
    app, engines: bool, watch: bool = True, preexec=None, freeze_gc: bool = False
) -> StreamResult:
    """Stream 4 runs (each process calling `preexec` first, e.g. to lower its priority); with `watch=False` the window stays
    empty: the stall the machine alone causes. `freeze_gc` moves every object alive once
    the plots are set up out of the collector's reach (`gc.freeze()`), as an application
    can after building its window, so full collections scan only what is new."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "stream.db"
        Store(db).close()
        processes = _start(folder, db, engines, preexec)
        store = Store(db)
        window = QWidget()
        grid = QGridLayout(window)
        plots = [LivePlot(store) for _ in range(RUNS)]
        clocks = [PaintClock(plot) for plot in plots]
        for k, plot in enumerate(plots):
            grid.addWidget(plot, k // 2, k % 2)
        window.resize(1400, 900)
        window.show()
        try:
            _wait(app, lambda: len(store.list_runs()) >= RUNS, timeout=120)
            run_ids = [row["id"] for row in store.list_runs()][:RUNS]
            for plot, run_id in zip(plots, run_ids):
                if watch:
                    plot.watch(run_id, "regret")
            # Opening a run (building its view, the first layout and paint) is not streaming:
            # the probe starts once that has settled, while the runs go on streaming.
            _settle(app, SETTLE_SECONDS)
            if freeze_gc:
                gc.collect()
                gc.freeze()
            lateness, cpu, started = _probe_until_done(app, processes)
            for plot in plots:
                if watch:
                    plot.finish()
            seconds = time.monotonic() - started
            rows = store.conn.execute(
                "SELECT coalesce(sum(n * width), 0) FROM series_blocks"
            ).fetchone()[0]
            if not watch:
                latencies = [float("nan")]
            elif engines:
                latencies = _engine_latencies(store, plots, clocks, run_ids)
            else:
                latencies = _writer_latencies(folder, clocks, run_ids)
        finally:
            if freeze_gc:
                gc.unfreeze()
            for plot in plots:
                plot.stop_timers()
            for process in processes:
                process.kill()
                process.wait()
            window.close()
            store.close()
    worst = int(np.argmax(lateness))
    return StreamResult(
        lateness[worst],
        float(np.percentile(lateness, 99)),
        cpu[worst],
        float(np.median(latencies)),
        float(np.percentile(latencies, 95)),
        rows,
        seconds,
    )


def _settle(app, seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def _probe_until_done(app, processes) -> tuple[list[float], list[float], float]:
    """Lateness of each probe tick, and the GUI thread's CPU time since the previous tick:
    a stall with little CPU time was the machine's other processes holding the cores."""
    lateness: list[float] = []
    cpu: list[float] = []
    last = [time.perf_counter(), time.thread_time()]

    def tick():
        now, used = time.perf_counter(), time.thread_time()
        lateness.append(max(0.0, now - last[0] - PROBE_MS / 1000))
        cpu.append(used - last[1])
        last[0], last[1] = now, used

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(PROBE_MS)
    probe.timeout.connect(tick)
    loop = QEventLoop()
    watcher = QTimer()
    watcher.setInterval(100)
    watcher.timeout.connect(lambda: all(p.poll() is not None for p in processes) and loop.quit())
    started = time.monotonic()
    last[0], last[1] = time.perf_counter(), time.thread_time()
    probe.start()
    watcher.start()
    loop.exec()
    probe.stop()
    watcher.stop()
    return lateness, cpu, started


def _writer_latencies(folder: Path, clocks: list[PaintClock], run_ids: list[int]) -> list[float]:
    latencies = []
    logs = [json.loads(path.read_text()) for path in sorted(folder.glob("writer*.json"))]
    commits_of = {log["run_id"]: log["commits"] for log in logs}
    for clock, run_id in zip(clocks, run_ids):
        painted = clock.painted
        for step, committed in commits_of[run_id]:
            shown = next((t for s, t in painted if s >= step), None)
            if shown is not None:
                latencies.append(shown - committed)
    return latencies


def _engine_latencies(store: Store, plots, clocks, run_ids) -> list[float]:
    latencies = []
    for plot, clock, run_id in zip(plots, clocks, run_ids):
        started = store.get_run(run_id)["started_at"]
        table = plot.data.tables["cumulative_regret"]
        steps, wall = table.steps, table.wall_times
        previous = 0
        for step, shown in clock.painted:
            new = (steps > previous) & (steps <= step)
            latencies += (shown - (started + wall[new])).tolist()
            previous = max(previous, step)
    return latencies
