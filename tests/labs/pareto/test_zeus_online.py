"""Zeus's online optimiser: its cost, the Gaussian Thompson-sampling posterior, early stopping,
just-in-time power limits and pruning exploration at hand-computed values, and its regret
against the exhaustive sweep's optimum on seeded jobs."""

import math

import numpy as np
import pytest
import torch

from engine.labs.pareto.classification import BlobClassification
from engine.labs.pareto.energy_cost import DevicePowerModel, time_and_energy, zeus_choice, zeus_cost
from engine.labs.pareto.zeus_online import (
    PruningExploration,
    ZeusOnlineOptimiser,
    cost_per_sample,
    gaussian_posterior,
    jit_power_limit,
    learned_precision,
    run_try,
    thompson_choice,
)
from engine.params import ParamError
from tests.labs.online.recorder import FakeRecorder

CPU = torch.device("cpu")
BLOBS = {
    "classes": 3,
    "clusters_per_class": 3,
    "n_features": 2,
    "spread": 4.0,
    "n_train": 512,
    "n_test": 2048,
}


def test_cost_by_hand():
    """P = 200 W, R = 1000 samples/s, eta = 0.25, MAXPOWER = 300 W: a sample costs
    (0.25 * 200 + 0.75 * 300) / 1000 = 0.275 J; E = 3 epochs of N = 512 take TTA = 1.536 s and
    ETA = 307.2 J, and C = 0.25 * 307.2 + 0.75 * 300 * 1.536 = 422.4 = 3 * 512 * 0.275."""
    assert cost_per_sample(200.0, 1000.0, 0.25, 300.0) == pytest.approx(0.275, abs=1e-15)
    tta, eta = time_and_energy(3, 512, 1000.0, 200.0)
    assert (float(tta), float(eta)) == pytest.approx((1.536, 307.2), abs=1e-12)
    assert float(zeus_cost(tta, eta, 0.25, 300.0)) == pytest.approx(422.4, abs=1e-10)
    assert 3 * 512 * 0.275 == pytest.approx(422.4, abs=1e-10)


def test_gaussian_posterior_by_hand():
    """Prior N(0, 1/1), known precision 2, costs (1, 3): tau = 1 + 2 * 2 = 5, mean = 2 * 4 / 5 =
    1.6. Zeus's flat prior with learned precision: costs (10, 14) have variance 4, so tau_b =
    1/4, posterior precision 2/4 = 0.5 (variance 4 / 2) and mean 12; (7, 7) has no spread:
    mean 7, infinite precision."""
    assert gaussian_posterior(0.0, 1.0, 2.0, [1.0, 3.0]) == pytest.approx((1.6, 5.0), abs=1e-15)
    tau = learned_precision([10.0, 14.0])
    assert tau == pytest.approx(0.25, abs=1e-15)
    assert gaussian_posterior(0.0, 0.0, tau, [10.0, 14.0]) == pytest.approx((12.0, 0.5), abs=1e-15)
    assert gaussian_posterior(0.0, 0.0, learned_precision([7.0, 7.0]), [7.0, 7.0]) == (
        7.0,
        math.inf,
    )


def test_thompson_choice_explores_then_samples_the_posterior():
    """An arm with one cost is run first. Arm A with costs (9, 11) has posterior N(10, 1/2); arm
    B with (10.5, 10.5) is certain: A is run with probability Phi(0.5 / sqrt(1/2)) = 0.7602
    (4000 draws, tolerance 0.03; a posterior variance of var instead of var / n gives 0.69)."""
    rng = np.random.default_rng(0)
    assert thompson_choice([16, 32], {16: [9.0, 11.0], 32: [10.5]}, rng) == 32
    history = {16: [9.0, 11.0], 32: [10.5, 10.5]}
    picks = [thompson_choice([16, 32], history, rng) for _ in range(4000)]
    share = np.mean(np.array(picks) == 16)
    assert share == pytest.approx(
        0.5 * (1 + math.erf(0.5 / math.sqrt(0.5) / math.sqrt(2))), abs=0.03
    )


def test_early_stopping_triggers_exactly_at_the_threshold():
    """Epochs of 1 s and 100 J, eta = 1 (cost = energy): a run needing 5 epochs costs 500. At a
    threshold of 500 it finishes (cost 500); at 499.999 it stops before the 5th epoch, after 4
    (cost 400, short of the target); below 100 it never starts; without a threshold a run
    that never reaches the target stops at max_epochs (7) without an early stop."""
    epoch = (1.0, 100.0)
    done = run_try(5, epoch, epoch, 20, 500.0, 1.0, 300.0)
    assert (done.epochs, done.cost, done.reached, done.stopped) == (5, 500.0, True, False)
    stopped = run_try(5, epoch, epoch, 20, 499.999, 1.0, 300.0)
    assert (stopped.epochs, stopped.cost, stopped.reached, stopped.stopped) == (
        4,
        400.0,
        False,
        True,
    )
    assert run_try(5, epoch, epoch, 20, 99.0, 1.0, 300.0).epochs == 0
    never = run_try(math.inf, epoch, epoch, 7, math.inf, 1.0, 300.0)
    assert (never.epochs, never.cost, never.reached, never.stopped) == (7, 700.0, False, False)
    # A profiling first epoch (2 s, 250 J) counts towards the threshold too: 250 + 3 * 100.
    profiled = run_try(4, (2.0, 250.0), epoch, 20, 549.0, 1.0, 300.0)
    assert (profiled.epochs, profiled.cost, profiled.reached) == (3, 450.0, False)


def test_jit_power_limit_picks_the_hand_argmin():
    """Limits with P = (100, 150, 200) W and R = (600, 800, 900)/s, MAXPOWER 300: at eta = 0.5
    the cost per sample is (200/600, 225/800, 250/900) = (0.333, 0.281, 0.278): the third; at
    eta = 1 it is P / R = (0.167, 0.1875, 0.222): the first."""
    power, rate = np.array([100.0, 150.0, 200.0]), np.array([600.0, 800.0, 900.0])
    assert jit_power_limit(power, rate, 0.5, 300.0) == 2
    assert jit_power_limit(power, rate, 1.0, 300.0) == 0


def test_pruning_exploration_order_by_hand():
    """Sizes 16..256, default 64. Round 1: 64 (cost 10), 32 (8), 16 misses -> upwards: 128 (9),
    256 misses. Round 2 over the survivors (32, 64, 128) from the cheapest, 32: 32, then up
    64, 128. Then the bandit takes over with arms (32, 64, 128)."""
    pruning = PruningExploration([16, 32, 64, 128, 256], 64)
    seen = []
    outcomes = {64: (10.0, True), 32: (8.0, True), 16: (0.0, False), 128: (9.0, True)}
    outcomes[256] = (0.0, False)
    while (size := pruning.next_size()) is not None:
        seen.append(size)
        pruning.observe(size, *outcomes[size])
    assert seen == [64, 32, 16, 128, 256, 32, 64, 128]
    assert pruning.sizes == [32, 64, 128]


def online_run(seed, recurrences, **overrides):
    prob = BlobClassification(BLOBS, 3, CPU, torch.float32, seed)
    params = {p.name: p.default for p in ZeusOnlineOptimiser.params}
    params.update(overrides)
    alg = ZeusOnlineOptimiser(params, prob, 3, CPU, torch.float32, seed)
    rec = FakeRecorder(list(range(1, recurrences + 1)))
    alg.run(recurrences, rec)
    return alg, rec


@pytest.mark.parametrize("seed", [1, 2])
def test_regret_goes_to_the_exhaustive_optimum(seed):
    """One trace per batch size (the epochs to the target are then the same every
    recurrence): the recorded optimum equals the sweep's exhaustive choice (`zeus_choice`
    over every (b, p) of the cost model) on every seed, and after 40 recurrences the last 10
    cost exactly that optimum (regret 0, cumulative regret flat) at the sweep's (b, p)."""
    alg, rec = online_run(seed, 40, trace_runs=1, lr=0.01)
    p = alg.p
    epochs = alg.epochs_to_target()[:, :, 0]  # [seeds, B]
    model = DevicePowerModel(
        p["max_power"],
        p["idle_power"],
        p["peak_throughput"],
        p["half_utilisation_batch"],
        p["alpha"],
    )
    sizes = np.array(p["batch_sizes"], dtype=float)[:, None]
    power, rate = model.rates(sizes, np.array(p["power_limits"])[None, :])
    for s in range(3):
        tta, eta = time_and_energy(epochs[s][:, None], 512, rate, power)
        best = zeus_choice(tta.ravel(), eta.ravel(), p["energy_weight"], p["max_power"])
        optimum = zeus_cost(
            tta.ravel()[best], eta.ravel()[best], p["energy_weight"], p["max_power"]
        )
        assert rec.series("optimal_cost")[-1, s].item() == pytest.approx(optimum, rel=1e-12)
        b, limit = divmod(best, len(p["power_limits"]))
        assert rec.series("chosen_batch_size")[-10:, s].tolist() == [p["batch_sizes"][b]] * 10
        assert rec.series("chosen_power_limit")[-10:, s].tolist() == [p["power_limits"][limit]] * 10
    assert rec.series("recurrence_regret")[-10:].abs().max().item() < 1e-9
    assert rec.series("recurrence_regret")[0].min().item() > 0  # the first recurrence profiles
    cumulative = rec.series("cumulative_regret")
    assert torch.allclose(cumulative[-1], cumulative[-10], atol=1e-9)


def test_default_batch_size_must_be_listed():
    prob = BlobClassification(BLOBS, 1, CPU, torch.float32, 0)
    params = {p.name: p.default for p in ZeusOnlineOptimiser.params}
    params["default_batch_size"] = 48
    with pytest.raises(ParamError, match="default_batch_size"):
        ZeusOnlineOptimiser(params, prob, 1, CPU, torch.float32, 0)


def test_nvml_readings_replace_the_cost_model(monkeypatch):
    """With a stand-in NVML meter (no GPU here; pynvml is optional) every window reads 0.5 s
    and 0.5 x min(limit, 150) J, so P = min(p, 150) W and R = 20 steps x b / 0.5 s = 40 b at
    every limit, and MAXPOWER is the meter's 400 W: the cheapest limit per sample is 100 W,
    and C* = min_b E(b) N (0.5 * 100 + 0.5 * 400) / (40 b)."""

    class Meter:
        max_power = 400.0

        def __init__(self):
            self.limit = 400.0

        def try_set_limit(self, watts):
            self.limit = watts
            return True

        def measure(self, work, synchronise, min_seconds=0.5):
            work()
            return 0.5, 0.5 * min(self.limit, 150.0)

        def restore_limit(self):
            self.limit = 400.0

        def close(self):
            pass

    monkeypatch.setattr(
        "engine.labs.pareto.zeus_online.NvmlPowerMeter.open", staticmethod(lambda device: Meter())
    )
    sizes = [16, 32, 64]
    alg, rec = online_run(
        1, 12, trace_runs=1, lr=0.01, batch_sizes=sizes, power_limits=[100.0, 200.0, 300.0]
    )
    assert rec.series("energy_measured").eq(1.0).all()
    assert rec.series("chosen_power_limit").eq(100.0).all()
    epochs = alg.epochs_to_target()[:, :, 0]
    by_hand = (epochs * 512 * 250.0 / (40.0 * np.array(sizes))).min(axis=1)
    assert rec.series("optimal_cost")[-1].numpy() == pytest.approx(by_hand, rel=1e-12)
