"""The sweep commands of `tradeoff`: run SWEEP, submit, scheduler, cancel, priority, resume,
sweeps, export --sweep. Documented in docs/cli.md ("Sweeps")."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import sys
import time

from engine.cli import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    _csv,
    _store,
    _write_export,
)

TERMINAL = ("finished", "failed", "cancelled", "interrupted")


def load_sweep(text: str, source: str, overrides, args=None):
    """The validated sweep of a spec text, or None for a plain run, and (with `args`, for a
    sweep that will run here) a started pool of workers.

    Every point is checked as a run spec, then as the engine would build it
    (`runner.prepare`), before anything is written; the first bad point refuses the whole
    sweep. The pool is started between the two, once the workers and threads are known,
    so that its workers import torch while the points are built; they open no store
    before their first point, and are killed if the sweep is refused."""
    from engine import registry, runner, sweep
    from engine.hardware import HardwareError
    from engine.spec import SpecError

    pool = None
    try:
        found = sweep.from_toml(text, registry.Catalogue.live(), source, overrides or ())
        if found is None:
            return None, None
        if args is not None:
            plan = _plan(args, [p.spec.threads for p in found.points])
            pool = _pool(args, plan)
        on_ray = args is not None and _backend_name(args) == "ray"
        for point in found.points:
            try:
                runner.prepare(point.spec)
            except SpecError as err:
                raise sweep.point_error(source, point.idx, point.values, err) from None
            except HardwareError as err:
                if on_ray:
                    continue  # the device is the Ray nodes', checked there (below: a GPU)
                raise sweep.point_error(
                    source, point.idx, point.values, SpecError(source, "hardware.device", str(err))
                ) from None
        if on_ray:
            _check_gpus(pool, found.points)
    except SpecError as err:
        if pool is not None:
            pool.discard()
        raise CliError(str(err)) from None
    except BaseException:
        if pool is not None:
            pool.discard()
        raise
    return found, pool


def _backend_name(args) -> str:
    return getattr(args, "backend", None) or "local"


def _db_path(args):
    from pathlib import Path

    from engine.store import default_path

    return Path(args.db).expanduser() if args.db else default_path()


def _pool(args, plan):
    """The started backend of `args.backend`: a local pool (its workers start), or Ray
    (connected, or a local instance started; an unreachable address is refused here,
    before anything is written)."""
    pool = _new_backend(args, _db_path(args), plan)
    try:
        pool.start()
    except Exception as err:
        from engine.scheduler import SchedulerError

        if isinstance(err, SchedulerError):
            raise CliError(str(err)) from None
        raise
    return pool


def _new_backend(args, path, plan):
    from engine.scheduler import LocalPool

    if _backend_name(args) != "ray":
        if getattr(args, "address", None):
            raise CliError("--address is for --backend ray")
        return LocalPool(path, plan.workers, plan.threads)
    from engine.ray_backend import RayBackend

    if args.address:
        return RayBackend(path, args.address, threads=plan.threads, slots=args.workers)
    return RayBackend(
        path, None, num_cpus=plan.workers * plan.threads, threads=plan.threads, slots=plan.workers
    )


def _check_gpus(backend, points) -> None:
    """A CUDA point on a Ray cluster with no GPU would wait forever: refused instead."""
    from engine.spec import SpecError

    wanting = [p for p in points if p.spec.device.startswith("cuda")]
    if wanting and not backend.gpus():
        raise SpecError(
            wanting[0].spec.source,
            "hardware.device",
            f"point {wanting[0].idx} asks for {wanting[0].spec.device!r}, but the Ray "
            "cluster has no GPU",
        )


def _plan(args, specs_threads):
    from engine.scheduler import PoolPlan, SchedulerError, plan_workers

    if _backend_name(args) == "ray" and getattr(args, "address", None):
        # The cluster's CPUs, not this machine's, bound the points in flight (RayBackend).
        threads = max(list(specs_threads) or [0]) or 1
        return PoolPlan(getattr(args, "workers", None) or 0, threads, 0)
    try:
        return plan_workers(
            specs_threads, getattr(args, "workers", None), getattr(args, "oversubscribe", False)
        )
    except SchedulerError as err:
        raise CliError(str(err)) from None


def _scheduler(store_path, plan, pool=None, args=None):
    """A scheduler whose backend is `pool` (started early) or, when that is gone, a new one
    of `args.backend`."""
    from engine.scheduler import Scheduler

    started = [pool]

    def backend():
        given, started[0] = started[0], None
        return given or _new_backend(args, store_path, plan)

    sched = Scheduler(store_path, backend)
    sched.spare = started  # the pool not yet handed over, if any
    return sched


def _drop_spare(sched) -> None:
    """A pool started early that this command will not use: another scheduler serves."""
    spare = getattr(sched, "spare", [None])
    if spare[0] is not None:
        spare[0].discard()
        spare[0] = None


def _stored_points(store, sweep_id: int) -> list[tuple]:
    """(idx, status as stored, run_id, values_json) of a sweep's points."""
    return store.conn.execute(
        "SELECT idx, status, run_id, values_json FROM sweep_points WHERE sweep_id=? ORDER BY idx",
        (sweep_id,),
    ).fetchall()


def _point_line(store, sweep_id: int, idx: int, status: str, run_id, values: dict) -> dict:
    seconds, error = None, None
    if run_id is not None:
        row = store.get_run(run_id)
        if row is not None:
            if row["started_at"] and row["finished_at"]:
                seconds = round(row["finished_at"] - row["started_at"], 3)
            error = ((row["error"] or "").strip().splitlines() or [None])[-1]
    return {
        "sweep_id": sweep_id,
        "idx": idx,
        "run_id": run_id,
        "status": status,
        "values": values,
        "seconds": seconds,
        "error": error,
    }


def serve_and_report(args, store, sweep_id: int, plan, wanted=None, pool=None) -> int:
    """Run (or wait for) the points of a sweep, printing one line per point as it ends and a
    last line. Serves the store's queue when no other scheduler does; while another one
    does, waits for it (and takes over should it die)."""
    from engine.sweep import describe_values

    wanted = set(wanted) if wanted is not None else None
    if wanted is not None and not wanted:
        if pool is not None:
            pool.discard()
        return _final_line(args, store, sweep_id, {}, {})
    sched = _scheduler(store.path, plan, pool, args)
    printed: set[int] = set()
    statuses: dict[int, str] = {}
    run_ids: dict[int, int] = {}
    cancel = False
    previous = _sigterm_cancels(args)
    try:
        while True:
            if not sched.holding and not sched.try_acquire():
                _drop_spare(sched)  # waits on the live scheduler; a new pool if it takes over
            if sched.holding:
                sched.step()
            else:
                time.sleep(0.2)
            points = _stored_points(store, sweep_id)
            for idx, status, run_id, values_json in points:
                if wanted is not None and idx not in wanted:
                    continue
                statuses[idx] = status
                if run_id is not None:
                    run_ids[idx] = run_id
                if status == "cancelled" and run_id is not None and _run_live(store, run_id):
                    statuses[idx] = "running"  # its run is still stopping
                    continue
                if status in TERMINAL and idx not in printed:
                    printed.add(idx)
                    line = _point_line(
                        store, sweep_id, idx, status, run_id, json.loads(values_json)
                    )
                    if args.json:
                        print(json.dumps(line), flush=True)
                    else:
                        took = f" in {line['seconds']:.1f} s" if line["seconds"] is not None else ""
                        print(
                            f"point {idx} ({describe_values(line['values'])}): "
                            f"run {run_id} {status}{took}",
                            flush=True,
                        )
            if statuses and all(s in TERMINAL for s in statuses.values()):
                break
        if sched.holding:
            sched.serve()  # points other commands queued meanwhile wait for this scheduler
    except KeyboardInterrupt:
        cancel = True
        store.cancel_sweep(sweep_id)
    finally:
        _drop_spare(sched)
        sched.close(cancel=cancel)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return _final_line(args, store, sweep_id, statuses, run_ids)


def _sigterm_cancels(args):
    """On Ray the runs' rows carry this process's pid (it writes them), so SIGTERM meant for
    one of them (a Stop) reaches this process: it cancels the sweep, as Ctrl-C does, rather
    than leaving it interrupted. Returns the handler it replaced, or None."""
    if _backend_name(args) != "ray":
        return None

    def cancel(*_):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, cancel)


def _run_live(store, run_id: int) -> bool:
    row = store.conn.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
    return row is not None and row[0] in ("queued", "running")


def _final_line(args, store, sweep_id: int, statuses: dict, run_ids: dict) -> int:
    row = store.sweep(sweep_id)
    ordered = [run_ids[i] for i in sorted(run_ids)]
    final = {
        "sweep_id": sweep_id,
        "status": row["status"],
        "run_ids": ordered,
        "points": len(row["points"]),
        "db": str(store.path),
    }
    if args.json:
        print(json.dumps(final), flush=True)
    else:
        done = sum(s == "finished" for s in statuses.values())
        print(f"sweep {sweep_id} {row['status']}: {done}/{len(statuses)} points finished")
    ends = set(statuses.values())
    if ends <= {"finished"}:
        return EXIT_OK
    if "failed" in ends or "interrupted" in ends:
        return EXIT_FAILED
    return EXIT_CANCELLED


def run_sweep(args, found, pool=None) -> int:
    plan = _plan(args, [p.spec.threads for p in found.points])
    store = _store(args)
    store.reap_stale()
    sweep_id = store.create_sweep(found, priority=getattr(args, "priority", 0) or 0)
    if not args.json and not args.quiet:
        where = f"{plan.workers} workers x {plan.threads} threads"
        if _backend_name(args) == "ray":
            where = (
                f"Ray cluster at {args.address}, {pool.slots} points at once"
                if getattr(args, "address", None)
                else f"local Ray, {plan.workers} x {plan.threads} CPUs"
            )
        print(
            f"sweep {sweep_id}: {len(found.points)} points over {', '.join(found.keys)} ({where})",
            file=sys.stderr,
            flush=True,
        )
    return serve_and_report(args, store, sweep_id, plan, pool=pool)


# -- submit, scheduler, cancel, resume -------------------------------------------------
def _read_spec(path: str) -> tuple[str, str]:
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8"), path
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"{path}: cannot be read: {err}") from None


def cmd_submit(args) -> int:
    text, source = _read_spec(args.spec)
    found, _ = load_sweep(text, source, args.set)
    if found is None:
        return _submit_run(args, text, source)
    store = _store(args)
    sweep_id = store.create_sweep(found, priority=args.priority)
    if args.json:
        print(
            json.dumps({"sweep_id": sweep_id, "points": len(found.points), "db": str(store.path)})
        )
    else:
        print(f"sweep {sweep_id} queued: {len(found.points)} points (store: {store.path})")
    return EXIT_OK


def _submit_run(args, text: str, source: str) -> int:
    """A plain run spec, queued for the scheduler as a sweep of one point with no swept key
    (`sweep_store.create_run_point`): checked as `tradeoff run` checks it, then run, cancelled
    and reordered as any point is, and shown as a run (not a sweep) by the studio."""
    from engine import registry, runner, sweep_store
    from engine.hardware import HardwareError
    from engine.spec import RunSpec, SpecError

    try:
        spec = RunSpec.from_toml(text, registry.Catalogue.live(), source, overrides=args.set or ())
        runner.prepare(spec)
    except SpecError as err:
        raise CliError(str(err)) from None
    except HardwareError as err:
        raise CliError(f"{spec.source}: hardware.device: {err}") from None
    store = _store(args)
    sweep_id = sweep_store.create_run_point(store.conn, spec, priority=args.priority)
    if args.json:
        print(json.dumps({"sweep_id": sweep_id, "points": 1, "run": True, "db": str(store.path)}))
    else:
        print(f"run queued as sweep {sweep_id}, point 0 (store: {store.path})")
    return EXIT_OK


def cmd_scheduler(args) -> int:
    from engine import sweep_store
    from engine.scheduler import SchedulerError

    if args.linger < 0:
        raise CliError(f"--linger must be at least 0 seconds, got {args.linger}")
    store = _store(args)
    threads = [
        json.loads(r[0]).get("hardware", {}).get("threads", 0)
        for r in store.conn.execute("SELECT spec_json FROM sweep_points WHERE status='queued'")
    ]
    plan = _plan(args, threads or [0])
    if sweep_store.scheduler(store.conn) is not None:
        info = sweep_store.scheduler(store.conn)
        raise CliError(
            f"a scheduler (pid {info.get('pid')} on {info.get('host')}) already serves {store.path}"
        )
    pool = _pool(args, plan) if _backend_name(args) == "ray" else None
    sched = _scheduler(store.path, plan, pool, args)
    cancel = False
    try:
        sched.serve(on_event=_print_event if args.json else None, linger=args.linger)
    except SchedulerError as err:
        raise CliError(str(err)) from None
    except KeyboardInterrupt:
        cancel = True
    finally:
        sched.close(cancel=cancel)
    return EXIT_CANCELLED if cancel else EXIT_OK


def _print_event(event) -> None:
    print(json.dumps({k: v for k, v in vars(event).items()}), flush=True)


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise CliError(f"{what} must be a number, got {text!r}") from None


def _named(args) -> tuple[int | None, list[int] | None, int | None]:
    """(sweep id, point indexes or None for all, run id) of `--sweep ID [--point IDX ...]`
    or `--run ID`."""
    if args.run is not None:
        if args.point:
            raise CliError("--point goes with --sweep, not --run")
        return None, None, _int(args.run, "run id")
    sweep_id = _int(args.sweep, "sweep id")
    idxs = None if not args.point else [_int(i, "point") for i in args.point]
    return sweep_id, idxs, None


def cmd_cancel(args) -> int:
    from engine import sweep_store
    from engine.store import _process_running

    store = _store(args)
    sweep_id, idxs, run_id = _named(args)
    signalled = None
    not_live: list[tuple] = []
    if run_id is not None:
        row = store.get_run(run_id)
        if row is None:
            raise CliError(f"no run {run_id} in {store.path}")
        done = sweep_store.cancel_points(store.conn, run_id=run_id)
        marked, of_point = done["cancelled"], done["cancelled"] or done["not_live"]
        if not of_point and row["status"] in ("queued", "running"):
            # A run outside any sweep: its own engine process, stopped as the studio's Stop does.
            if row["host"] != socket.gethostname() or not _process_running(
                row["pid"], row["pid_start"]
            ):
                raise CliError(f"run {run_id}'s engine process cannot be reached from this host")
            os.kill(row["pid"], signal.SIGTERM)
            signalled = row["pid"]
        elif not marked and row["status"] not in ("queued", "running"):
            raise CliError(f"run {run_id} is {row['status']}: nothing to cancel")
        # else: its point was cancelled already and its worker is stopping it
    else:
        try:
            done = sweep_store.cancel_points(store.conn, sweep_id, idxs)
        except sweep_store.PointLookupError as err:
            raise CliError(f"{err} in {store.path}") from None
        marked = done["cancelled"]
        if idxs is not None:
            not_live = done["not_live"]
    doc = {"cancelled": [{"sweep_id": s, "idx": i, "run_id": r} for s, i, r in marked]}
    if idxs is not None:
        doc["not_live"] = [{"sweep_id": s, "idx": i, "status": st} for s, i, st in not_live]
    if signalled:
        doc["signalled_pid"] = signalled
    if args.json:
        print(json.dumps(doc))
    else:
        ended = "".join(f"; point {i} is {st}" for _, i, st in not_live)
        print(
            f"cancelled {len(marked)} point(s)"
            + (f", stopped pid {signalled}" if signalled else "")
            + ended,
            file=sys.stderr,
        )
    return EXIT_OK


def _priority_value(text: str):
    if text in ("first", "last"):
        return text
    try:
        return int(text)
    except ValueError:
        raise CliError(f"priority must be an integer, first or last, got {text!r}") from None


def cmd_priority(args) -> int:
    """Set the priority of queued points; the scheduler serving the store (in whatever
    process) takes the new order at its next claim."""
    from engine import sweep_store

    value = _priority_value(args.priority)
    store = _store(args)
    sweep_id, idxs, run_id = _named(args)
    try:
        done = sweep_store.set_priority(store.conn, value, sweep_id, idxs, run_id)
    except sweep_store.PointLookupError as err:
        raise CliError(f"{err} in {store.path}") from None
    doc = {
        "priority": done["priority"],
        "changed": [{"sweep_id": s, "idx": i} for s, i in done["changed"]],
        "not_queued": [{"sweep_id": s, "idx": i, "status": st} for s, i, st in done["not_queued"]],
    }
    if args.json:
        print(json.dumps(doc))
    else:
        line = f"priority {done['priority']} for {len(done['changed'])} queued point(s)"
        if done["not_queued"]:
            line += "; not queued (unchanged): " + ", ".join(
                f"sweep {s} point {i} ({st})" for s, i, st in done["not_queued"]
            )
        print(line)
    return EXIT_OK


def cmd_resume(args) -> int:
    from engine import sweep_store

    store = _store(args)
    sweep_id = _int(args.sweep, "sweep id")
    pool = None
    if _backend_name(args) == "ray":  # an unreachable cluster is refused before any write
        unfinished = store.conn.execute(
            "SELECT spec_json FROM sweep_points WHERE sweep_id=? AND status != 'finished'",
            (sweep_id,),
        ).fetchall()
        threads = [json.loads(r[0]).get("hardware", {}).get("threads", 0) for r in unfinished]
        pool = _pool(args, _plan(args, threads or [0]))
    store.reap_stale()
    served = sweep_store.scheduler(store.conn) is not None
    try:
        again = sweep_store.requeue(store.conn, sweep_id, stale_running=not served)
    except KeyError:
        raise CliError(f"no sweep {sweep_id} in {store.path}") from None
    specs = sweep_store.point_specs(store.conn, sweep_id)
    plan = _plan(
        args,
        [s["spec"].get("hardware", {}).get("threads", 0) for s in specs if s["idx"] in again]
        or [0],
    )
    if not args.json:
        print(f"sweep {sweep_id}: {len(again)} point(s) queued again", file=sys.stderr, flush=True)
    return serve_and_report(args, store, sweep_id, plan, wanted=again, pool=pool)


# -- sweeps, export --sweep ------------------------------------------------------------
def cmd_sweeps(args) -> int:
    store = _store(args)
    rows = store.sweeps()
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"]))
        print(
            f"{r['id']:>5}  {r['status']:<11} {r['finished']}/{r['points']} points  "
            f"{r['name'] or ''}  keys: {', '.join(r['keys'])}  {when}"
        )
    return EXIT_OK


def sweep_export_rows(store, sweep_id: int) -> tuple[list[dict], list[str]]:
    """One row per point with a run: run_id, the swept keys, then per metric its final
    checkpoint's mean and 95% t-band (`<metric>:mean`, `:lo`, `:hi`) from the aggregates."""
    import numpy as np

    from engine.metrics.aggregate import band_from_aggregate

    try:
        sweep = store.sweep(sweep_id)
    except KeyError:
        raise CliError(f"no sweep {sweep_id} in {store.path}") from None
    rows, metrics = [], []
    for point in sweep["points"]:
        if point["run_id"] is None or store.get_run(point["run_id"]) is None:
            continue
        row = {"run_id": point["run_id"], **{k: point["values"].get(k) for k in sweep["keys"]}}
        for metric in store.metrics_of(point["run_id"]):
            agg = store.aggregate_arrays(point["run_id"], metric)
            if not len(agg["step"]):
                continue  # a bound: no seeds to aggregate
            lo, hi = band_from_aggregate(agg["n"][-1:], agg["mean"][-1:], agg["var"][-1:])
            for name, value in (("mean", agg["mean"][-1]), ("lo", lo[0]), ("hi", hi[0])):
                value = float(np.asarray(value))
                row[f"{metric}:{name}"] = None if math.isnan(value) else value
            if metric not in metrics:
                metrics.append(metric)
        rows.append(row)
    columns = ["run_id", *sweep["keys"]]
    columns += [f"{m}:{part}" for m in sorted(metrics) for part in ("mean", "lo", "hi")]
    return rows, columns


def export_sweep(args) -> int:
    store = _store(args)
    rows, columns = sweep_export_rows(store, _int(args.sweep, "sweep id"))
    if args.format == "json":
        text = json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=1, allow_nan=False)
    else:
        flat = [
            {c: (json.dumps(v) if isinstance(v, (list, dict)) else v) for c, v in r.items()}
            for r in rows
        ]
        text = _csv(flat, columns)
    return _write_export(args, text)


def backend_options(p) -> None:
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="where a sweep's points run: worker processes here (local), or Ray tasks "
        "(needs the ray extra); the store is written here either way",
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="with --backend ray: the Ray cluster's head (default: a local Ray instance)",
    )


def add_parsers(sub, with_db) -> None:
    def pool_options(p):
        backend_options(p)
        p.add_argument(
            "--workers",
            type=int,
            help="worker processes (default: CPU cores // torch threads, at most one per point)",
        )
        p.add_argument(
            "--oversubscribe",
            action="store_true",
            help="allow workers x threads above the CPU cores",
        )

    p = with_db(
        sub.add_parser(
            "submit", help="validate a sweep spec (or a plain run spec) and queue its points"
        )
    )
    p.add_argument("spec", help="the sweep's TOML spec, or a run's: queued as one point")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_submit)

    p = with_db(sub.add_parser("scheduler", help="run the queued sweep points until none is left"))
    pool_options(p)
    p.add_argument(
        "--linger",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="once the queue is empty, wait this long for new points (workers ready) before "
        "exiting (default 0)",
    )
    p.add_argument("--json", action="store_true", help="one JSON line per event")
    p.set_defaults(func=cmd_scheduler)

    p = with_db(sub.add_parser("cancel", help="cancel a sweep, one of its points, or a run"))
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--sweep", help="sweep id: its queued points and running runs")
    group.add_argument("--run", help="run id")
    p.add_argument(
        "--point", action="append", metavar="IDX", help="with --sweep: only this point (repeat)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cancel)

    p = with_db(
        sub.add_parser("priority", help="change the priority of queued sweep points (higher first)")
    )
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--sweep", help="sweep id: all its queued points")
    group.add_argument("--run", help="run id: its point (queued again by resume)")
    p.add_argument(
        "--point", action="append", metavar="IDX", help="with --sweep: only this point (repeat)"
    )
    p.add_argument(
        "priority",
        help="an integer (higher runs first; default of submit: 0), or first / last: before / "
        "after every other queued point",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_priority)

    p = with_db(sub.add_parser("resume", help="run the points of a sweep that did not finish"))
    p.add_argument("sweep", help="sweep id")
    pool_options(p)
    p.add_argument("--json", action="store_true", help="one JSON line per run, then a last line")
    p.set_defaults(func=cmd_resume)

    p = with_db(sub.add_parser("sweeps", help="list the sweeps in the store"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sweeps)

    from engine import ray_status  # no Ray imported until the command runs

    ray_status.add_parser(sub)


__all__ = ["EXIT_BAD_INPUT", "add_parsers", "export_sweep", "load_sweep", "run_sweep"]
