"""Start-up of the built bundle against the studio and CLI from the virtual environment.

    packaging/build.sh
    xvfb-run -a .venv/bin/python -m bench.bundle_start --repeats 5

Each start is a fresh process with empty cache, config and data folders (so the studio's
catalogue comes from its engine child, as on a first start), the bundle and the venv
alternating in every repeat. "window shown" is the time from spawn until a window named
"Tradeoff Studio" exists on the X display (polled with xdotool every 20 ms); "catalogue"
until the studio has cached its engine's catalogue (the engine child, torch and every lab
imported, has answered); `tradeoff list --json` is timed to its exit. Needs a display
(xvfb-run) and xdotool.
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
BUNDLE = ROOT / "dist" / "tradeoff-studio"
VENV = Path(sys.executable).parent


def fresh_env(folder: Path) -> dict:
    env = {**os.environ}
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        env[name] = str(folder / name.lower())
    env.pop("QT_QPA_PLATFORM", None)
    return env


def window_exists() -> bool:
    found = subprocess.run(["xdotool", "search", "--name", "Tradeoff Studio"], capture_output=True)
    return found.returncode == 0 and bool(found.stdout.strip())


def studio_start(program: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cache = folder / "xdg_cache_home" / "tradeoff-studio" / "catalogue.json"
        t0 = time.perf_counter()
        process = subprocess.Popen(
            [program, "--db", str(folder / "runs.db")],
            env=fresh_env(folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shown = listed = None
        try:
            while listed is None and time.perf_counter() - t0 < 300:
                if shown is None and window_exists():
                    shown = time.perf_counter() - t0
                if cache.exists():
                    listed = time.perf_counter() - t0
                time.sleep(0.02)
        finally:
            process.terminate()
            process.wait(timeout=30)
        return shown, listed


def cli_list(argv: list[str]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        subprocess.run(
            [*argv, "list", "--json"],
            env=fresh_env(Path(folder)),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (BUNDLE / "tradeoff-studio").is_file():
        print("error: no bundle; run packaging/build.sh first", file=sys.stderr)
        return 2
    kinds = {
        "bundle": (str(BUNDLE / "tradeoff-studio"), [str(BUNDLE / "tradeoff")]),
        "venv": (str(VENV / "tradeoff-studio"), [str(VENV / "tradeoff")]),
    }
    results = {k: {"shown": [], "listed": [], "cli": []} for k in kinds}
    print("before:", uptime())
    for repeat in range(args.repeats):
        for kind, (studio, cli) in kinds.items():
            shown, listed = studio_start(studio)
            results[kind]["shown"].append(shown)
            results[kind]["listed"].append(listed)
            results[kind]["cli"].append(cli_list(cli))
            print(
                f"  repeat {repeat + 1} {kind}: window {shown:.2f} s, catalogue {listed:.2f} s, "
                f"list --json {results[kind]['cli'][-1]:.2f} s",
                flush=True,
            )
    print("after:", uptime())
    print(f"\nmedians of {args.repeats}, seconds from spawn")
    print(f"{'':8} {'window shown':>14} {'catalogue':>12} {'tradeoff list':>15}")
    for kind, r in results.items():
        print(
            f"{kind:8} {statistics.median(r['shown']):14.2f} {statistics.median(r['listed']):12.2f} "
            f"{statistics.median(r['cli']):15.2f}"
        )
    size = subprocess.run(
        ["du", "-sm", str(BUNDLE)], capture_output=True, text=True
    ).stdout.split()[0]
    print(f"bundle size: {size} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
