"""`tradeoff ray-status`: the session's Ray instance as it reports itself, an unreachable
and a malformed address refused at once, Ray missing; and `tradeoff scheduler --backend
ray --address` (what the studio starts) serving a submitted sweep to its end.

Ray-status runs as its own process, as the studio runs it, against the session's one Ray
instance (`ray_address`, tests/engine/conftest.py)."""

import json
import os
import socket
import time

import pytest

from engine import cli
from engine.store import Store
from tests.helpers import json_lines, run_engine, write_spec

SWEEP = """
[run]
seeds = 2
steps = 40
[algorithm]
id = "bandits.ucb1"
[problem]
id = "bandits.bernoulli"
means = [0.2, 0.6]
[hardware]
device = "cpu"
threads = 1
[sweep.grid]
"algorithm.c" = [0.5, 2.0]
"""


def _error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def _closed_port() -> tuple[socket.socket, int]:
    """A loopback port bound by this test and never listened on: connections are refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def test_the_session_instance_reports_its_node_and_cpus(ray_address):
    import ray

    result = run_engine("ray-status", "--address", ray_address, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # one object, nothing else on stdout
    status = json.loads(lines[0])
    me = ray.get_runtime_context().get_node_id()
    assert status == {
        "address": ray_address,
        "nodes": 1,
        "cpus": 2,  # ray.init(num_cpus=2) in the fixture
        "gpus": 0,
        "ray_version": ray.__version__,
        "per_node": [{"node_id": me, "host": status["per_node"][0]["host"], "alive": True,
                      "cpus": 2, "gpus": 0}],
    }  # fmt: skip
    # the cluster goes on: ray-status only disconnected its own driver
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2


def test_the_plain_text_names_the_cluster(ray_address):
    result = run_engine("ray-status", "--address", ray_address)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.endswith(f"cluster at {ray_address}: 1 node, 2 CPUs, 0 GPUs")


def test_an_unreachable_address_is_refused_in_seconds():
    sock, port = _closed_port()
    with sock:
        address = f"127.0.0.1:{port}"
        t0 = time.monotonic()
        result = run_engine("ray-status", "--address", address, "--json")
        took = time.monotonic() - t0
    line = _error_line(result)
    assert line.startswith(f"error: cannot reach a Ray cluster at {address}: ")
    assert "refused" in line.lower()
    # ray.init's own retries would take a minute; the TCP check answers at once (the time
    # is the interpreter's start and imports, on a loaded machine)
    assert took < 30, took


def test_a_token_the_cluster_refuses_is_named_not_retried_for_a_minute(ray_address):
    """The session's instance started with token authentication (Ray 2.60's default for a
    local ray.init, which sets RAY_AUTH_MODE=token for this process and its children); a
    command without it is refused by the head, as a user's would be."""
    if os.environ.get("RAY_AUTH_MODE") != "token":
        pytest.skip("the session's Ray instance runs without token authentication")
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    t0 = time.monotonic()
    result = run_engine("ray-status", "--address", ray_address, "--json", env=env)
    took = time.monotonic() - t0
    assert _error_line(result) == (
        f"error: the Ray cluster at {ray_address} refused this connection's authentication "
        "token: use its mode here (RAY_AUTH_MODE=token, with its token in ~/.ray/auth_token "
        "or RAY_AUTH_TOKEN; or RAY_AUTH_MODE=disabled where the cluster has none)"
    )
    assert took < 30, took  # not the 20 s of silence that ends an unanswered connection


@pytest.mark.parametrize(
    "address, reason",
    [
        ("localhost", "error: --address 'localhost': expected HOST:PORT of a Ray head"),
        ("127.0.0.1:port", "error: --address '127.0.0.1:port': expected HOST:PORT of a Ray head"),
        ("ray://:10001", "error: --address 'ray://:10001': expected HOST:PORT of a Ray head"),
    ],
)
def test_a_malformed_address_is_refused(address, reason):
    assert _error_line(run_engine("ray-status", "--address", address)) == reason


def test_without_an_address_nothing_is_started():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    assert _error_line(run_engine("ray-status", "--json", env=env)) == (
        "error: ray-status needs --address HOST:PORT (or RAY_ADDRESS): it never starts a Ray "
        "instance"
    )


def test_without_ray_installed_it_says_to_install_the_extra(tmp_path):
    blocker = tmp_path / "blocked" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no ray here")\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocked")}
    assert _error_line(run_engine("ray-status", "--address", "127.0.0.1:6379", env=env)) == (
        "error: ray-status needs Ray: pip install 'tradeoff-studio[ray]' (ray==2.60.0)"
    )


def test_the_scheduler_on_ray_serves_a_submitted_sweep_to_its_end(tmp_path, capsys, ray_address):
    """What the studio's launcher starts for a sweep sent to a Ray cluster: `submit`, then
    `scheduler --backend ray --address`. In this process (whose Ray is the session's
    instance, at that address), to keep it short; ray-status above runs as its own process."""
    db = tmp_path / "s.db"
    spec = write_spec(tmp_path / "s.toml", SWEEP)
    assert cli.main(["submit", str(spec), "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points"] == 2
    argv = ["scheduler", "--db", str(db), "--backend", "ray", "--address", ray_address, "--json"]
    assert cli.main(argv) == 0
    ended = [e for e in json_lines(capsys.readouterr().out) if e["kind"] == "ended"]
    assert sorted((e["idx"], e["status"]) for e in ended) == [(0, "finished"), (1, "finished")]
    store = Store(db)
    sweep = store.sweep(1)
    assert sweep["status"] == "finished"
    for point in sweep["points"]:
        row = store.get_run(point["run_id"])
        assert row["status"] == "finished" and row["steps_done"] == 40
        assert row["pid"] == os.getpid()  # the scheduler, the driver, wrote it
        assert json.loads(row["hardware_json"])["ray"]["node_id"]  # it ran as a Ray task
        regret = store.aggregate_arrays(point["run_id"], "cumulative_regret")
        assert regret["step"][-1] == 40 and regret["n"][-1] == 2  # both seeds aggregated
