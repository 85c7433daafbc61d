"""Zeus's energy-versus-time trade-off: a sweep of batch size x power limit for training a
small classifier to a target accuracy, its front, and Zeus's choice for a user's eta."""

from __future__ import annotations

import numpy as np
import torch

from engine.labs.pareto.classification import (
    HIDDEN_UNITS,
    SGD_MOMENTUM,
    BlobClassification,
    MLPShape,
    accuracy,
    cross_entropy,
    init_mlp,
    mlp_logits,
)
from engine.labs.pareto.energy_cost import (
    DevicePowerModel,
    capped_rates,
    time_and_energy,
    zeus_choice,
    zeus_cost,
)
from engine.labs.pareto.nvml_power import NvmlPowerMeter
from engine.metrics import hypervolume
from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

OBJECTIVES = ("time_to_accuracy", "energy_to_accuracy")
WARMUP_STEPS = 3


def sgd_step(params, velocity, x, labels, lr: float, momentum: float):
    """One heavy-ball SGD step on the cross-entropy of every seed's network: v <- mu v + g,
    theta <- theta - lr v. Returns the new parameters and velocities."""
    leaves = {name: value.detach().requires_grad_(True) for name, value in params.items()}
    loss = cross_entropy(mlp_logits(leaves, x), labels)
    grads = torch.autograd.grad(loss.sum(), list(leaves.values()))
    with torch.no_grad():
        velocity = {name: momentum * velocity[name] + grad for name, grad in zip(leaves, grads)}
        params = {name: leaves[name].detach() - lr * velocity[name] for name in leaves}
    return params, velocity


class ZeusEnergyFront(Algorithm):
    """Zeus: Understanding and Optimizing GPU Energy Consumption of DNN Training

    A configuration is a batch size b and a GPU power limit p. Training to a target
    accuracy takes TTA(b, p) seconds and ETA(b, p) joules; with E(b) the epochs to the
    target, N samples per epoch, R(b, p) the throughput and P(b, p) the average power,

        TTA = E(b) N / R(b, p),   ETA = P(b, p) TTA,
        C(b, p; eta) = eta ETA + (1 - eta) MAXPOWER TTA = (eta P(b, p) + (1 - eta) MAXPOWER) TTA,

    and Zeus runs the configuration of least cost C for the user's eta in [0, 1] (eta = 1:
    least energy; eta = 0: least time). Both objectives are minimised; each configuration
    that reaches the target is one point, and the non-dominated ones are the energy-time
    front the paper plots.

    E(b) is measured: one network per batch size (same initial weights, mini-batch SGD with
    momentum, a fresh shuffle each epoch) is trained epoch by epoch, and E(b) is the first
    epoch whose test accuracy reaches `target_accuracy`. The rates R and P:
    - on a CUDA device with NVML (pynvml installed; optional): for each (b, p) the power
      limit is set and a window of training steps (repeated to fill half a second, so
      that NVML's counters move) is timed and its energy read from the device's counter,
      as Zeus's just-in-time profiler does; where setting the limit is
      not permitted, the rates at the current limit are measured and the others follow the
      cost model's cap law P = min(p, D), R (P / D)^alpha from those measurements;
    - otherwise (CPU, no NVML, or NVML reporting no energy) the documented cost model of
      `engine.labs.pareto.energy_cost` (docs/energy.md) gives them.
    The metrics ``energy_measured`` (1: NVML, 0: cost model) and ``power_limits_set`` (the
    fraction of limits actually applied) and each point's label (``source``) say which.

    Departures: Zeus learns the batch size online over recurring jobs with a Thompson-
    sampling bandit and finds p by profiling (that optimiser is `pareto.zeus_online`);
    here every configuration is evaluated (the exhaustive sweep the bandit's choice is
    compared with), so the choice is the true optimum over the grid. The seeds' networks train together as one batched job, so a
    measured rate is that job's; the MAXPOWER of the cost is the device's maximum limit
    under NVML and `max_power` otherwise. A configuration that misses the target within
    the epoch budget (the run's steps) gets no point.

    Metrics per seed: ``hypervolume`` of the points so far (reference 1.1 x the largest time
    and energy the epoch budget allows), ``batch_sizes_at_target``, and once a seed has a
    point, Zeus's choice: ``chosen_batch_size``, ``chosen_power_limit``, ``chosen_time``,
    ``chosen_energy``, ``chosen_cost``.
    """

    id = "pareto.zeus_energy"
    family = "pareto"
    paper = "Zeus: Understanding and Optimizing GPU Energy Consumption of DNN Training"
    summary = (
        "Batch size x power limit: time and energy to a target accuracy, their front, and Zeus's "
        "choice for an energy weight eta (measured through NVML on a GPU, a cost model otherwise)."
    )
    problems = (BlobClassification.id,)
    plot = "pareto"
    metrics = (
        "hypervolume",
        "batch_sizes_at_target",
        "chosen_batch_size",
        "chosen_power_limit",
        "chosen_time",
        "chosen_energy",
        "chosen_cost",
        "energy_measured",
        "power_limits_set",
    )
    params = (
        HIDDEN_UNITS,
        Param(
            "batch_sizes",
            "ints",
            [16, 32, 64, 128, 256],
            "Batch sizes b swept.",
            low=1,
            high=1_000_000,
            max_len=32,
        ),
        Param(
            "power_limits",
            "floats",
            [100.0, 150.0, 200.0, 250.0, 300.0],
            "Power limits p swept, in watts.",
            low=1.0,
            high=10_000.0,
            max_len=32,
        ),
        Param(
            "target_accuracy",
            "float",
            0.75,
            "Test accuracy that ends training.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "energy_weight",
            "float",
            0.5,
            "Zeus's eta: 1 minimises energy, 0 time.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "lr",
            "float",
            0.05,
            "SGD learning rate (the same for every batch size).",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        SGD_MOMENTUM,
        Param(
            "max_power",
            "float",
            300.0,
            "Cost model: the device's maximum power P_max (W), also Zeus's MAXPOWER.",
            low=1.0,
            high=10_000.0,
        ),
        Param(
            "idle_power",
            "float",
            50.0,
            "Cost model: power drawn at zero utilisation P_idle (W).",
            low=0.0,
            high=10_000.0,
        ),
        Param(
            "peak_throughput",
            "float",
            20_000.0,
            "Cost model: samples per second at full utilisation and no cap (R_peak).",
            low=0.0,
            low_open=True,
            high=1e12,
        ),
        Param(
            "half_utilisation_batch",
            "float",
            64.0,
            "Cost model: batch size b_half that keeps the device half busy.",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "alpha",
            "float",
            0.5,
            "Cost model: throughput under a binding cap scales as (drawn / demanded power)^alpha.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "profile_steps",
            "int",
            20,
            "NVML only: training steps timed per configuration.",
            low=1,
            high=100_000,
        ),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        for key in ("batch_sizes", "power_limits"):
            if len(set(params[key])) != len(params[key]):
                raise ParamError(f"algorithm.{key}", f"lists a value twice: {params[key]}")
        if not params["idle_power"] < params["max_power"]:
            raise ParamError(
                "algorithm.idle_power",
                f"must be below max_power ({params['max_power']} W), got {params['idle_power']} W",
            )
        outside = [
            p for p in params["power_limits"] if not params["idle_power"] < p <= params["max_power"]
        ]
        if outside:
            raise ParamError(
                "algorithm.power_limits",
                f"{outside} W: each limit must lie above idle_power "
                f"({params['idle_power']} W) and at most max_power ({params['max_power']} W)",
            )
        self.shape = MLPShape(problem.n_features, params["hidden"], problem.classes)
        self.model = DevicePowerModel(
            params["max_power"],
            params["idle_power"],
            params["peak_throughput"],
            params["half_utilisation_batch"],
            params["alpha"],
        )

    # -- rates -------------------------------------------------------------------------
    def modelled_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """(power drawn [B, L] in W, throughput [B, L] in samples/s) from the cost model."""
        b = np.asarray(self.p["batch_sizes"], dtype=np.float64)[:, None]
        return self.model.rates(b, np.asarray(self.p["power_limits"], dtype=np.float64)[None, :])

    def measured_rates(self, meter, start: dict) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(power [B, L], throughput [B, L], fraction of limits applied), profiled through NVML on
        copies of the initial networks (training itself is untouched); None when NVML
        reported no energy for a window (the run then prices with the cost model)."""
        p, prob = self.p, self.problem
        g = generator(self.device, self.seed + 1, ALGORITHM_STREAM)
        limits = p["power_limits"]
        power = np.zeros((len(p["batch_sizes"]), len(limits)))
        throughput = np.zeros_like(power)
        applied = 0
        synchronise = (
            (lambda: torch.cuda.synchronize(self.device))
            if self.device.type == "cuda"
            else (lambda: None)
        )
        for i, b in enumerate(p["batch_sizes"]):
            params = {name: value.clone() for name, value in start.items()}
            velocity = {name: torch.zeros_like(value) for name, value in params.items()}

            def steps(count, b=b):
                nonlocal params, velocity
                for _ in range(count):
                    rows = torch.randint(
                        0, prob.x_train.shape[1], (self.seeds, b), generator=g, device=self.device
                    )
                    x = prob.x_train.gather(1, rows.unsqueeze(2).expand(-1, -1, prob.n_features))
                    params, velocity = sgd_step(
                        params, velocity, x, prob.y_train.gather(1, rows), p["lr"], p["momentum"]
                    )

            steps(WARMUP_STEPS)
            uncapped = None
            for j, limit in enumerate(limits):
                if meter.try_set_limit(limit):
                    applied += 1
                    seconds, joules = meter.measure(lambda: steps(p["profile_steps"]), synchronise)
                    if not joules > 0:
                        meter.restore_limit()
                        return None
                    power[i, j], throughput[i, j] = (
                        joules / seconds,
                        p["profile_steps"] * b / seconds,
                    )
                    continue
                if uncapped is None:
                    # The refused limit's rates follow from the device's own, measured at the
                    # limit it had before this run touched it.
                    meter.restore_limit()
                    seconds, joules = meter.measure(lambda: steps(p["profile_steps"]), synchronise)
                    if not joules > 0:
                        return None
                    uncapped = (joules / seconds, p["profile_steps"] * b / seconds)
                power[i, j], throughput[i, j] = capped_rates(
                    uncapped[0], uncapped[1], limit, p["alpha"]
                )
        return power, throughput, applied / (len(limits) * len(p["batch_sizes"]))

    # -- the run -----------------------------------------------------------------------
    def run(self, steps, rec):
        p, prob = self.p, self.problem
        sizes, limits = p["batch_sizes"], p["power_limits"]
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        start = init_mlp(self.shape, (self.seeds,), g, self.device, self.dtype)
        meter = NvmlPowerMeter.open(self.device)
        try:
            measured = None if meter is None else self.measured_rates(meter, start)
            if measured is None:
                (power, throughput), applied, max_power, source = (
                    self.modelled_rates(),
                    0.0,
                    p["max_power"],
                    "model",
                )
            else:
                power, throughput, applied = measured
                max_power = meter.max_power
                source = "nvml" if applied == 1.0 else "nvml+model"
        finally:
            if meter is not None:
                meter.close()
        n_train = prob.x_train.shape[1]
        configs = [(i, j) for i in range(len(sizes)) for j in range(len(limits))]
        rows, cols = zip(*configs)
        power, throughput = power[rows, cols], throughput[rows, cols]  # [C]
        slowest_time, _ = time_and_energy(steps, n_train, throughput, power)
        reference = [1.1 * float(slowest_time.max()), 1.1 * float((power * slowest_time).max())]
        rec.objectives(list(OBJECTIVES), ["min", "min"], reference)

        nets = [{name: value.clone() for name, value in start.items()} for _ in sizes]
        velocities = [
            {name: torch.zeros_like(value) for name, value in start.items()} for _ in sizes
        ]
        epochs = np.full((self.seeds, len(sizes)), np.inf)
        recorded_reached = -1
        for t in range(1, steps + 1):
            for i, b in enumerate(sizes):
                if np.isfinite(epochs[:, i]).all():
                    continue
                order = torch.rand((self.seeds, n_train), generator=g, device=self.device).argsort(
                    dim=1
                )
                for first in range(0, n_train, b):
                    batch = order[:, first : first + b]
                    x = prob.x_train.gather(1, batch.unsqueeze(2).expand(-1, -1, prob.n_features))
                    nets[i], velocities[i] = sgd_step(
                        nets[i],
                        velocities[i],
                        x,
                        prob.y_train.gather(1, batch),
                        p["lr"],
                        p["momentum"],
                    )
                with torch.no_grad():
                    test = accuracy(mlp_logits(nets[i], prob.x_test), prob.y_test).cpu().numpy()
                epochs[:, i] = np.where(
                    np.isinf(epochs[:, i]) & (test >= p["target_accuracy"]), t, epochs[:, i]
                )
            reached = int(np.isfinite(epochs).sum())
            if rec.should_record(t) or t == steps or reached != recorded_reached:
                tta, eta = time_and_energy(
                    epochs[:, rows], n_train, throughput, power
                )  # [seeds, C]
                self._record(
                    rec,
                    t,
                    tta,
                    eta,
                    epochs,
                    reference,
                    max_power,
                    source,
                    applied,
                    pareto=reached != recorded_reached or t == steps,
                )
                recorded_reached = reached
            rec.progress(t)

    def _record(self, rec, step, tta, eta, epochs, reference, max_power, source, applied, pareto):
        p = self.p
        configs = [(b, limit) for b in p["batch_sizes"] for limit in p["power_limits"]]
        points = np.stack([tta, eta], axis=2)  # [seeds, C, 2]
        choices = [
            zeus_choice(tta[s], eta[s], p["energy_weight"], max_power) for s in range(self.seeds)
        ]
        values = {
            "hypervolume": np.array([hypervolume(points[s], reference) for s in range(self.seeds)]),
            "batch_sizes_at_target": np.isfinite(epochs).sum(axis=1).astype(np.float64),
            "energy_measured": np.full(self.seeds, 0.0 if source == "model" else 1.0),
            "power_limits_set": np.full(self.seeds, applied),
        }
        if min(choices) >= 0:
            picked = np.array(choices)
            seeds = np.arange(self.seeds)
            values.update(
                {
                    "chosen_batch_size": np.array(
                        [configs[c][0] for c in choices], dtype=np.float64
                    ),
                    "chosen_power_limit": np.array(
                        [configs[c][1] for c in choices], dtype=np.float64
                    ),
                    "chosen_time": tta[seeds, picked],
                    "chosen_energy": eta[seeds, picked],
                    "chosen_cost": zeus_cost(
                        tta[seeds, picked], eta[seeds, picked], p["energy_weight"], max_power
                    ),
                }
            )
        rec.metrics(step, values)
        if not pareto:
            return
        kept, seed_of, labels = [], [], []
        for s in range(self.seeds):
            for c, (b, limit) in enumerate(configs):
                if np.isfinite(tta[s, c]):
                    kept.append(points[s, c])
                    seed_of.append(s)
                    labels.append(
                        {
                            "batch_size": b,
                            "power_limit": limit,
                            "epochs": int(epochs[s, p["batch_sizes"].index(b)]),
                            "source": source,
                            "zeus_cost": float(
                                zeus_cost(tta[s, c], eta[s, c], p["energy_weight"], max_power)
                            ),
                            "chosen": c == choices[s],
                        }
                    )
        if kept:
            rec.pareto(step, np.array(kept), np.array(seed_of), labels)
