"""`tradeoff ray-status [--address ADDR] [--json]`: what the Ray cluster at an address has.

Connects as the Ray backend does (`ray_backend.connect`: first a TCP connection to the
head's GCS port with a short timeout, so a dead address is refused in seconds rather than
after ray.init's retries), reads the nodes and their resources, and disconnects. It never
starts a Ray instance: without --address the address is RAY_ADDRESS's, and without either
it refuses. The studio's hardware panel runs it to check an address before a sweep goes
there (docs/cli.md, "ray-status").

One JSON object with --json: address, nodes (alive), cpus and gpus (of the alive nodes),
ray_version, and per_node (node_id, host, alive, cpus, gpus). Exit 2 with one `error:`
line for an address that is malformed, unreachable, or not a Ray head, or without Ray.
"""

from __future__ import annotations

import json
import os
import sys
import threading

from engine.cli import EXIT_BAD_INPUT, EXIT_OK, CliError

# Past the TCP check, ray.init against a port that is open but not a Ray head (or a head
# that hangs) would retry for a minute: the command gives up after this many seconds.
ANSWER_SECONDS = 20.0
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


def _give_up(address: str) -> None:
    """From the watchdog thread: ray.init is still retrying; say so and leave at once."""
    print(
        f"error: no Ray cluster answered at {address} within {ANSWER_SECONDS:.0f} s "
        "(is it the GCS port of a Ray head?)",
        file=sys.stderr,
        flush=True,
    )
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
    watchdog = threading.Timer(ANSWER_SECONDS, _give_up, (address,))
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            connected_here = connect(address)
        except RayUnavailable as err:
            raise CliError(str(err)) from None
        finally:
            watchdog.cancel()
        try:
            status = cluster_status(ray, address)
        finally:
            if connected_here:
                ray.shutdown()  # a driver's disconnection: the cluster goes on
    except CliError:
        raise
    except Exception as err:  # noqa: BLE001 - Ray's own reason, in one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CliError(f"the Ray cluster at {address} did not report its nodes: {first}") from None
    if args.json:
        print(json.dumps(status), flush=True)
    else:
        print(
            f"Ray {status['ray_version']} cluster at {address}: {status['nodes']} nodes, "
            f"{status['cpus']} CPUs, {status['gpus']} GPUs"
        )
        for node in status["per_node"]:
            state = "alive" if node["alive"] else "dead"
            print(
                f"  {node['node_id'][:12]}  {node['host']}  {state}  "
                f"{node['cpus']} CPUs  {node['gpus']} GPUs"
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
