"""`tradeoff` (= `python -m engine`): list, run, show, export, runs, tag, note, delete, hardware;
and for sweeps (engine/cli_sweep.py) submit, scheduler, cancel, resume, sweeps.

Exit codes: 0 finished, 1 the run failed, 2 bad input (spec, id, device, store, usage),
3 the run was cancelled, 4 the run was deleted or marked ended by another process while
its engine ran (the engine stopped, writing nothing more).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sqlite3
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_LOST = 0, 1, 2, 3, 4
STDIN_NAME = "<stdin>"  # how messages name the spec of `tradeoff run -`


class CliError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _store(args):
    from engine.store import Store, StoreError

    try:
        return Store(args.db)
    except StoreError as err:
        raise CliError(str(err)) from None


# -- list ---------------------------------------------------------------------------
def cmd_list(args) -> int:
    from engine.registry import describe

    entries = describe()
    if args.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    for kind in ("algorithm", "problem"):
        print(f"{kind.upper()}S")
        for e in (e for e in entries if e["kind"] == kind):
            print(f"  {e['id']}  [{e['family']}]  {e['paper']}")
            if kind == "algorithm":
                print(f"      plot: {e['plot']}; runs on: {', '.join(e['problems'])}")
            for p in e["params"]:
                bounds = _bounds_text(p)
                print(
                    f"      {p['name']} ({p['type']}, default {json.dumps(p['default'])}{bounds}): {p['help']}"
                )
        print()
    return EXIT_OK


def _bounds_text(p: dict) -> str:
    from engine.params import Param

    text = Param.from_json(p).describe_bounds()
    return f", {text}" if text else ""


# -- run ----------------------------------------------------------------------------
class _Progress:
    """A bar on a terminal, plain lines (about one a second) otherwise; on stderr."""

    def __init__(self, stream, quiet: bool):
        self.stream = stream
        self.tty = stream.isatty()
        self.quiet = quiet
        self.last_line = time.monotonic()  # the first plain line after a second, with a real rate
        self.run_id = None

    def started(self, run_id: int, spec, device: str):
        self.run_id = run_id
        if not self.quiet:
            print(
                f"run {run_id} started: {spec.title} ({spec.seeds} seeds x {spec.steps} steps, {device})",
                file=self.stream,
                flush=True,
            )

    def end_line(self):
        """End a bar left mid-line, before a message."""
        if self.tty and not self.quiet:
            print(file=self.stream, flush=True)

    def __call__(self, step: int, total: int, elapsed: float):
        if self.quiet:
            return
        rate = step / elapsed if elapsed > 0 else 0.0
        left = (total - step) / rate if rate > 0 else math.inf
        eta = f"{left:.0f}s left" if math.isfinite(left) else "--"
        if self.tty:
            width = 30
            filled = int(width * step / total)
            print(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * step / total:5.1f}% {step}/{total} "
                f"{rate:,.0f} steps/s {eta}  ",
                end="",
                file=self.stream,
                flush=True,
            )
            if step == total:
                print(file=self.stream)
        elif time.monotonic() - self.last_line >= 1.0 or step == total:
            self.last_line = time.monotonic()
            print(
                f"run {self.run_id}: {step}/{total} steps ({100 * step / total:.0f}%), "
                f"{rate:,.0f} steps/s, {eta}",
                file=self.stream,
                flush=True,
            )


def _read_standard_input() -> str:
    """The spec of `tradeoff run -`, as UTF-8 text."""
    from engine.spec import SpecError

    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(
            STDIN_NAME,
            "",
            f"cannot be read: not UTF-8 text ({err.reason} at byte offset {err.start})",
        ) from None
    except (OSError, ValueError, AttributeError) as err:  # closed or absent standard input
        raise SpecError(STDIN_NAME, "", f"cannot be read: {err}") from None


def _read_spec_text(path: str) -> str:
    from engine.spec import SpecError

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(path, "", f"cannot be read: {err}") from None


def cmd_run(args) -> int:
    from engine import registry, runner
    from engine.cli_sweep import load_sweep, run_sweep
    from engine.hardware import HardwareError
    from engine.spec import RunSpec, SpecError
    from engine.store import RunLost

    try:
        if args.spec == "-":
            text, source = _read_standard_input(), STDIN_NAME
        else:
            text, source = _read_spec_text(args.spec), args.spec
        found, pool = load_sweep(text, source, args.set, args)
        if found is not None:
            return run_sweep(args, found, pool)
        if getattr(args, "backend", "local") != "local" or getattr(args, "address", None):
            raise CliError("--backend and --address are for sweeps; a single run runs here")
        spec = RunSpec.from_toml(text, registry.Catalogue.live(), source, overrides=args.set or ())
        device = runner.prepare(spec)
    except SpecError as err:
        raise CliError(str(err)) from None
    except HardwareError as err:
        raise CliError(f"{spec.source}: hardware.device: {err}") from None
    store = _store(args)
    store.reap_stale()
    progress = _Progress(sys.stderr, quiet=args.quiet)
    t0 = time.monotonic()
    try:
        run_id, status = runner.execute(
            spec,
            store,
            device,
            on_progress=progress,
            on_start=lambda rid: progress.started(rid, spec, device),
        )
    except RunLost as lost:
        progress.end_line()
        if args.json:
            print(
                json.dumps(
                    {
                        "run_id": lost.run_id,
                        "status": "lost",
                        "seconds": round(time.monotonic() - t0, 3),
                        "db": str(store.path),
                        "error": str(lost),
                    }
                )
            )
        print(f"error: {lost}", file=sys.stderr)
        return EXIT_LOST
    seconds = time.monotonic() - t0
    row = store.get_run(run_id)
    error_line = (row["error"] or "").strip().splitlines()[-1] if row["error"] else None
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": run_id,
                    "status": status,
                    "seconds": round(seconds, 3),
                    "db": str(store.path),
                    "error": error_line,
                }
            )
        )
    else:
        print(f"run {run_id} {status} in {seconds:.1f} s (store: {store.path})")
        if error_line:
            print(f"error: {error_line} (full traceback: tradeoff show {run_id})", file=sys.stderr)
    return {"finished": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}.get(
        status, EXIT_FAILED
    )


# -- show, runs ---------------------------------------------------------------------
def _run_row(store, ident: str) -> dict:
    try:
        run_id = int(ident)
    except ValueError:
        raise CliError(f"run id must be a number, got {ident!r}") from None
    row = store.get_run(run_id)
    if row is None:
        raise CliError(f"no run {run_id} in {store.path}")
    return row


def run_summary(store, row: dict) -> dict:
    """Per metric, the last recorded step and the mean / sem over seeds there: from the stored
    aggregates (every seed), or, for a metric without them, from the per-seed values."""
    import numpy as np

    from engine.metrics import seed_summary

    out = {}
    for metric in store.metrics_of(row["id"]):
        agg = store.aggregate_arrays(row["id"], metric)
        if len(agg["step"]):
            n, var = int(agg["n"][-1]), float(agg["var"][-1])
            sem = math.sqrt(max(var, 0.0) / n) if n > 1 else (0.0 if n == 1 else math.nan)
            out[metric] = {
                "step": int(agg["step"][-1]),
                "mean": float(agg["mean"][-1]),
                "sem": sem,
                "seeds": n,
            }
            continue
        per_seed = store.series(row["id"], metric)
        seeds = [s for s in per_seed if s >= 0]
        if not seeds:
            continue
        last = min(int(per_seed[s][0][-1]) for s in seeds)
        values = np.array([per_seed[s][1][per_seed[s][0] == last][0] for s in seeds])
        summary = seed_summary(values)
        out[metric] = {
            "step": last,
            "mean": float(summary["mean"]),
            "sem": float(summary["sem"]),
            "seeds": len(seeds),
        }
    return out


def cmd_show(args) -> int:
    store = _store(args)
    row = _run_row(store, args.run)
    summary = run_summary(store, row)
    hardware = json.loads(row["hardware_json"]) if row["hardware_json"] else None
    duration = (
        (row["finished_at"] or time.time()) - row["started_at"] if row["started_at"] else None
    )
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": row["id"],
                    "status": row["status"],
                    "name": row["name"],
                    "algorithm": row["algorithm"],
                    "problem": row["problem"],
                    "spec": json.loads(row["spec_json"]),
                    "hardware": hardware,
                    "steps_done": row["steps_done"],
                    "seconds": duration,
                    "summary": summary,
                    "error": row["error"],
                    "engine_note": row["engine_note"],
                    "tags": json.loads(row["tags"]),
                    "notes": row["notes"],
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(
        f"run {row['id']}: {row['status']}  {row['algorithm']} on {row['problem']}"
        + (f"  ({row['name']})" if row["name"] else "")
    )
    print(
        f"steps done: {row['steps_done']}/{row['steps']}"
        + (f", {duration:.1f} s" if duration else "")
    )
    if json.loads(row["tags"]):
        print(f"tags: {', '.join(json.loads(row['tags']))}")
    if row["notes"]:
        print(f"notes: {row['notes']}")
    if hardware:
        print(
            f"hardware: {hardware.get('device')} ({hardware.get('device_name')}), {hardware.get('dtype')}, "
            f"{hardware.get('threads')} threads"
        )
    print("\nspec:")
    print(row["spec_toml"])
    if summary:
        print("summary (mean ± s.e. over seeds at the last recorded step):")
        for metric, s in summary.items():
            print(
                f"  {metric:<28} {s['mean']:.6g} ± {s['sem']:.2g}   (step {s['step']}, {s['seeds']} seeds)"
            )
    if row["engine_note"]:
        print(f"\nnote: {row['engine_note']}")
    error = (row["error"] or "").strip()
    if row["status"] == "interrupted":
        print(
            f"\ninterrupted: {error or 'the engine stopped without finishing; nothing more is known'}"
        )
    elif error:
        print("\nerror:\n" + error)
    return EXIT_OK


def cmd_runs(args) -> int:
    store = _store(args)
    rows = store.list_runs()
    if args.json:
        keep = (
            "id",
            "name",
            "status",
            "algorithm",
            "problem",
            "seeds",
            "steps",
            "steps_done",
            "created_at",
        )
        print(
            json.dumps(
                [
                    {**{k: r[k] for k in keep}, "tags": json.loads(r["tags"]), "notes": r["notes"]}
                    for r in rows
                ],
                indent=2,
            )
        )
        return EXIT_OK
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        print(
            f"{r['id']:>5}  {r['status']:<11} {r['algorithm']:<28} {r['problem']:<24} "
            f"{r['steps_done']}/{r['steps']} steps  {r['seeds']} seeds  {when}"
            + (f"  [{', '.join(json.loads(r['tags']))}]" if json.loads(r["tags"]) else "")
            + ("  (no heartbeat: paused or busy)" if r["engine_note"] else "")
        )
    return EXIT_OK


# -- tag, note, delete: the user's words about runs, and removing them ----------------
def cmd_tag(args) -> int:
    from engine.store import StoreError

    if not args.add and not args.remove:
        raise CliError("give at least one --add TAG or --remove TAG")
    store = _store(args)
    row = _run_row(store, args.run)
    try:
        tags = store.set_tags(row["id"], args.add or (), args.remove or ())
    except StoreError as err:
        raise CliError(str(err)) from None
    if args.json:
        print(json.dumps({"run_id": row["id"], "tags": tags}))
    else:
        print(f"run {row['id']} tags: {', '.join(tags) if tags else '(none)'}")
    return EXIT_OK


def cmd_note(args) -> int:
    store = _store(args)
    row = _run_row(store, args.run)
    store.set_notes(row["id"], args.text)
    print(f"run {row['id']} notes {'set' if args.text else 'cleared'}", file=sys.stderr)
    return EXIT_OK


def cmd_delete(args) -> int:
    from engine.store import StoreError

    if not args.yes:
        raise CliError("deleting runs cannot be undone; add --yes to confirm")
    store = _store(args)
    ids = []
    for ident in args.runs:
        try:
            ids.append(int(ident))
        except ValueError:
            raise CliError(f"run id must be a number, got {ident!r}") from None
    try:
        store.delete_runs(ids)
    except StoreError as err:
        raise CliError(str(err)) from None
    print(f"deleted run {', '.join(map(str, dict.fromkeys(ids)))}", file=sys.stderr)
    return EXIT_OK


# -- export -------------------------------------------------------------------------
def export_tables(store, row: dict) -> tuple[list[dict], list[dict]]:
    """The run's series (the kept seeds' values and the bounds) in long format and its Pareto
    points, as lists of dicts."""
    series = []
    for metric in store.metrics_of(row["id"]):
        for seed, (steps, values) in sorted(store.series(row["id"], metric).items()):
            for step, value in zip(steps.tolist(), values.tolist()):
                series.append(
                    {
                        "step": step,
                        "metric": metric,
                        "seed": None if seed < 0 else seed,
                        "value": None if math.isnan(value) else value,
                    }
                )
    series.sort(key=lambda r: (r["metric"], r["step"], -1 if r["seed"] is None else r["seed"]))
    objectives = json.loads(row["objectives_json"]) if row["objectives_json"] else None
    points, _ = store.pareto_since(row["id"], 0)
    pareto = []
    for p in points:
        names = (
            objectives["names"]
            if objectives
            else [f"objective_{i}" for i in range(len(p["objectives"]))]
        )
        rec = {"step": p["step"], "seed": p["seed"], "point": p["point"]}
        rec.update(zip(names, p["objectives"]))
        rec.update(p["label"])
        pareto.append(rec)
    return series, pareto


AGGREGATE_EXPORT_COLUMNS = (
    "step",
    "metric",
    "n",
    "mean",
    "lo",
    "hi",
    "min",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "max",
)


def export_aggregates(store, row: dict) -> list[dict]:
    """One dict per (metric, step), by metric then step: n, mean, the 95% t-band of the mean
    (lo, hi), min, the stored quantiles and max; None where there is no value."""
    from engine.metrics.aggregate import band_from_aggregate

    out = []
    for metric in store.metrics_of(row["id"]):
        agg = store.aggregate_arrays(row["id"], metric)
        if not len(agg["step"]):
            continue  # a bound: no seeds to aggregate
        lo, hi = band_from_aggregate(agg["n"], agg["mean"], agg["var"])
        columns = {**agg, "lo": lo, "hi": hi}
        for i in range(len(agg["step"])):
            rec = {"step": int(agg["step"][i]), "metric": metric, "n": int(agg["n"][i])}
            for name in AGGREGATE_EXPORT_COLUMNS[3:]:
                value = float(columns[name][i])
                rec[name] = None if math.isnan(value) else value
            out.append(rec)
    return out


def cmd_export(args) -> int:
    if args.sweep is not None:
        if args.run is not None:
            raise CliError("give a run id or --sweep ID, not both")
        if args.aggregate or args.table != "series":
            raise CliError(
                "--sweep exports one row per point; it does not go with --aggregate or --table"
            )
        from engine.cli_sweep import export_sweep

        return export_sweep(args)
    if args.run is None:
        raise CliError("give a run id, or --sweep ID")
    store = _store(args)
    row = _run_row(store, args.run)
    if args.aggregate:
        if args.table != "series":
            raise CliError("--aggregate exports the series; it does not go with --table pareto")
        rows = export_aggregates(store, row)
        if args.format == "json":
            text = json.dumps(
                {
                    "run_id": row["id"],
                    "status": row["status"],
                    "spec": json.loads(row["spec_json"]),
                    "aggregates": rows,
                },
                indent=1,
                allow_nan=False,
            )
        else:
            text = _csv(rows, list(AGGREGATE_EXPORT_COLUMNS))
        return _write_export(args, text)
    series, pareto = export_tables(store, row)
    if args.format == "json":
        doc = {
            "run_id": row["id"],
            "status": row["status"],
            "spec": json.loads(row["spec_json"]),
            "objectives": json.loads(row["objectives_json"]) if row["objectives_json"] else None,
            "series": series,
            "pareto": pareto,
        }
        text = json.dumps(doc, indent=1, allow_nan=False)
    else:
        rows = series if args.table == "series" else pareto
        columns = ["step", "metric", "seed", "value"] if args.table == "series" else _columns(rows)
        text = _csv(rows, columns)
    return _write_export(args, text)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buf.getvalue()


def _write_export(args, text: str) -> int:
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as err:
            raise CliError(f"cannot write {args.out}: {err}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    return columns or ["step", "seed", "point"]


# -- hardware -----------------------------------------------------------------------
def cmd_hardware(args) -> int:
    from engine.hardware import describe_available, detect

    info = detect()
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    mem = info["memory_bytes"]
    print(
        f"CPU: {info['cpu_cores']} cores ({info['cpu_name']}), torch {info['torch_version']}, "
        f"{info['torch_threads']} threads"
    )
    print(f"memory: {mem / 2**30:.1f} GiB" if mem else "memory: unknown")
    for d in info["cuda"]:
        print(f"cuda:{d['index']}: {d['name']}, {d['memory_bytes'] / 2**30:.1f} GiB")
    print(describe_available(info["cuda"]))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradeoff", description="Tradeoff Studio engine: run and inspect experiments."
    )
    parser.add_argument("--version", action="version", version=f"tradeoff {version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p):
        p.add_argument(
            "--db", help="store file (default: $TRADEOFF_STUDIO_DB, else the user data directory)"
        )
        return p

    p = sub.add_parser("list", help="list algorithms and problems with their parameters")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_list)

    p = with_db(sub.add_parser("run", help="run a spec (TOML) and record it in the store"))
    p.add_argument("spec", help="the run's TOML spec; - reads it from standard input")
    p.add_argument(
        "--set",
        action="append",
        metavar="SECTION.KEY=VALUE",
        help="override one spec value (TOML syntax), e.g. --set algorithm.c=1.5; a list "
        "sweeps the key (--set 'algorithm.c=[0.5, 2]', see Sweeps in docs/cli.md); repeatable",
    )
    p.add_argument(
        "--json", action="store_true", help="end with one JSON object (run_id, status, ...)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--workers",
        type=int,
        help="a sweep: worker processes (default: CPU cores // torch threads)",
    )
    p.add_argument(
        "--oversubscribe", action="store_true", help="a sweep: allow workers x threads > cores"
    )
    p.add_argument("--priority", type=int, default=0, help="a sweep: higher runs first")
    from engine.cli_sweep import backend_options

    backend_options(p)
    p.set_defaults(func=cmd_run)

    p = with_db(sub.add_parser("show", help="print a run's spec, status and summary"))
    p.add_argument("run", help="run id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = with_db(sub.add_parser("runs", help="list the runs in the store"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = with_db(sub.add_parser("export", help="write a run's (or a sweep's) data as CSV or JSON"))
    p.add_argument("run", nargs="?", help="run id")
    p.add_argument(
        "--sweep",
        metavar="ID",
        help="a sweep instead: one row per point with its run id, its swept values and every "
        "metric's final mean and 95%% t-band (<metric>:mean, :lo, :hi)",
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument(
        "--table",
        choices=("series", "pareto"),
        default="series",
        help="CSV only: the metric series of the kept seeds (long format) or the Pareto points",
    )
    p.add_argument(
        "--aggregate",
        action="store_true",
        help="the aggregates over every seed instead: one row per (step, metric) with n, mean, "
        "the 95%% t-band of the mean (lo, hi), min, quantiles q05..q95 and max",
    )
    p.add_argument("--out", help="output file (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = with_db(sub.add_parser("tag", help="add or remove tags of a run"))
    p.add_argument("run", help="run id")
    p.add_argument("--add", action="append", metavar="TAG", help="add a tag; repeatable")
    p.add_argument("--remove", action="append", metavar="TAG", help="remove a tag; repeatable")
    p.add_argument("--json", action="store_true", help="print the run's tags as JSON")
    p.set_defaults(func=cmd_tag)

    p = with_db(sub.add_parser("note", help="set a run's notes (an empty TEXT clears them)"))
    p.add_argument("run", help="run id")
    p.add_argument("text", help="the notes, replacing the previous ones")
    p.set_defaults(func=cmd_note)

    p = with_db(
        sub.add_parser("delete", help="delete runs with all their records (cannot be undone)")
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids")
    p.add_argument("--yes", action="store_true", help="confirm the deletion")
    p.set_defaults(func=cmd_delete)

    from engine.cli_sweep import add_parsers

    add_parsers(sub, with_db)

    p = sub.add_parser("hardware", help="what this machine offers (CPU, memory, CUDA devices)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware)
    return parser


def version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("tradeoff-studio")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from engine.store import StoreError

    try:
        return args.func(args)
    except (CliError, StoreError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except sqlite3.DatabaseError as err:
        # The file passed the checks of opening but a page of it cannot be read.
        from engine.store import default_path

        path = getattr(args, "db", None) or default_path()
        print(f"error: {path}: the store is damaged ({err})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
