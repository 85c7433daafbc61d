"""Power and energy of a CUDA device through NVML, for the energy-versus-time front.

pynvml is optional: it is imported only when a run is on a CUDA device, and everything
here answers None (no meter) when it is missing or NVML refuses, so the caller falls back
to the documented cost model (`engine.labs.pareto.energy_cost`). Setting a power limit
needs administrator rights on most machines; `try_set_limit` reports whether it worked.
"""

from __future__ import annotations

import math
import time

# NVML's energy counter and power reading are refreshed every few tens of milliseconds; a
# measured window shorter than that can read no energy at all (H100: 0 J for 20 small steps).
MIN_WINDOW_SECONDS = 0.5


def _torch_uuid(device) -> str | None:
    """The device's UUID as NVML spells it ("GPU-..."), so the handle matches the CUDA device
    even when CUDA_VISIBLE_DEVICES renumbers devices."""
    import torch

    try:
        uuid = torch.cuda.get_device_properties(device).uuid
    except (AttributeError, AssertionError, RuntimeError):
        return None
    text = str(uuid)
    return text if text.startswith("GPU-") else f"GPU-{text}"


class NvmlPowerMeter:
    """One device's NVML handle: its power-limit range, limit setting, and energy of a piece of work."""

    def __init__(self, nvml, handle):
        self.nvml, self.handle = nvml, handle
        low, high = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
        self.min_power, self.max_power = low / 1000.0, high / 1000.0
        self.original_limit_mw = int(nvml.nvmlDeviceGetPowerManagementLimit(handle))
        self.limit_changed = False

    @classmethod
    def open(cls, device) -> NvmlPowerMeter | None:
        """A meter for a torch CUDA device, or None where pynvml or NVML is unavailable."""
        if getattr(device, "type", str(device).split(":")[0]) != "cuda":
            return None
        try:
            import pynvml as nvml
        except ImportError:
            return None
        try:
            nvml.nvmlInit()
        except nvml.NVMLError:
            return None
        try:
            uuid = _torch_uuid(device)
            try:
                handle = nvml.nvmlDeviceGetHandleByUUID(uuid) if uuid else None
            except nvml.NVMLError:
                handle = None
            if handle is None:
                handle = nvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            return cls(nvml, handle)
        except nvml.NVMLError:
            nvml.nvmlShutdown()
            return None

    def try_set_limit(self, watts: float) -> bool:
        """Set the device's power limit; False (limit unchanged) where NVML refuses, e.g. without
        administrator rights or outside the device's range."""
        try:
            self.nvml.nvmlDeviceSetPowerManagementLimit(self.handle, round(watts * 1000))
        except self.nvml.NVMLError:
            return False
        self.limit_changed = True
        return True

    def current_limit(self) -> float:
        return self.nvml.nvmlDeviceGetPowerManagementLimit(self.handle) / 1000.0

    def _energy_mj(self) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))
        except self.nvml.NVMLError:
            return None

    def _power_w(self) -> float:
        return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0

    def measure(
        self, work, synchronise, min_seconds: float = MIN_WINDOW_SECONDS
    ) -> tuple[float, float]:
        """(seconds, joules) of one `work()`: the device synchronised before and after, and
        `work()` repeated until the window lasts `min_seconds`, so that NVML's counters have
        moved; both are the window's totals divided by the calls. Energy is the difference
        of the device's energy counter; where it has none (before Volta) or it did not move,
        the mean of the power read before and after, times the time. NaN joules when NVML
        reported no energy either way (the caller falls back to the cost model)."""
        synchronise()
        energy0, power0, start = self._energy_mj(), self._power_w(), time.perf_counter()
        calls = 0
        while True:
            work()
            synchronise()
            calls += 1
            seconds = time.perf_counter() - start
            if seconds >= min_seconds:
                break
        energy1 = self._energy_mj()
        if energy0 is not None and energy1 is not None and energy1 > energy0:
            joules = (energy1 - energy0) / 1000.0
        else:
            joules = 0.5 * (power0 + self._power_w()) * seconds
        if not joules > 0 or not math.isfinite(joules):
            joules = math.nan
        return seconds / calls, joules / calls

    def restore_limit(self) -> None:
        """Put back the limit found at `open` if it was changed."""
        if self.limit_changed:
            self.nvml.nvmlDeviceSetPowerManagementLimit(self.handle, self.original_limit_mw)
            self.limit_changed = False

    def close(self) -> None:
        """Restore the original limit and release NVML."""
        try:
            self.restore_limit()
        finally:
            self.nvml.nvmlShutdown()
