"""Zeus's online optimiser over recurring training jobs: the batch-size bandit (pruning
exploration, then Gaussian Thompson sampling on the energy-time cost, with early stopping
of costly recurrences) and just-in-time power-limit profiling, and its cost regret against
the exhaustive optimum of the same cost model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.labs.pareto.classification import accuracy, init_mlp, mlp_logits
from engine.labs.pareto.energy_cost import zeus_cost
from engine.labs.pareto.nvml_power import NvmlPowerMeter
from engine.labs.pareto.zeus import ZeusEnergyFront, sgd_step
from engine.params import Param, ParamError
from engine.seeding import ALGORITHM_STREAM, generator

PRUNING_ROUNDS = 2  # Zeus explores the batch sizes twice before its bandit takes over
MAX_TRIES = 20  # tries of one recurrence before it is given up (Zeus's simulator: 20)


def gaussian_posterior(prior_mean, prior_precision, reward_precision, observations):
    """Posterior (mean, precision) of an arm's mean cost mu under the prior N(mu0, 1/tau0) and
    observations x_1..x_n ~ N(mu, 1/tau) (conjugate normal, known precision tau):

        tau_n = tau0 + n tau,    mu_n = (tau0 mu0 + tau sum_i x_i) / tau_n.

    tau = inf (one repeated value: no spread seen) gives the sample mean with infinite
    precision, so sampling returns it."""
    x = np.asarray(observations, dtype=np.float64)
    if len(x) == 0:
        return float(prior_mean), float(prior_precision)
    if np.isinf(reward_precision):
        return float(x.mean()), np.inf
    precision = prior_precision + len(x) * reward_precision
    return float((prior_precision * prior_mean + reward_precision * x.sum()) / precision), precision


def learned_precision(observations) -> float:
    """Zeus learns each arm's cost precision as 1 / (population variance of its costs); inf
    when they do not spread."""
    variance = float(np.var(np.asarray(observations, dtype=np.float64)))
    return np.inf if variance == 0.0 else 1.0 / variance


def cost_per_sample(power, throughput, energy_weight: float, max_power: float) -> np.ndarray:
    """Zeus's cost of one training sample at power P and throughput R:
    (eta P + (1 - eta) MAXPOWER) / R, so a run of E epochs of N samples costs E N times it."""
    return (
        energy_weight * np.asarray(power, dtype=np.float64) + (1.0 - energy_weight) * max_power
    ) / np.asarray(throughput, dtype=np.float64)


def jit_power_limit(power, throughput, energy_weight: float, max_power: float) -> int:
    """Index of the power limit a just-in-time profile picks for one batch size: the least
    cost per sample over the profiled limits (the epochs to the target do not depend on the
    limit, so this is the least cost of the whole run); ties go to the first listed."""
    return int(np.argmin(cost_per_sample(power, throughput, energy_weight, max_power)))


@dataclass(frozen=True)
class TryOutcome:
    epochs: int  # epochs run
    time: float
    energy: float
    cost: float
    reached: bool
    stopped: bool  # stopped early at the cost threshold (not for want of epochs)


def run_try(
    epochs_to_target: float,
    first_epoch: tuple[float, float],
    epoch: tuple[float, float],
    max_epochs: int,
    threshold: float,
    energy_weight: float,
    max_power: float,
) -> TryOutcome:
    """One training run of a recurrence, epoch by epoch: ``first_epoch`` and ``epoch`` are the
    (time, energy) of the first and of every later epoch. Before each epoch Zeus checks the
    cost the run would have after it; if that exceeds ``threshold`` (beta x the least cost of
    a recurrence so far) the run stops there, short of the target. A run reaches the target
    after ``epochs_to_target`` epochs (inf: never within ``max_epochs``)."""
    time = energy = 0.0
    for e in range(1, max_epochs + 1):
        step_time, step_energy = first_epoch if e == 1 else epoch
        after = zeus_cost(time + step_time, energy + step_energy, energy_weight, max_power)
        if after > threshold:
            cost = float(zeus_cost(time, energy, energy_weight, max_power))
            return TryOutcome(e - 1, time, energy, cost, False, True)
        time, energy = time + step_time, energy + step_energy
        if e >= epochs_to_target:
            return TryOutcome(e, time, energy, float(after), True, False)
    cost = float(zeus_cost(time, energy, energy_weight, max_power))
    return TryOutcome(max_epochs, time, energy, cost, False, False)


@dataclass
class PruningExploration:
    """Zeus's exploration before the bandit: in each of two rounds, try the batch sizes from
    the default downwards, then upwards from it; a size whose run misses the target ends
    that direction. The survivors of a round are the next round's sizes, and the default
    becomes the round's cheapest size."""

    sizes: list[int]
    default: int
    round: int = 0
    plan: list[list[int]] = field(default_factory=list)
    good: list[int] = field(default_factory=list)
    best: float = np.inf

    def __post_init__(self):
        self._start_round()

    def _start_round(self):
        at = self.sizes.index(self.default)
        self.plan = [sorted(self.sizes[: at + 1], reverse=True), sorted(self.sizes[at + 1 :])]
        self.good, self.best = [], np.inf

    def next_size(self) -> int | None:
        """The next size to explore, or None once both rounds are over."""
        while self.round < PRUNING_ROUNDS:
            self.plan = [d for d in self.plan if d]
            if self.plan:
                return self.plan[0][0]
            self.sizes = sorted(self.good) or [self.default]
            self.round += 1
            if self.round < PRUNING_ROUNDS:
                self._start_round()
        return None

    def observe(self, size: int, cost: float, reached: bool) -> None:
        direction = self.plan[0]
        assert direction[0] == size
        if reached:
            direction.pop(0)
            self.good.append(size)
            if cost < self.best:
                self.best, self.default = cost, size
        else:
            self.plan.pop(0)  # a miss ends this direction


class ZeusOnlineOptimiser(ZeusEnergyFront):
    """Zeus: Understanding and Optimizing GPU Energy Consumption of DNN Training -- its
    online optimiser over recurring jobs (the exhaustive sweep `pareto.zeus_energy` is the
    baseline it is measured against).

    A job recurs (one step of the run = one recurrence). Each recurrence Zeus picks a batch
    size b, profiles power limits just in time if b is new, trains to the target and pays
    C = eta ETA + (1 - eta) MAXPOWER TTA:

    - batch size: first the pruning exploration (`PruningExploration`, two rounds from
      ``default_batch_size`` down then up), then Gaussian Thompson sampling over the
      surviving sizes: arm b's costs x_1..x_n give, with Zeus's flat prior (tau0 = 0) and
      learned precision tau_b = 1 / var(x), the posterior N(mean x, var(x) / n)
      (`gaussian_posterior`); Zeus samples every arm and runs the least sampled cost;
    - early stopping: a run stops before the epoch that would take its cost above
      beta x (the least cost of a recurrence so far); its cost is observed by the bandit and
      the recurrence retries with a new choice (a run whose first epoch alone exceeds the
      threshold never starts: the bandit is told 100 beta x the least cost), and the
      recurrence costs the sum of its tries;
    - power limit: the first epoch of a new b is split equally over the power limits,
      each share measuring R(b, p) and P(b, p); the limit of least cost per sample
      (eta P + (1 - eta) MAXPOWER) / R is kept for b from then on (`jit_power_limit`).

    The job: the seed's classifier trained with SGD; ``trace_runs`` independent trainings
    per batch size (own initial weights and shuffles) give epochs to the target
    E(b, k), and every try draws one k, as Zeus's trace-driven simulator does. The rates
    P(b, p), R(b, p) come from the cost model (`engine.labs.pareto.energy_cost`,
    docs/energy.md) or, on a CUDA device with pynvml installed (optional; imported only
    then), from NVML as in `pareto.zeus_energy`.

    Regret: the exhaustive optimum is the least expected cost of one fixed configuration,
    C* = min_{b,p} mean_k E(b, k) N (eta P(b, p) + (1 - eta) MAXPOWER) / R(b, p), over the
    sizes whose every trace reaches the target. Recorded per recurrence t:
    ``recurrence_cost``, ``recurrence_regret`` = its cost - C*, ``cumulative_regret`` (sum),
    ``optimal_cost`` C*, ``chosen_batch_size`` and ``chosen_power_limit`` of its last try,
    ``early_stops`` (tries stopped so far), ``energy_measured``.

    Departures: with NVML the rates of every (b, p) are profiled up front by the sweep's
    profiler (the windows a just-in-time profile would measure), and the just-in-time
    logic (which limit, what the first epoch costs) runs on them; the first epoch's
    profiling is accounted as N/L samples at each of the L limits (the paper profiles a
    few seconds per limit inside the first epoch; the share is not given); epochs to the
    target come from the traces, not a new training per recurrence; data drift and
    concurrent submissions are not modelled.
    """

    id = "pareto.zeus_online"
    family = "pareto"
    summary = (
        "Zeus's online optimiser: pruning + Gaussian Thompson sampling over batch sizes, early "
        "stopping at beta x the best cost, just-in-time power limits; cost regret to the sweep's optimum."
    )
    plot = "regret"
    metrics = (
        "cumulative_regret",
        "recurrence_regret",
        "recurrence_cost",
        "optimal_cost",
        "chosen_batch_size",
        "chosen_power_limit",
        "early_stops",
        "energy_measured",
    )
    params = ZeusEnergyFront.params + (
        Param(
            "default_batch_size",
            "int",
            64,
            "The user's batch size b0, where pruning exploration starts (must be listed).",
            low=1,
            high=1_000_000,
        ),
        Param(
            "early_stop_threshold",
            "float",
            2.0,
            "beta: a run stops once its cost would exceed beta x the least recurrence cost.",
            low=1.0,
            high=1000.0,
        ),
        Param(
            "max_epochs",
            "int",
            30,
            "Epochs a run may train before it is given up.",
            low=1,
            high=10_000,
        ),
        Param(
            "trace_runs",
            "int",
            4,
            "Independent trainings per batch size whose epochs to the target the tries draw from.",
            low=1,
            high=64,
        ),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if params["default_batch_size"] not in params["batch_sizes"]:
            raise ParamError(
                "algorithm.default_batch_size",
                f"{params['default_batch_size']} is not among batch_sizes {params['batch_sizes']}",
            )

    def epochs_to_target(self) -> np.ndarray:
        """E [seeds, B, K]: the first epoch at which trace k of batch size b reaches the
        target test accuracy (inf if not within max_epochs)."""
        p, prob = self.p, self.problem
        k, n_train, d = p["trace_runs"], prob.x_train.shape[1], prob.n_features
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        out = np.full((self.seeds, len(p["batch_sizes"]), k), np.inf)
        x_all = prob.x_train.unsqueeze(0).expand(k, -1, -1, -1)
        y_all = prob.y_train.unsqueeze(0).expand(k, -1, -1)
        for i, b in enumerate(p["batch_sizes"]):
            params = init_mlp(self.shape, (k, self.seeds), g, self.device, self.dtype)
            velocity = {name: torch.zeros_like(value) for name, value in params.items()}
            for epoch in range(1, p["max_epochs"] + 1):
                if np.isfinite(out[:, i]).all():
                    break
                order = torch.rand((k, self.seeds, n_train), generator=g, device=self.device)
                order = order.argsort(dim=2)
                for first in range(0, n_train, b):
                    rows = order[:, :, first : first + b]
                    x = x_all.gather(2, rows.unsqueeze(3).expand(-1, -1, -1, d))
                    params, velocity = sgd_step(
                        params, velocity, x, y_all.gather(2, rows), p["lr"], p["momentum"]
                    )
                with torch.no_grad():
                    test = accuracy(mlp_logits(params, prob.x_test), prob.y_test).cpu().numpy()
                hit = np.isinf(out[:, i]) & (test.T >= p["target_accuracy"])
                out[:, i][hit] = epoch
        return out

    def run(self, steps, rec):
        p, prob = self.p, self.problem
        sizes, limits = list(p["batch_sizes"]), list(p["power_limits"])
        eta, beta = p["energy_weight"], p["early_stop_threshold"]
        n_train = prob.x_train.shape[1]
        meter = NvmlPowerMeter.open(self.device)
        try:
            measured = None
            if meter is not None:
                g = generator(self.device, self.seed, ALGORITHM_STREAM)
                start = init_mlp(self.shape, (self.seeds,), g, self.device, self.dtype)
                measured = self.measured_rates(meter, start)
            if measured is None:
                (power, throughput), max_power, source = self.modelled_rates(), p["max_power"], 0.0
            else:
                power, throughput, _ = measured
                max_power, source = meter.max_power, 1.0
        finally:
            if meter is not None:
                meter.close()
        epochs = self.epochs_to_target()  # [seeds, B, K]
        per_sample = cost_per_sample(power, throughput, eta, max_power)  # [B, L]
        chosen_limit = [
            jit_power_limit(power[i], throughput[i], eta, max_power) for i in range(len(sizes))
        ]
        # An epoch at b's chosen limit, and b's profiling epoch (N / L samples at each limit).
        epoch_at = [
            (n_train / throughput[i, j], power[i, j] * n_train / throughput[i, j])
            for i, j in enumerate(chosen_limit)
        ]
        share = n_train / len(limits)
        profiling_epoch = [
            (float((share / throughput[i]).sum()), float((power[i] * share / throughput[i]).sum()))
            for i in range(len(sizes))
        ]
        expected = epochs.mean(axis=2)[:, :, None] * n_train * per_sample[None]  # [seeds, B, L]
        optimum = expected.reshape(self.seeds, -1).min(axis=1)
        learners = [
            _SeedLearner(
                sizes,
                p["default_batch_size"],
                np.random.default_rng([self.seed, ALGORITHM_STREAM, s]),
            )
            for s in range(self.seeds)
        ]
        cumulative = np.zeros(self.seeds)
        for t in range(1, steps + 1):
            costs = np.zeros(self.seeds)
            picked = np.zeros((self.seeds, 2))
            for s, learner in enumerate(learners):
                for _ in range(MAX_TRIES):
                    i = sizes.index(learner.next_size())
                    profile = i not in learner.profiled
                    learner.profiled.add(i)
                    trace = learner.rng.integers(epochs.shape[2])
                    outcome = run_try(
                        epochs[s, i, trace],
                        profiling_epoch[i] if profile else epoch_at[i],
                        epoch_at[i],
                        p["max_epochs"],
                        beta * learner.least_cost,
                        eta,
                        max_power,
                    )
                    picked[s] = (sizes[i], limits[chosen_limit[i]])
                    if outcome.epochs == 0:
                        learner.observe(sizes[i], 100.0 * beta * learner.least_cost, False)
                        learner.early_stops += 1
                        continue
                    costs[s] += outcome.cost
                    learner.observe(sizes[i], outcome.cost, outcome.reached)
                    learner.early_stops += outcome.stopped
                    if outcome.reached:
                        break
                learner.least_cost = min(learner.least_cost, costs[s])
            cumulative += costs - optimum
            if rec.should_record(t) or t == steps:
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": cumulative.copy(),
                        "recurrence_regret": costs - optimum,
                        "recurrence_cost": costs,
                        "optimal_cost": optimum,
                        "chosen_batch_size": picked[:, 0].copy(),
                        "chosen_power_limit": picked[:, 1].copy(),
                        "early_stops": np.array(
                            [x.early_stops for x in learners], dtype=np.float64
                        ),
                        "energy_measured": np.full(self.seeds, source),
                    },
                )
            rec.progress(t)


class _SeedLearner:
    """One seed's batch-size optimiser: pruning exploration, then Gaussian Thompson sampling."""

    def __init__(self, sizes, default, rng):
        self.pruning = PruningExploration(sorted(sizes), default)
        self.history: dict[int, list[float]] = {b: [] for b in sizes}
        self.arms: list[int] | None = None
        self.rng = rng
        self.profiled: set[int] = set()
        self.least_cost = np.inf
        self.early_stops = 0

    def next_size(self) -> int:
        if self.arms is None:
            size = self.pruning.next_size()
            if size is not None:
                return size
            self.arms = self.pruning.sizes
        return thompson_choice(self.arms, self.history, self.rng)

    def observe(self, size: int, cost: float, reached: bool) -> None:
        self.history[size].append(cost)
        if self.arms is None:
            self.pruning.observe(size, cost, reached)


def thompson_choice(arms, history, rng) -> int:
    """Zeus's Gaussian Thompson sampling step: an arm with fewer than two costs is explored
    first; otherwise each arm's mean cost is drawn from its posterior (flat prior, learned
    precision) and the least draw is run."""
    for arm in arms:
        if len(history[arm]) < 2:
            return arm
    draws = []
    for arm in arms:
        mean, precision = gaussian_posterior(
            0.0, 0.0, learned_precision(history[arm]), history[arm]
        )
        draws.append(mean if np.isinf(precision) else rng.normal(mean, 1.0 / np.sqrt(precision)))
    return arms[int(np.argmin(draws))]
