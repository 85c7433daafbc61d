"""Sweeps on Ray (`--backend ray`): the same numbers as the local pool, a killed Ray worker,
Ctrl-C, a killed driver then resume, an unreachable address, and a two-node cluster.

One local Ray instance serves the test session (`ray_address` in tests/engine/conftest.py:
ray.init(num_cpus=2), loopback, no dashboard): in-process commands use it as it is,
subprocess drivers connect to it with --address.
Skipped, with the reason, where Ray is not installed (the `ray` extra)."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np
import pytest

ray = pytest.importorskip(
    "ray", reason="the Ray backend needs the ray extra (pip install -e '.[ray]')"
)

from engine import cli  # noqa: E402
from engine.metrics.aggregate import AGGREGATE_FIELDS  # noqa: E402
from engine.store import Store  # noqa: E402
from tests.helpers import (  # noqa: E402
    json_lines,
    run_engine,
    running_run_of_point,
    start_engine,
    wait_until,
    write_spec,
)

BASE = """
[run]
seeds = {seeds}
steps = {steps}
keep_seeds = 3
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.5, 0.6]
[hardware]
device = "cpu"
threads = 1
"""


def _ray_of(store, run_id) -> dict:
    return json.loads(store.get_run(run_id)["hardware_json"])["ray"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _records(store, run_id) -> dict:
    """Everything a run recorded but its wall times: per metric the aggregates and the kept
    seeds' series."""
    out = {}
    for metric in store.metrics_of(run_id):
        agg = store.aggregate_arrays(run_id, metric)
        out[metric] = {f: np.asarray(agg[f]) for f in ("step", *AGGREGATE_FIELDS)}
        out[metric]["seeds"] = {
            seed: (np.asarray(steps), np.asarray(values))
            for seed, (steps, values) in store.series(run_id, metric).items()
        }
    return out


def test_the_same_sweep_gives_the_same_records_on_ray_as_on_the_local_pool(
    tmp_path, capsys, ray_address
):
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=5, steps=300) + '[sweep.grid]\n"algorithm.c" = [0.5, 2.0]\n',
    )
    local_db, ray_db = tmp_path / "local.db", tmp_path / "ray.db"
    result = run_engine("run", spec, "--db", local_db, "--json", "--workers", "1")
    assert result.returncode == 0, result.stderr
    code = cli.main(["run", str(spec), "--db", str(ray_db), "--json", "--backend", "ray"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json_lines(out)[-1]["status"] == "finished"

    local, remote = Store(local_db), Store(ray_db)
    for idx in (0, 1):
        a = local.sweep(1)["points"][idx]["run_id"]
        b = remote.sweep(1)["points"][idx]["run_id"]
        row_a, row_b = local.get_run(a), remote.get_run(b)
        for key in ("status", "steps_done", "seeds", "kept_seeds", "spec_json", "objectives_json"):
            assert row_a[key] == row_b[key], key
        assert row_b["pid"] == os.getpid()  # the driver owns (and wrote) the run
        ra, rb = _records(local, a), _records(remote, b)
        assert sorted(ra) == sorted(rb) and "cumulative_regret" in ra
        for metric in ra:
            for field in ("step", *AGGREGATE_FIELDS):
                np.testing.assert_array_equal(ra[metric][field], rb[metric][field])
            bound = not len(ra[metric]["step"])  # a curve of no seed (BOUND_SEED)
            assert sorted(ra[metric]["seeds"]) == ([-1] if bound else [0, 1, 2])  # 3 of 5 kept
            for seed, (steps, values) in ra[metric]["seeds"].items():
                np.testing.assert_array_equal(steps, rb[metric]["seeds"][seed][0])
                np.testing.assert_array_equal(values, rb[metric]["seeds"][seed][1])
        # the two points differ (c matters), so equality above is not vacuous
    one, two = (remote.sweep(1)["points"][i]["run_id"] for i in (0, 1))
    assert not np.array_equal(
        remote.aggregate_arrays(one, "cumulative_regret")["mean"],
        remote.aggregate_arrays(two, "cumulative_regret")["mean"],
    )


def test_a_killed_ray_worker_fails_its_run_with_the_reason_and_the_sweep_goes_on(
    tmp_path, ray_address
):
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [100000000, 30]\n',
    )
    proc = start_engine(
        "run", spec, "--db", db, "--json", "--backend", "ray", "--address", ray_address
    )
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        worker = _ray_of(store, run0)["pid"]
        assert worker != proc.pid and _alive(worker)
        os.kill(worker, signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err  # a point failed
    lines = json_lines(out)
    assert sorted((p["idx"], p["status"]) for p in lines[:2]) == [(0, "failed"), (1, "finished")]
    row = store.get_run(run0)
    assert row["status"] == "failed"
    assert row["error"].startswith("the Ray worker on node ") and "died" in row["error"]
    assert store.sweep(1)["status"] == "failed"


def test_a_runner_killed_mid_point_fails_its_run_and_the_next_points_share_a_fresh_one(
    tmp_path, ray_address
):
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [100000000, 30, 40]\n',
    )
    proc = start_engine(
        "run", spec, "--db", db, "--json", "--backend", "ray", "--address", ray_address,
        "--workers", "1",
    )  # fmt: skip
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        killed = _ray_of(store, run0)["pid"]
        os.kill(killed, signal.SIGKILL)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err  # a point failed
    points = store.sweep(1)["points"]
    assert [p["status"] for p in points] == ["failed", "finished", "finished"]
    assert store.get_run(run0)["status"] == "failed"
    assert "died" in store.get_run(run0)["error"]
    one, two = (_ray_of(store, p["run_id"])["pid"] for p in points[1:])
    # one slot: a new runner took the place of the killed one and ran both points after it
    # (torch and the catalogue imported once for the two)
    assert one == two != killed
    assert [store.get_run(p["run_id"])["steps_done"] for p in points[1:]] == [30, 40]


def test_a_runner_that_died_idle_gives_the_next_point_to_a_fresh_one(tmp_path, ray_address):
    from engine import registry, sweep
    from engine.ray_backend import RayBackend
    from engine.scheduler import Scheduler

    db = tmp_path / "s.db"
    text = BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [30, 40]\n'
    with Store(db) as store:
        store.create_sweep(sweep.from_toml(text, registry.Catalogue.live(), "test"))
    sched = Scheduler(db, lambda: RayBackend(db, threads=1, slots=1))
    try:
        assert sched.try_acquire()
        ended = []
        while not ended:
            ended = [e for e in sched.step() if e.kind == "ended"]
        assert [(e.idx, e.status) for e in ended] == [(0, "finished")]
        store = Store(db)
        first = _ray_of(store, ended[0].run_id)["pid"]
        os.kill(first, signal.SIGKILL)  # the runner is idle: its point has ended
        wait_until(lambda: not _alive(first), "the idle runner gone", 30)
        while not sched.idle():
            ended += [e for e in sched.step() if e.kind == "ended"]
    finally:
        sched.close()
    assert [(e.idx, e.status) for e in ended] == [(0, "finished"), (1, "finished")]
    second = store.get_run(ended[1].run_id)
    assert second["status"] == "finished" and second["steps_done"] == 40
    assert _ray_of(store, ended[1].run_id)["pid"] != first


def test_the_next_point_waits_on_the_runner_and_cancelling_it_leaves_the_running_one(
    tmp_path, ray_address
):
    """One slot: the point after the running one is called on the same runner at once
    (AHEAD), so the runner begins it as soon as it ends the first. Cancelling that waiting
    point leaves the running one going, on the same runner; it ends, with nothing written,
    when the runner is stopped (here: the running point cancelled too), and the next point
    begins on a fresh runner."""
    from engine import registry, sweep, sweep_store
    from engine.ray_backend import AHEAD, RayBackend
    from engine.scheduler import CANCEL_POLL_SECONDS, Scheduler

    assert AHEAD == 1
    db = tmp_path / "s.db"
    text = BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [100000000, 30, 40]\n'
    with Store(db) as store:
        store.create_sweep(sweep.from_toml(text, registry.Catalogue.live(), "test"))
    backends = []

    def factory():
        backends.append(RayBackend(db, threads=1, slots=1))
        return backends[-1]

    sched = Scheduler(db, factory)
    events = []
    try:
        assert sched.try_acquire()
        store = Store(db)
        while running_run_of_point(store, 1, 0) is None:
            events += sched.step(0.2)
        backend = backends[0]
        (runner,) = backend.runners
        assert [t.point["idx"] for t in backend.tasks] == [0, 1]
        assert runner.task.point["idx"] == 0 and runner.queued.point["idx"] == 1
        assert [p["status"] for p in store.sweep(1)["points"]] == ["running", "running", "queued"]
        run0 = running_run_of_point(store, 1, 0)
        pid = _ray_of(store, run0)["pid"]

        sweep_store.cancel(store.conn, 1, 1)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2 * CANCEL_POLL_SECONDS + 0.5:
            events += sched.step(0.2)
        assert runner.queued.cancelling == "cancelled" and not runner.queued.ended
        assert store.get_run(run0)["status"] == "running" and backend.runners == [runner]
        assert _alive(pid)
        assert [p["status"] for p in store.sweep(1)["points"]] == [
            "running",
            "cancelled",
            "queued",
        ]

        sweep_store.cancel(store.conn, 1, 0)
        while not sched.idle():
            events += sched.step(0.2)
    finally:
        sched.close()
    ended = {e.idx: (e.status, e.run_id) for e in events if e.kind == "ended"}
    assert ended[0] == ("cancelled", run0) and ended[1] == ("cancelled", None)
    assert store.get_run(run0)["status"] == "cancelled"
    status, run2 = ended[2]
    assert status == "finished" and store.get_run(run2)["steps_done"] == 40
    assert _ray_of(store, run2)["pid"] != pid  # a fresh runner
    assert store.sweep(1)["points"][1]["run_id"] is None


def test_a_marked_point_behind_another_ends_once_that_one_has_ended(tmp_path):
    """The driver's bookkeeping alone (no Ray task runs): a point cancelled while it waits
    behind another on a runner ends when that one ends, after it, and the runner (which
    began the marked point meanwhile) is let go; a waiting point then gets a fresh one."""
    from engine import registry, sweep, sweep_store
    from engine.ray_backend import RayBackend, _Runner, _Task

    db = tmp_path / "s.db"
    text = BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [30, 40]\n'
    with Store(db) as store:
        store.create_sweep(sweep.from_toml(text, registry.Catalogue.live(), "test"))
        first, second = (sweep_store.claim_next(store.conn) for _ in range(2))
    backend = RayBackend(db, threads=1, slots=1)
    runner = _Runner(object(), (1, 0))
    ahead, behind = _Task(first, None, None, runner), _Task(second, None, None, runner)
    runner.task, runner.queued, behind.behind = ahead, behind, True
    backend.runners, backend.tasks = [runner], [ahead, behind]
    try:
        backend._stop(behind, "cancelled", None)
        assert behind.cancelling == "cancelled" and not behind.ended
        assert backend.runners == [runner] and runner.queued is behind
        backend._finish(ahead, None, "finished", None)
        assert behind.ended and backend.runners == [] and runner.task is None
        assert [(e.idx, e.status) for e in backend.pending] == [(0, "finished"), (1, "cancelled")]
        points = backend._store().sweep(1)["points"]
        assert [p["status"] for p in points] == ["finished", "cancelled"]
    finally:
        backend.close()


class _FakeActor:
    """Stands in for `ray.remote(PointRunner)` and its handles: calls return a token."""

    def __init__(self):
        self.made, self.calls = 0, []

    def options(self, **kwargs):
        return self

    def remote(self, *args):
        if args:  # a call of `run` on a handle
            self.calls.append(args[1])
            return object()
        self.made += 1
        return SimpleNamespace(run=self)


def test_points_of_another_shape_wait_for_a_free_slot_and_take_its_runner_s_place(tmp_path):
    """The driver's placement alone (no Ray task runs): one slot, points asking for 1 and
    2 CPUs. The 2-CPU point has no runner with room (the slot's runner is of the other
    shape and busy, the next 1-CPU point called behind it), so it waits here; when the
    slot's runner ends its points, it goes and a 2-CPU runner takes the point."""
    from engine import registry, sweep, sweep_store
    from engine.ray_backend import RayBackend

    db = tmp_path / "s.db"
    text = BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"hardware.threads" = [1, 1, 2]\n'
    with Store(db) as store:
        store.create_sweep(sweep.from_toml(text, registry.Catalogue.live(), "test"))
    backend = RayBackend(db, threads=1, slots=1)
    backend._actor = actor = _FakeActor()
    try:
        assert backend.idle_slots() == 2
        for _ in range(2):
            backend.submit(sweep_store.claim_next(backend._store().conn))
        (runner,) = backend.runners
        first, second = backend.tasks
        assert runner.task is first and runner.queued is second and second.behind
        assert backend.idle_slots() == 0
        backend.tasks.remove(first)  # (as poll does once a task has ended)
        backend._finish(first, None, "finished", None)
        assert runner.task is second and runner.queued is None
        backend.submit(sweep_store.claim_next(backend._store().conn))
        third = backend.tasks[-1]
        assert backend.waiting == [third] and third.gen is None and actor.made == 1
        backend.tasks.remove(second)
        backend._finish(second, None, "finished", None)
        assert backend.waiting == [] and actor.made == 2 and backend.runners == [third.runner]
        assert third.runner.shape == (2, 0) and third.runner.task is third
        assert actor.calls == ["sweep 1 point 0", "sweep 1 point 1", "sweep 1 point 2"]
    finally:
        backend.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_to_the_driver_cancels_the_remaining_tasks(tmp_path, ray_address, sig):
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [100000000, 100000000, 30]\n',
    )
    proc = start_engine(
        "run", spec, "--db", db, "--json", "--backend", "ray", "--address", ray_address,
        "--workers", "1",
    )  # fmt: skip
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        run0 = wait_until(lambda: running_run_of_point(store, 1, 0), "point 0 running")
        worker = _ray_of(store, run0)["pid"]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == cli.EXIT_CANCELLED, err
    points = store.sweep(1)["points"]
    assert [p["status"] for p in points] == ["cancelled"] * 3
    assert store.get_run(run0)["status"] == "cancelled"
    assert points[1]["run_id"] is None  # never started
    wait_until(lambda: not _alive(worker), "the cancelled task's worker gone", 30)
    assert store.sweep(1)["status"] == "cancelled"  # `tradeoff resume` queues it again


def test_a_killed_driver_leaves_a_sweep_that_resume_finishes_on_ray(tmp_path, capsys, ray_address):
    db = tmp_path / "s.db"
    spec = write_spec(
        tmp_path / "s.toml",
        BASE.format(seeds=2, steps=30) + '[sweep.zip]\n"run.steps" = [30, 20000000, 30]\n',
    )
    proc = start_engine(
        "run", spec, "--db", db, "--json", "--backend", "ray", "--address", ray_address,
        "--workers", "1",
    )  # fmt: skip
    try:
        wait_until(db.exists, "the store")
        store = Store(db)
        killed_run = wait_until(lambda: running_run_of_point(store, 1, 1), "point 1 running")
        worker = _ray_of(store, killed_run)["pid"]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = store.sweep(1)
    statuses = [p["status"] for p in before["points"]]
    # point 2 was called on the runner behind point 1 (ray_backend.AHEAD) once point 0
    # ended, or not yet: either way it never began
    assert statuses[:2] == ["finished", "interrupted"] and statuses[2] in ("queued", "interrupted")
    assert before["points"][2]["run_id"] is None
    wait_until(
        lambda: store.get_run(killed_run)["status"] == "interrupted", "the run seen ended", 30
    )
    wait_until(lambda: not _alive(worker), "Ray ending the dead driver's task", 60)
    kept = before["points"][0]["run_id"]

    # a quick resume: the interrupted point's stored spec is cut short
    store.conn.execute(
        "UPDATE sweep_points SET spec_json=json_set(spec_json, '$.run.steps', 30) "
        "WHERE sweep_id=1 AND idx=1"
    )
    store.conn.commit()
    code = cli.main(["resume", "1", "--db", str(db), "--json", "--backend", "ray"])
    lines = json_lines(capsys.readouterr().out)
    assert code == 0, lines
    assert sorted(p["idx"] for p in lines[:-1]) == [1, 2]
    after = store.sweep(1)
    assert after["status"] == "finished"
    assert after["points"][0]["run_id"] == kept
    assert store.get_run(killed_run)["status"] == "interrupted"
    assert all(store.get_run(p["run_id"])["status"] == "finished" for p in after["points"])


def test_an_unreachable_address_is_refused_before_anything_is_written(tmp_path):
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        db = tmp_path / "s.db"
        spec = write_spec(
            tmp_path / "s.toml",
            BASE.format(seeds=2, steps=30) + '[sweep.grid]\n"algorithm.c" = [0.5, 2.0]\n',
        )
        address = f"127.0.0.1:{port}"
        result = run_engine("run", spec, "--db", db, "--backend", "ray", "--address", address)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot reach a Ray cluster at " + address
    )
    assert not db.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sweep_lands_on_both_nodes_of_a_two_node_cluster(tmp_path):
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    # Ray's Unix sockets live under its temp dir: pytest's tmp_path is too long a path for them
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    # the same authentication mode on every process of this cluster (Ray 2.60 turns token
    # authentication on where it finds a token file, off where it is set to be off)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--block"]
    nodes = []
    try:
        nodes.append(
            subprocess.Popen(
                [ray_cli, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                 "--temp-dir", temp_dir, *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
            )
        )  # fmt: skip

        def reachable():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(reachable, "the head node", 60)
        nodes.append(
            subprocess.Popen(
                [ray_cli, "start", "--address", address, *common],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
            )
        )  # fmt: skip
        db = tmp_path / "s.db"
        spec = write_spec(
            tmp_path / "s.toml",
            BASE.format(seeds=2, steps=20000) + '[sweep.grid]\n"algorithm.c" = [0.5, 2.0]\n',
        )
        probe = (
            "import ray, time\n"
            f"ray.init(address='{address}', log_to_driver=False)\n"
            "while len([n for n in ray.nodes() if n['Alive']]) < 2: time.sleep(0.2)\n"
        )
        subprocess.run([sys.executable, "-c", probe], check=True, timeout=60, env=env)
        result = run_engine(
            "run", spec, "--db", db, "--json", "--backend", "ray", "--address", address, env=env
        )
        assert result.returncode == 0, result.stderr
        store = Store(db)
        runs = [p["run_id"] for p in store.sweep(1)["points"]]
        assert all(store.get_run(r)["status"] == "finished" for r in runs)
        assert len({_ray_of(store, r)["node_id"] for r in runs}) == 2  # one point per node
        assert len(store.aggregate_arrays(runs[0], "cumulative_regret")["step"]) > 100
    finally:
        # `ray start --block` stops its node's processes; each node is a session of its
        # own, so what is left of it is ended by its process group (never `ray stop`,
        # which would stop every Ray on the machine)
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_messages_waiting_together_cross_in_one_yield_with_at_most_one_batch_each():
    import queue

    from engine.ray_backend import _bundles

    waiting = queue.Queue()
    run = [("create", "bandits", "regret"), ("start", {}), ("objectives", [], [], [])]
    batches = [("batch", {"n": i}) for i in range(3)]
    for message in (*run, *batches, ("end", "finished", None), None):
        waiting.put(message)
    got = list(_bundles(waiting))
    # every message once, in order; a second batch starts the next list
    assert got == [[*run, batches[0]], [batches[1]], [batches[2], ("end", "finished", None)]]

    # a message that is not there yet is waited for, not joined to the list taken
    waiting.put(("create", "bandits", "regret"))
    bundles = _bundles(waiting)
    assert next(bundles) == [("create", "bandits", "regret")]
    waiting.put(("end", "failed", "boom"))
    waiting.put(None)
    assert list(bundles) == [[("end", "failed", "boom")]]
