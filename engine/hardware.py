"""What this machine has (CPU cores, memory, CUDA devices) and which device a run gets.

`detect()` never fails where torch has no CUDA; `resolve()` refuses an impossible
choice with a message that says what is available, before a run starts.
"""

from __future__ import annotations

import os
import platform


class HardwareError(ValueError):
    pass


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def cuda_devices() -> list[dict]:
    import torch

    try:
        if not torch.cuda.is_available():
            return []
        out = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append(
                {
                    "index": i,
                    "name": props.name,
                    "memory_bytes": int(props.total_memory),
                    "capability": f"{props.major}.{props.minor}",
                }
            )
        return out
    except (RuntimeError, AssertionError):
        # A broken driver or a CPU-only build: report no CUDA rather than fail.
        return []


def detect() -> dict:
    import torch

    return {
        "cpu_cores": os.cpu_count() or 1,
        "cpu_name": platform.processor() or platform.machine(),
        "memory_bytes": _memory_bytes(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda_devices(),
    }


def describe_available(cuda: list[dict]) -> str:
    if not cuda:
        return "available: cpu (this torch build or machine has no CUDA device)"
    names = ", ".join(f"cuda:{d['index']} ({d['name']})" for d in cuda)
    return f"available: cpu, {names}"


def resolve(device: str, cuda: list[dict] | None = None) -> str:
    """Turn a spec's device into a concrete torch device string, or raise HardwareError."""
    if cuda is None:
        cuda = cuda_devices()
    if device == "auto":
        return "cuda:0" if cuda else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        index = 0 if device == "cuda" else int(device.split(":", 1)[1])
        if not cuda:
            raise HardwareError(
                f"device {device!r} was asked for, but CUDA is not available; "
                f"{describe_available(cuda)}"
            )
        if index >= len(cuda):
            raise HardwareError(f"device {device!r} does not exist; {describe_available(cuda)}")
        return f"cuda:{index}"
    raise HardwareError(f"unknown device {device!r}; {describe_available(cuda)}")


def used(device: str, threads: int, dtype: str) -> dict:
    """What a run actually used, as recorded in the store."""
    import torch

    info = {
        "device": device,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count() or 1,
        "torch_version": torch.__version__,
        "host": platform.node(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(int(device.split(":")[1]))
        info["device_name"] = props.name
        info["device_memory_bytes"] = int(props.total_memory)
    else:
        info["device_name"] = platform.processor() or platform.machine()
    return info
