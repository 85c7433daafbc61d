"""`tradeoff ray-status [--address ADDR] [--json]`: what the Ray cluster at an address has.

Connects as the Ray backend does (`ray_backend.connect`: first a TCP connection to the
head's GCS port with a short timeout, so a dead address is refused in seconds rather than
after ray.init's retries), reads the nodes and their resources, and disconnects. It never
starts a Ray instance: without --address the address is RAY_ADDRESS's, and without either
it refuses. The studio's hardware panel runs it to check an address before a sweep goes
there (docs/cli.md, "ray-status").

One JSON object with --json: address, nodes (alive), cpus and gpus (of the alive nodes),
ray_version, and per_node (node_id, host, alive, cpus, gpus). Exit 2 with one `error:`
line for an address that is malformed, unreachable, not a Ray head, or whose head refuses
this process's authentication token (Ray's core logs its retries on standard error: they
are kept aside while it connects), or without Ray.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time

from engine.cli import EXIT_BAD_INPUT, EXIT_OK, CliError

# Past the TCP check, ray.init against a port that is open but not a Ray head (or a head
# that hangs) would retry for a minute: the command gives up after this many seconds.
ANSWER_SECONDS = 20.0
# What Ray 2.60's core logs when the head refuses the connection's token (or its absence).
AUTH_REFUSED = ("Unauthenticated", "InvalidAuthToken")
INSTALL_HINT = "ray-status needs Ray: pip install 'tradeoff-studio[ray]' (ray==2.60.0)"


def _address(args) -> str:
    address = (args.address or os.environ.get("RAY_ADDRESS") or "").strip()
    if not address:
        raise CliError(
            "ray-status needs --address HOST:PORT (or RAY_ADDRESS): it never starts a Ray instance"
        )
    return address


def _number(value) -> float | int:
    value = float(value or 0)
    return int(value) if value.is_integer() else value


def _count(n, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def cluster_status(ray, address: str) -> dict:
    """The status document of the cluster this process is connected to."""
    per_node = []
    for node in ray.nodes():
        resources = node.get("Resources") or {}
        per_node.append(
            {
                "node_id": node.get("NodeID"),
                "host": node.get("NodeManagerHostname") or node.get("NodeManagerAddress"),
                "alive": bool(node.get("Alive")),
                "cpus": _number(resources.get("CPU")),
                "gpus": _number(resources.get("GPU")),
            }
        )
    alive = [n for n in per_node if n["alive"]]
    return {
        "address": address,
        "nodes": len(alive),
        "cpus": _number(sum(n["cpus"] for n in alive)),
        "gpus": _number(sum(n["gpus"] for n in alive)),
        "ray_version": ray.__version__,
        "per_node": per_node,
    }


class _RayLogs:
    """Standard error at the file-descriptor level, kept aside while Ray connects: Ray's
    core logs its retries there (one line a second), where the command promises one
    `error:` line. What it logged tells an authentication refusal from silence."""

    def __enter__(self):
        sys.stderr.flush()
        self.file = tempfile.TemporaryFile()
        self.stderr = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def text(self) -> str:
        size = os.fstat(self.file.fileno()).st_size
        return os.pread(self.file.fileno(), size, 0).decode("utf-8", "replace")

    def say(self, line: str) -> None:
        """A line on the real standard error, while Ray's go aside."""
        os.write(self.stderr, (line + "\n").encode())

    def __exit__(self, *_):
        sys.stderr.flush()
        os.dup2(self.stderr, 2)
        os.close(self.stderr)
        self.file.close()


def _refusal_in(logs: str, address: str) -> str | None:
    if any(mark in logs for mark in AUTH_REFUSED):
        return (
            f"the Ray cluster at {address} refused this connection's authentication token: "
            "use its mode here (RAY_AUTH_MODE=token, with its token in ~/.ray/auth_token or "
            "RAY_AUTH_TOKEN; or RAY_AUTH_MODE=disabled where the cluster has none)"
        )
    return None


def _watch(logs: _RayLogs, address: str, connected: threading.Event) -> None:
    """While ray.init retries: leave at once on an authentication refusal, or after
    ANSWER_SECONDS of no answer (ray.init cannot be interrupted from here)."""
    deadline = time.monotonic() + ANSWER_SECONDS
    while not connected.wait(0.2):
        reason = _refusal_in(logs.text(), address)
        if reason is None and time.monotonic() < deadline:
            continue
        reason = reason or (
            f"no Ray cluster answered at {address} within {ANSWER_SECONDS:.0f} s "
            "(is it the GCS port of a Ray head?)"
        )
        logs.say(f"error: {reason}")
        os._exit(EXIT_BAD_INPUT)


def cmd_ray_status(args) -> int:
    address = _address(args)
    from engine.ray_backend import RayUnavailable, check_address, connect

    try:
        import ray  # noqa: F401 - only whether it is there
    except ImportError:
        raise CliError(INSTALL_HINT) from None
    try:
        check_address(address)  # malformed or dead: refused here, before ray.init
    except RayUnavailable as err:
        raise CliError(str(err)) from None
    connected = threading.Event()
    with _RayLogs() as logs:
        threading.Thread(target=_watch, args=(logs, address, connected), daemon=True).start()
        try:
            try:
                connected_here = connect(address)
            finally:
                connected.set()
            try:
                status = cluster_status(ray, address)
            finally:
                if connected_here:
                    ray.shutdown()  # a driver's disconnection: the cluster goes on
        except RayUnavailable as err:
            raise CliError(_refusal_in(logs.text(), address) or str(err)) from None
        except Exception as err:  # noqa: BLE001 - Ray's own reason, in one line
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise CliError(
                f"the Ray cluster at {address} did not report its nodes: {first}"
            ) from None
    if args.json:
        print(json.dumps(status), flush=True)
        return EXIT_OK
    print(
        f"Ray {status['ray_version']} cluster at {address}: {_count(status['nodes'], 'node')}, "
        f"{_count(status['cpus'], 'CPU')}, {_count(status['gpus'], 'GPU')}"
    )
    for node in status["per_node"]:
        print(
            f"  {node['node_id'][:12]}  {node['host']}  {'alive' if node['alive'] else 'dead'}  "
            f"{_count(node['cpus'], 'CPU')}, {_count(node['gpus'], 'GPU')}"
        )
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ray-status",
        help="the nodes, CPUs and GPUs of the Ray cluster at an address (never starts Ray)",
    )
    p.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="the Ray head's GCS address, or ray://HOST:PORT (default: RAY_ADDRESS)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_ray_status)
