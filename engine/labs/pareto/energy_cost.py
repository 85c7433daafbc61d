"""Time and energy to accuracy over (batch size, power limit) configurations: the device
cost model used where nothing can be measured, and Zeus's energy-time cost.

The cost model (also in docs/energy.md). For a batch size b and a power limit p (watts):

    utilisation      u(b) = b / (b + b_half)                       (how busy one batch keeps the device)
    power demanded   D(b) = P_idle + (P_max - P_idle) u(b)
    power drawn      P(b, p) = min(p, D(b))                        (a cap binds only below the demand)
    throughput       R(b, p) = R_peak u(b) (P(b, p) / D(b))^alpha  (samples per second)
    time to accuracy TTA(b, p) = E(b) N / R(b, p)                  (E(b) epochs of N samples to reach the target)
    energy           ETA(b, p) = P(b, p) TTA(b, p)                 (joules: power x time)

alpha in (0, 1] says how much a binding cap slows the device: alpha = 1 makes energy per
sample independent of the cap (slower but no saving), smaller alpha makes a lower cap
save energy at some cost in time, the trade-off the Zeus paper measures on GPUs.
E(b), the epochs to the target accuracy, is measured by actually training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DevicePowerModel:
    """The cost model's constants: P_max and P_idle (watts), R_peak (samples per second at full
    utilisation and no cap), b_half (the batch size at half utilisation) and alpha."""

    max_power: float
    idle_power: float
    peak_throughput: float
    half_utilisation_batch: float
    alpha: float

    def utilisation(self, batch_size) -> np.ndarray:
        b = np.asarray(batch_size, dtype=np.float64)
        return b / (b + self.half_utilisation_batch)

    def demanded_power(self, batch_size) -> np.ndarray:
        return self.idle_power + (self.max_power - self.idle_power) * self.utilisation(batch_size)

    def uncapped_throughput(self, batch_size) -> np.ndarray:
        return self.peak_throughput * self.utilisation(batch_size)

    def rates(self, batch_size, power_limit) -> tuple[np.ndarray, np.ndarray]:
        """(power drawn P(b, p) in watts, throughput R(b, p) in samples per second)."""
        return capped_rates(
            self.demanded_power(batch_size),
            self.uncapped_throughput(batch_size),
            power_limit,
            self.alpha,
        )


def capped_rates(
    demanded_power, uncapped_throughput, power_limit, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """(power drawn, throughput) under a cap p, from a device's uncapped demand D and throughput
    R (measured, or from the model): P = min(p, D), R (P / D)^alpha. Arrays broadcast."""
    demanded = np.asarray(demanded_power, dtype=np.float64)
    drawn = np.minimum(np.asarray(power_limit, dtype=np.float64), demanded)
    return drawn, np.asarray(uncapped_throughput, dtype=np.float64) * (drawn / demanded) ** alpha


def time_and_energy(
    epochs, samples_per_epoch: int, throughput, power
) -> tuple[np.ndarray, np.ndarray]:
    """TTA = E N / R (seconds) and ETA = P TTA (joules); epochs broadcast against the rates.
    An infinite E (target never reached) gives infinite time and energy."""
    tta = (
        np.asarray(epochs, dtype=np.float64)
        * samples_per_epoch
        / np.asarray(throughput, dtype=np.float64)
    )
    return tta, np.asarray(power, dtype=np.float64) * tta


def zeus_cost(tta, eta, energy_weight: float, max_power: float) -> np.ndarray:
    """Zeus's energy-time cost C = eta ETA + (1 - eta) MAXPOWER TTA (joules): eta = 1 counts only
    energy, eta = 0 only time (priced at the device's maximum power so both terms are joules)."""
    return energy_weight * np.asarray(eta, dtype=np.float64) + (
        1.0 - energy_weight
    ) * max_power * np.asarray(tta)


def zeus_choice(tta, eta, energy_weight: float, max_power: float) -> int:
    """Index of the configuration with the least Zeus cost among those that reached the
    target (finite TTA); ties go to the lower energy, then the lower time, then the first.
    -1 when none reached it."""
    tta, eta = np.asarray(tta, dtype=np.float64), np.asarray(eta, dtype=np.float64)
    reached = np.flatnonzero(np.isfinite(tta) & np.isfinite(eta))
    if len(reached) == 0:
        return -1
    cost = zeus_cost(tta[reached], eta[reached], energy_weight, max_power)
    order = np.lexsort((reached, tta[reached], eta[reached], cost))
    return int(reached[order[0]])
