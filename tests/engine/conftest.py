"""Fixtures of the engine's tests."""

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """One local Ray instance for the whole test session (ray.init(num_cpus=2), loopback,
    no dashboard); its GCS address, for drivers in other processes. In-process commands
    use it as it is. Skips where Ray is not installed (the `ray` extra)."""
    ray = pytest.importorskip(
        "ray", reason="the Ray backend needs the ray extra (pip install -e '.[ray]')"
    )
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
