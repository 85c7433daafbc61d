"""Zeus's energy-versus-time sweep: the device cost model and Zeus's cost at hand-computed
values, its choice on a hand table, the front of a seeded run, and the NVML path's
arithmetic with a stand-in for NVML (no GPU here)."""

import math

import numpy as np
import pytest
import torch

from engine.labs.pareto import nvml_power
from engine.labs.pareto.classification import BlobClassification, init_mlp
from engine.labs.pareto.energy_cost import (
    DevicePowerModel,
    capped_rates,
    time_and_energy,
    zeus_choice,
    zeus_cost,
)
from engine.labs.pareto.nvml_power import NvmlPowerMeter
from engine.labs.pareto.zeus import ZeusEnergyFront
from engine.metrics import hypervolume, non_dominated_mask
from engine.params import ParamError
from tests.labs.pareto.pareto_runs import last_values, recorded_objectives, run_spec

CPU = torch.device("cpu")
MODEL = DevicePowerModel(
    max_power=300.0,
    idle_power=50.0,
    peak_throughput=20_000.0,
    half_utilisation_batch=64.0,
    alpha=0.5,
)


def test_cost_model_by_hand():
    # b = 64: u = 64 / 128 = 0.5, D = 50 + 250 * 0.5 = 175 W, uncapped R = 20000 * 0.5 = 10000/s.
    # p = 300 does not bind: P = 175 W, R = 10000. p = 100 binds: P = 100 W,
    # R = 10000 * sqrt(100 / 175) = 7559.2895. With E = 3 epochs of N = 512:
    # TTA = 1536 / 10000 = 0.1536 s, ETA = 175 * 0.1536 = 26.88 J at 300 W;
    # TTA = 1536 / 7559.2895 = 0.2031937 s, ETA = 20.31937 J at 100 W.
    power, rate = MODEL.rates(64, np.array([300.0, 100.0]))
    np.testing.assert_allclose(power, [175.0, 100.0], rtol=1e-15)
    np.testing.assert_allclose(rate, [10_000.0, 7559.289460], rtol=1e-9)
    tta, eta = time_and_energy(3, 512, rate, power)
    np.testing.assert_allclose(tta, [0.1536, 0.2031937], rtol=1e-6)
    np.testing.assert_allclose(eta, [26.88, 20.31937], rtol=1e-6)
    # b = 16: u = 0.2, D = 100 W, R = 4000/s; a 150 W cap does not bind, an 80 W cap gives
    # R = 4000 * sqrt(0.8) = 3577.709.
    power, rate = MODEL.rates(16, np.array([150.0, 80.0]))
    np.testing.assert_allclose(power, [100.0, 80.0], rtol=1e-15)
    np.testing.assert_allclose(rate, [4000.0, 3577.708764], rtol=1e-9)
    # alpha = 1: energy per sample P / R does not depend on a binding cap.
    power, rate = capped_rates(175.0, 10_000.0, np.array([175.0, 100.0, 60.0]), 1.0)
    np.testing.assert_allclose(power / rate, 175.0 / 10_000.0, rtol=1e-15)


def test_zeus_cost_and_choice_on_a_hand_table():
    # C = eta ETA + (1 - eta) 300 TTA for (TTA, ETA) = (10, 3000), (20, 2000), (40, 1500), (inf, inf):
    # eta = 0.5: 1500 + 1500 = 3000, 1000 + 3000 = 4000, 750 + 6000 = 6750 -> the first;
    # eta = 0.9: 2700 + 300 = 3000, 1800 + 600 = 2400, 1350 + 1200 = 2550 -> the second;
    # eta = 1: the least energy (third); eta = 0: the least time (first). The fourth never
    # reached the target and is never chosen.
    tta = np.array([10.0, 20.0, 40.0, np.inf])
    eta = np.array([3000.0, 2000.0, 1500.0, np.inf])
    np.testing.assert_allclose(zeus_cost(tta[:3], eta[:3], 0.5, 300.0), [3000, 4000, 6750])
    np.testing.assert_allclose(zeus_cost(tta[:3], eta[:3], 0.9, 300.0), [3000, 2400, 2550])
    assert [zeus_choice(tta, eta, w, 300.0) for w in (0.5, 0.9, 1.0, 0.0)] == [0, 1, 2, 0]
    # A cost tie (eta = 0: two configurations of equal time) goes to the lower energy.
    assert zeus_choice(np.array([10.0, 10.0]), np.array([900.0, 800.0]), 0.0, 300.0) == 1
    assert zeus_choice(np.array([np.inf]), np.array([np.inf]), 0.5, 300.0) == -1


def stored_points(store, run_id):
    """seed -> (points [n, 2], labels) at the last step with Pareto rows."""
    rows, _ = store.pareto_since(run_id, 0)
    last = max(r["step"] for r in rows)
    out = {}
    for r in sorted((r for r in rows if r["step"] == last), key=lambda r: r["point"]):
        points, labels = out.setdefault(r["seed"], ([], []))
        points.append(r["objectives"])
        labels.append(r["label"])
    return {s: (np.array(p), lab) for s, (p, lab) in out.items()}


ALGORITHM = {
    "id": "pareto.zeus_energy",
    "batch_sizes": [16, 64, 256],
    "power_limits": [100.0, 200.0, 300.0],
}
PROBLEM = {"id": "pareto.blob_classification", "n_test": 1024}


def test_sweep_front_and_zeus_choice(tmp_path):
    # Every point is the cost model's prediction from the epochs it measured (recomputed here by
    # hand: TTA = E N / R, ETA = P TTA); the hypervolume metric is that of the points; the
    # non-dominated points (engine.metrics) hold Zeus's choice for eta = 0.5, since a minimiser
    # of a positively weighted sum of the objectives is Pareto optimal; and a cap below the
    # demand trades time for energy: at b = 256 (D = 250 W) 100 W is slower and cheaper than 300 W.
    # On this seed every batch size of every seed reaches 0.75 within 20 epochs (measured: 2-17).
    store, row, _ = run_spec(
        tmp_path, ALGORITHM, PROBLEM, steps=20, seeds=3, seed=1, dtype="float32"
    )
    objectives = recorded_objectives(row)
    assert objectives["names"] == ["time_to_accuracy", "energy_to_accuracy"]
    assert objectives["directions"] == ["min", "min"]
    chosen_b = last_values(store, row["id"], "chosen_batch_size")
    chosen_p = last_values(store, row["id"], "chosen_power_limit")
    volumes = last_values(store, row["id"], "hypervolume")
    np.testing.assert_array_equal(last_values(store, row["id"], "energy_measured"), 0.0)
    for seed, (points, labels) in stored_points(store, row["id"]).items():
        assert len(points) == 9 and {lab["source"] for lab in labels} == {"model"}
        b = np.array([lab["batch_size"] for lab in labels], dtype=float)
        p = np.array([lab["power_limit"] for lab in labels])
        demand = 50 + 250 * b / (b + 64)
        drawn = np.minimum(p, demand)
        rate = 20_000 * b / (b + 64) * np.sqrt(drawn / demand)
        tta = np.array([lab["epochs"] for lab in labels]) * 512 / rate
        np.testing.assert_allclose(points, np.stack([tta, drawn * tta], axis=1), rtol=1e-12)
        assert volumes[seed] == pytest.approx(
            hypervolume(points, objectives["reference_point"]), rel=1e-12
        )
        front = non_dominated_mask(points)
        assert not any(
            front[i] and np.all(points[j] <= points[i]) and np.any(points[j] < points[i])
            for i in range(9)
            for j in range(9)
        )
        picked = [i for i, lab in enumerate(labels) if lab["chosen"]]
        assert len(picked) == 1 and front[picked[0]]
        assert (b[picked[0]], p[picked[0]]) == (chosen_b[seed], chosen_p[seed])
        slow, fast = points[(b == 256) & (p == 100)][0], points[(b == 256) & (p == 300)][0]
        assert slow[0] > fast[0] and slow[1] < fast[1]


@pytest.mark.parametrize("weight, column", [(1.0, 1), (0.0, 0)])
def test_eta_one_picks_least_energy_and_eta_zero_least_time(tmp_path, weight, column):
    store, row, _ = run_spec(
        tmp_path,
        {**ALGORITHM, "energy_weight": weight},
        PROBLEM,
        steps=20,
        seeds=3,
        seed=1,
        dtype="float32",
    )
    chosen = last_values(store, row["id"], "chosen_energy" if column else "chosen_time")
    for seed, (points, _) in stored_points(store, row["id"]).items():
        assert chosen[seed] == pytest.approx(points[:, column].min(), rel=1e-12)


class FakeNvml:
    """Stands in for pynvml: limits in milliwatts, settable only within [50 W, 300 W]; the energy
    counter is advanced by the test's work."""

    class NVMLError(Exception):
        pass

    def __init__(self):
        self.limit_mw, self.energy_mj, self.shut = 250_000, 0.0, False

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle):
        return [50_000, 300_000]

    def nvmlDeviceGetPowerManagementLimit(self, handle):
        return self.limit_mw

    def nvmlDeviceSetPowerManagementLimit(self, handle, milliwatts):
        if not 50_000 <= milliwatts <= 300_000:
            raise self.NVMLError("invalid argument")
        self.limit_mw = milliwatts

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return 100_000

    def nvmlShutdown(self):
        self.shut = True


def test_nvml_meter_sets_limits_when_permitted_and_restores_the_original():
    nvml = FakeNvml()
    meter = NvmlPowerMeter(nvml, handle=0)
    assert (meter.min_power, meter.max_power) == (50.0, 300.0)
    assert meter.try_set_limit(150.0) and meter.current_limit() == 150.0
    assert not meter.try_set_limit(350.0) and meter.current_limit() == 150.0

    def work():
        nvml.energy_mj += 2000.0

    seconds, joules = meter.measure(work, lambda: None, min_seconds=0.0)
    assert joules == 2.0 and seconds > 0
    meter.close()
    assert nvml.limit_mw == 250_000 and nvml.shut


def test_measured_rates_model_the_limits_that_cannot_be_set():
    # A meter that applies 300 W but refuses 100 W and reports every window as 0.5 s and 60 J.
    # At 300 W the rates are measured: P = 60 / 0.5 = 120 W, R = 20 steps x b / 0.5 s. At
    # 100 W (refused) the device's own uncapped rates (the same 120 W and 40 b / s) are capped
    # by the cost model: P = min(100, 120) = 100 W, R = 40 b (100 / 120)^alpha. Half the
    # limits were applied.
    class Meter:
        def try_set_limit(self, watts):
            return watts >= 300.0

        def measure(self, work, synchronise, min_seconds=0.5):
            work()
            return 0.5, 60.0

        def restore_limit(self):
            pass

    problem = BlobClassification(
        {p.name: p.default for p in BlobClassification.params}, 2, CPU, torch.float64, 0
    )
    params = {
        **{p.name: p.default for p in ZeusEnergyFront.params},
        "batch_sizes": [8, 32],
        "power_limits": [100.0, 300.0],
        "profile_steps": 20,
        "alpha": 0.5,
    }
    algorithm = ZeusEnergyFront(params, problem, 2, CPU, torch.float64, 0)
    start = init_mlp(algorithm.shape, (2,), torch.Generator().manual_seed(0), CPU, torch.float64)
    power, rate, applied = algorithm.measured_rates(Meter(), start)
    np.testing.assert_allclose(power, [[100.0, 120.0], [100.0, 120.0]])
    slowdown = (100.0 / 120.0) ** 0.5
    np.testing.assert_allclose(rate, [[40 * 8 * slowdown, 40 * 8], [40 * 32 * slowdown, 40 * 32]])
    assert applied == 0.5


def test_a_window_repeats_the_work_until_nvml_counts_and_reports_per_call(monkeypatch):
    # The counter moves by 900 mJ only every third call (a coarse refresh), so a one-call
    # window would read 0 J. Each call takes 10 ms of a fake clock: a 25 ms window ends after
    # the third call, having read 900 mJ in 30 ms, so 0.3 J and 10 ms per call.
    nvml = FakeNvml()
    meter = NvmlPowerMeter(nvml, handle=0)
    clock = {"now": 100.0, "calls": 0}
    monkeypatch.setattr(nvml_power.time, "perf_counter", lambda: clock["now"])

    def work():
        clock["now"] += 0.01
        clock["calls"] += 1
        if clock["calls"] % 3 == 0:
            nvml.energy_mj += 900.0

    seconds, joules = meter.measure(work, lambda: None, min_seconds=0.025)
    assert clock["calls"] == 3
    assert joules == pytest.approx(0.3, rel=1e-12) and seconds == pytest.approx(0.01, rel=1e-9)


def test_no_energy_read_at_all_falls_back_to_the_cost_model():
    # An energy counter that never moves and a power reading of 0 W (what a virtual GPU can
    # report) give NaN joules, and the run prices its points with the cost model instead of
    # dividing 0 by 0.
    nvml = FakeNvml()
    nvml.nvmlDeviceGetPowerUsage = lambda handle: 0
    meter = NvmlPowerMeter(nvml, handle=0)
    assert np.isnan(meter.measure(lambda: None, lambda: None, min_seconds=0.0)[1])
    problem = BlobClassification(
        {p.name: p.default for p in BlobClassification.params}, 2, CPU, torch.float64, 0
    )
    params = {
        **{p.name: p.default for p in ZeusEnergyFront.params},
        "batch_sizes": [8, 32],
        "power_limits": [100.0, 300.0],
        "profile_steps": 2,
    }
    algorithm = ZeusEnergyFront(params, problem, 2, CPU, torch.float64, 0)
    start = init_mlp(algorithm.shape, (2,), torch.Generator().manual_seed(0), CPU, torch.float64)

    class ZeroMeter:
        def try_set_limit(self, watts):
            return False

        def measure(self, work, synchronise):
            work()
            return meter.measure(work, synchronise, min_seconds=0.0)

        def restore_limit(self):
            pass

    assert algorithm.measured_rates(ZeroMeter(), start) is None


def test_the_cpu_has_no_meter():
    assert NvmlPowerMeter.open(CPU) is None


@pytest.mark.parametrize(
    "change, key, reason",
    [
        (
            {"power_limits": [100.0, 350.0]},
            "power_limits",
            r"\[350.0\] W: each limit must lie above idle_power",
        ),
        ({"power_limits": [40.0]}, "power_limits", r"\[40.0\] W"),
        ({"batch_sizes": [16, 16]}, "batch_sizes", r"lists a value twice: \[16, 16\]"),
        ({"idle_power": 300.0}, "idle_power", r"must be below max_power \(300.0 W\)"),
    ],
)
def test_bad_sweeps_are_refused(change, key, reason):
    problem = BlobClassification(
        {p.name: p.default for p in BlobClassification.params}, 1, CPU, torch.float64, 0
    )
    params = {**{p.name: p.default for p in ZeusEnergyFront.params}, **change}
    with pytest.raises(ParamError, match=f"algorithm.{key}: {reason}"):
        ZeusEnergyFront(params, problem, 1, CPU, torch.float64, 0)


def test_energy_never_exceeds_max_power_times_time():
    # P(b, p) <= min(p, P_max), so ETA <= P_max TTA and eta * ETA + (1 - eta) P_max TTA lies
    # between ETA and P_max TTA: Zeus's cost brackets energy and time-priced-as-energy.
    b = np.array([1, 8, 64, 512, 4096], dtype=float)[:, None]
    power, rate = MODEL.rates(b, np.array([60.0, 150.0, 300.0])[None, :])
    tta, eta = time_and_energy(5, 1000, rate, power)
    assert np.all(eta <= 300.0 * tta + 1e-12)
    cost = zeus_cost(tta, eta, 0.3, 300.0)
    assert np.all((eta - 1e-9 <= cost) & (cost <= 300.0 * tta + 1e-9))
    assert math.isclose(float(power.max()), 50 + 250 * 4096 / (4096 + 64))
