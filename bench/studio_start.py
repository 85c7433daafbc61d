"""The studio's start to a usable window, side by side with a bare Qt + pyqtgraph window.

    python -m bench.studio_start              # 7 repeats: about a minute on 2 cores
    python -m bench.studio_start --repeats 15

Every start is a fresh interpreter, timed from its spawn to the line it prints when it
gets there (so Python's own start-up is in every figure alike), offscreen
(`QT_QPA_PLATFORM=offscreen`). The three kinds alternate within each repeat, so a change
in the machine's load falls on all three:

- bare: a QApplication and a pyqtgraph PlotWidget, shown, at the first turn of the event
  loop: the floor any PySide6 + pyqtgraph window pays.
- warm: `studio.app.main` on an existing store, with the catalogue cache of an earlier
  start: "shown" is the window at the first turn of its event loop, "usable" the moment
  the catalogue is listed and the form shows an algorithm's parameters.
- cold: the same with an empty cache folder: the catalogue comes from the engine's
  `tradeoff list --json` child process (torch and every lab imported).

Each studio start then ends its engine children (the background refresh, the hardware
report) before leaving, so none of them runs on into the next measurement. Settings
and caches live in a temporary folder (XDG_CONFIG_HOME, XDG_CACHE_HOME): never the
user's. The load average (`uptime`) is printed before and after: on a shared machine
the ratios to the bare window are steadier than the absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import pyqtgraph as pg
app = QApplication([])
plot = pg.PlotWidget()
plot.resize(800, 500)
plot.show()

def ready():
    now = time.time()
    print(f"shown {now}", flush=True)
    print(f"usable {now}", flush=True)
    os._exit(0)

QTimer.singleShot(0, ready)
app.exec()
"""

STUDIO = """
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])

def usable(window):
    return (window.catalogue is not None and window.config.algorithm is not None
            and not window.config_scroll.isHidden() and bool(window.catalogue_pane.visible_algorithms()))

def leave(window):
    print(f"usable {time.time()}", flush=True)
    window.catalogue_loader.cancel()
    window.hardware_loader.cancel()
    os._exit(0)

def first_turn():
    window = next(w for w in app.topLevelWidgets() if type(w).__name__ == "MainWindow")
    print(f"shown {time.time()}", flush=True)
    if usable(window):
        leave(window)
    # Connected after the window's own slot: runs once the list and the form are built.
    window.catalogue_loader.loaded.connect(lambda _catalogue: usable(window) and leave(window))

QTimer.singleShot(0, first_turn)
from studio.app import main
main(["--db", sys.argv[1]])
"""


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def start(code: str, env: dict, *args: str) -> dict[str, float]:
    """Seconds from spawn to each event the child printed ("shown", "usable")."""
    spawned = time.time()
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    events = {}
    for line in result.stdout.splitlines():
        name, _, stamp = line.partition(" ")
        if name in ("shown", "usable"):
            events[name] = float(stamp) - spawned
    if "usable" not in events:
        raise RuntimeError(
            f"the start never became usable (exit {result.returncode}):\n{result.stderr[-2000:]}"
        )
    return events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    from engine.store import Store

    with tempfile.TemporaryDirectory(prefix="studio-start-") as scratch:
        scratch = Path(scratch)
        db = scratch / "runs.db"
        Store(db).close()  # an existing store, as on every start but the first
        base = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "XDG_CONFIG_HOME": str(scratch / "config"),
            "PYTHONPATH": os.pathsep.join(
                p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p
            ),
        }
        warm_env = {**base, "XDG_CACHE_HOME": str(scratch / "warm-cache")}

        def cold_env(i: int) -> dict:
            return {**base, "XDG_CACHE_HOME": str(scratch / f"cold-cache-{i}")}

        print(f"before: {load()}")
        # Untimed: fills the file system's caches, and the warm cache (a cold start writes it).
        start(BARE, base)
        start(STUDIO, warm_env, str(db))
        if not (scratch / "warm-cache" / "tradeoff-studio" / "catalogue.json").is_file():
            raise RuntimeError("the studio wrote no catalogue cache")
        times: dict[str, list[dict[str, float]]] = {"bare": [], "warm": [], "cold": []}
        for i in range(args.repeats):
            times["bare"].append(start(BARE, base))
            times["warm"].append(start(STUDIO, warm_env, str(db)))
            times["cold"].append(start(STUDIO, cold_env(i), str(db)))
            print(
                f"  repeat {i + 1}: "
                + ", ".join(f"{k} {v[-1]['usable']:.2f} s" for k, v in times.items()),
                flush=True,
            )
        print(f"after: {load()}")

    def median(kind: str, event: str) -> float:
        return statistics.median(t[event] for t in times[kind])

    bare = median("bare", "usable")
    print(f"\nmedians of {args.repeats} starts, seconds from spawn (ratio to the bare window)")
    print(f"{'start':<44}{'shown':>14}{'usable':>16}")
    rows = [
        ("bare QApplication + pyqtgraph PlotWidget", "bare"),
        ("studio, warm catalogue cache", "warm"),
        ("studio, cold cache (engine child lists it)", "cold"),
    ]
    for title, kind in rows:
        shown, usable = median(kind, "shown"), median(kind, "usable")
        print(
            f"{title:<44}{shown:>7.2f} ({shown / bare:4.2f}x){usable:>8.2f} ({usable / bare:4.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
