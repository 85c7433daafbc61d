"""The studio's event loop while a sweep of 8 points streams into its Sweeps panel.

    python -m bench.sweep_stall [--repeats 3] [--steps 20000]

A sweep of 8 UCB1 points (20 seeds each, `hardware.threads = 1`) runs through the
engine's scheduler with 8 workers (`--oversubscribe`: 8 engines on this machine's cores,
started as the studio starts them: in a session of their own, at the engines' lower
priority, `studio.queue.run_process.DETACHED`), while the Sweeps
panel shows that sweep (the sweep view, its trade-off view and the group tests, all
refreshing as points finish) beside the queue's live title. A 5 ms probe timer measures
how late the event loop runs; the GUI thread's own CPU time in the worst tick says
whether the studio or the machine's other processes held it. The same sweep with the
panel closed gives the machine's own baseline. Offscreen (QT_QPA_PLATFORM=offscreen).
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

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.streaming import SETTLE_SECONDS, _probe_until_done, _settle, _wait  # noqa: E402
from engine.store import Store  # noqa: E402
from studio.queue.run_process import DETACHED  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POINTS = 8

SWEEP = """\
[run]
name = "stall-bench"
seeds = 20
steps = {steps}
seed = 0

[algorithm]
id = "bandits.ucb1"

[problem]
id = "bandits.bernoulli"
means = [0.1, 0.3, 0.5, 0.55, 0.6]

[hardware]
device = "cpu"
threads = 1

[sweep.grid]
"algorithm.c" = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def one(app, steps: int, watch: bool) -> tuple[float, float, float, float]:
    """Worst lateness, p99, the GUI thread's CPU in the worst tick (ms), seconds probed."""
    from studio.sweeps.browser import SweepsBrowser

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        db = folder / "sweep.db"
        spec = folder / "sweep.toml"
        spec.write_text(SWEEP.format(steps=steps), encoding="utf-8")
        Store(db).close()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        command = [
            sys.executable,
            "-m",
            "engine",
            "run",
            str(spec),
            "--db",
            str(db),
            "--workers",
            str(POINTS),
            "--oversubscribe",
            "--json",
        ]
        # as the studio starts a sweep (studio/sweeps/launch.py): in a session of its own,
        # at the engines' lower priority
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, **DETACHED
        )
        store = Store(db)
        browser = None
        try:
            # Probe once the points stream: the sweep exists and a run has recorded.
            _wait(
                app,
                lambda: (
                    store.conn.execute("SELECT count(*) FROM series_aggregates").fetchone()[0] > 0
                ),
                timeout=300,
            )
            if watch:
                browser = SweepsBrowser(store)
                browser.resize(1400, 900)
                browser.show()
                browser.show_sweep(store.sweeps()[0]["id"])
            _settle(app, SETTLE_SECONDS)
            lateness, cpu, started = _probe_until_done(app, [process])
            seconds = time.monotonic() - started
        finally:
            process.kill()
            process.wait()
            if browser is not None:
                browser.stop()
                browser.close()
            store.close()
    worst = int(np.argmax(lateness))
    return (
        lateness[worst] * 1e3,
        float(np.percentile(lateness, 99)) * 1e3,
        cpu[worst] * 1e3,
        seconds,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument(
        "--preimport",
        action="store_true",
        help="import scipy.stats before measuring (tells its import apart from the views' work)",
    )
    parser.add_argument("--only-panel", action="store_true", help="no baseline runs")
    args = parser.parse_args(argv)
    if args.preimport:
        import scipy.stats  # noqa: F401
    app = QApplication.instance() or QApplication(sys.argv[:1])
    print("before:", uptime(), flush=True)
    results = {"panel": [], "baseline": []}
    for repeat in range(args.repeats):
        for kind in ("panel",) if args.only_panel else ("panel", "baseline"):
            worst, p99, gui, seconds = one(app, args.steps, watch=kind == "panel")
            results[kind].append((worst, p99, gui, seconds))
            print(
                f"  repeat {repeat + 1} {kind}: worst {worst:.0f} ms (GUI thread {gui:.0f} ms), "
                f"p99 {p99:.0f} ms, {seconds:.0f} s probed",
                flush=True,
            )
    print("after:", uptime())
    for kind, rows in results.items():
        if not rows:
            continue
        worst = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        print(
            f"{kind:9} worst stall, median of {len(rows)}: {worst:.0f} ms; "
            f"worst of all {max(r[0] for r in rows):.0f} ms; p99 median {p99:.0f} ms; "
            f"GUI thread's CPU in the worst tick {min(r[2] for r in rows):.0f}–"
            f"{max(r[2] for r in rows):.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
