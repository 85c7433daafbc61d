"""ZCL and ECT[alpha] thresholds for online knapsack against reference values.

Each test names the result it checks.
"""

import math

import pytest
import torch

from engine.labs.online.knapsack_arrivals import (
    Arrivals,
    OnlineKnapsackArrivals,
    fractional_optimum,
)
from engine.labs.online.time_fair_knapsack import (
    TimeFairKnapsack,
    ect_rate,
    lambert_w,
    threshold,
    zcl_fairness,
)
from engine.params import ParamError
from tests.labs.online.recorder import CPU, FakeRecorder, run

T64 = torch.float64
E = math.e


def problem_params(order="random", low=1.0, high=100.0, mean_weight=0.01):
    return {"low_density": low, "high_density": high, "mean_weight": mean_weight, "order": order}


def test_zcl_threshold_by_hand():
    """L = 1, U = e^2: ln(U/L) = 2, alpha* = 1/3, and ZCL's psi(z) = (e^3)^z / e = e^{3z - 1}
    above alpha*: psi(1/3) = 1 = L, psi(2/3) = e, psi(1) = e^2 = U; psi = L below 1/3.
    Its rate is 1 + ln(U/L) = 3, the classic competitive ratio."""
    low, high = 1.0, E**2
    alpha = zcl_fairness(low, high)
    assert alpha == pytest.approx(1 / 3)
    assert ect_rate(low, high, alpha) == pytest.approx(3.0, abs=1e-12)
    z = torch.tensor([0.0, 0.1, 1 / 3, 2 / 3, 1.0], dtype=T64)
    assert threshold(z, low, high, alpha).tolist() == pytest.approx(
        [1.0, 1.0, 1.0, E, E**2], abs=1e-12
    )


def test_ect_threshold_by_hand():
    """L = 1, U = e^2, alpha = e / (1 + e): U (1 - alpha) / (L alpha) = e^2 / e = e and W(e) = 1,
    so beta = 1 / (1 - alpha) = 1 + e; psi jumps at alpha from L = 1 to U e^{-1} = e
    (= alpha beta L), and psi(1) = U."""
    assert lambert_w(E) == pytest.approx(1.0, abs=1e-14)
    assert lambert_w(2 * E**2) == pytest.approx(2.0, abs=1e-14)
    assert lambert_w(0.0) == 0.0
    low, high, alpha = 1.0, E**2, E / (1 + E)
    assert ect_rate(low, high, alpha) == pytest.approx(1 + E, abs=1e-12)
    z = torch.tensor([0.5, alpha, 1.0], dtype=T64)
    assert threshold(z, low, high, alpha).tolist() == pytest.approx([1.0, E, E**2], abs=1e-12)


def test_fractional_optimum_by_hand():
    """Densities (3, 5, 1, 4), weights (0.5, 0.3, 0.9, 0.4), capacity 1: densest first, 0.3 at 5,
    0.4 at 4, the remaining 0.3 of the 0.5 at 3: OPT = 1.5 + 1.6 + 0.9 = 4.0."""
    v = torch.tensor([[3.0, 5.0, 1.0, 4.0]], dtype=T64)
    w = torch.tensor([[0.5, 0.3, 0.9, 0.4]], dtype=T64)
    assert fractional_optimum(v, w).item() == pytest.approx(4.0, abs=1e-12)


@pytest.mark.parametrize("order", ["random", "increasing", "decreasing"])
def test_zcl_ratio_within_one_plus_log_on_every_seed(order):
    """Zhou-Chakrabarty-Lukose: with infinitesimal (fractionally admitted) items, OPT <=
    (1 + ln(U/L)) ALG on every sequence -- checked per seed at every checkpoint, including
    the adversarial increasing order."""
    alg, _, rec = run(
        TimeFairKnapsack,
        OnlineKnapsackArrivals,
        {"fairness": 0.0, "admission": "fractional"},
        problem_params(order),
        40,
        [1, 10, 50, 200, 600],
        seed=3,
    )
    bound = 1.0 + math.log(100.0)
    ratios = rec.series("competitive_ratio")
    assert ratios.max().item() <= bound + 1e-9
    assert ratios.min().item() >= 1.0 - 1e-12
    assert rec.bounds["competitive_ratio_upper_bound"][0] == pytest.approx(bound)


class IncreasingGrid(OnlineKnapsackArrivals):
    """The threshold analysis' adversary: densities L (U/L)^{k/n}, k = 0..n, each item of weight 1
    (no id: not registered)."""

    id = ""

    def __init__(self, n, low=1.0, high=100.0):
        super().__init__(problem_params(low=low, high=high), 1, CPU, T64, 0)
        grid = low * (high / low) ** (torch.arange(n + 1, dtype=T64) / n)
        self._arrivals = Arrivals(grid[None, :], torch.ones((1, n + 1), dtype=T64))

    def sequence(self, steps):
        return self._arrivals


@pytest.mark.parametrize("fairness", [0.0, 0.4, 0.7])
def test_ect_ratio_is_tight_on_the_increasing_adversary(fairness):
    """On the increasing adversary stopped at density v >= alpha beta L, ALG = alpha L +
    int_alpha^{g(v)} U e^{beta(z - 1)} dz = v / beta and OPT = v, so the worst ratio over stopping
    points is beta(alpha) itself (up to the grid's step, here (U/L)^{1/n} - 1 < 0.5%)."""
    n = 1000
    prob = IncreasingGrid(n)
    alg = TimeFairKnapsack({"fairness": fairness, "admission": "fractional"}, prob, 1, CPU, T64, 0)
    rec = FakeRecorder(list(range(1, n + 2)))
    alg.run(n + 1, rec)
    worst = rec.series("competitive_ratio").max().item()
    assert worst <= alg.beta + 1e-9
    assert worst >= alg.beta * (1 - 0.005)


def test_ratio_grows_with_the_fairness_share():
    """The paper's trade-off: the competitive ratio beta(alpha) of ECT[alpha] increases with the
    fairness share alpha (1 + ln 100 = 5.61 at alpha*, 6.77 at 1/2, 11.8 at 0.8, U/L = 100 at 1),
    and so does the measured ratio: mean over 40 seeds at T = 600, with a margin of 0.1 between
    neighbours, on random and on increasing arrivals."""
    alphas = [0.0, 0.5, 0.8, 1.0]
    betas = [ect_rate(1.0, 100.0, a or zcl_fairness(1.0, 100.0)) for a in alphas]
    assert betas == pytest.approx([1 + math.log(100), 6.7713, 11.8008, 100.0], abs=1e-4)
    for order in ("random", "increasing"):
        means = []
        for a in alphas:
            _, _, rec = run(
                TimeFairKnapsack,
                OnlineKnapsackArrivals,
                {"fairness": a, "admission": "fractional"},
                problem_params(order),
                40,
                [600],
                seed=5,
            )
            means.append(rec.series("competitive_ratio")[-1].mean().item())
        assert all(b - a > 0.1 for a, b in zip(means, means[1:])), (order, means)


def test_whole_items_stay_near_the_bound():
    """Admitting whole items of weight at most 2 * 0.002: ZCL's guarantee degrades only by the
    largest item, so the ratio stays below 1 + ln(U/L) plus a few per cent."""
    _, _, rec = run(
        TimeFairKnapsack,
        OnlineKnapsackArrivals,
        {"fairness": 0.0, "admission": "whole"},
        problem_params("increasing", mean_weight=0.002),
        30,
        [3000],
        seed=1,
    )
    assert rec.series("competitive_ratio").max().item() <= (1 + math.log(100)) * 1.05


def test_fairness_below_zcl_share_is_refused():
    """alpha below 1 / (1 + ln(U/L)) admits no competitive threshold: a clear error naming the key."""
    prob = OnlineKnapsackArrivals(problem_params(), 1, CPU, T64, 0)
    with pytest.raises(ParamError, match="fairness"):
        TimeFairKnapsack({"fairness": 0.1, "admission": "fractional"}, prob, 1, CPU, T64, 0)
    with pytest.raises(ParamError, match="high_density"):
        OnlineKnapsackArrivals(problem_params(low=5.0, high=2.0), 1, CPU, T64, 0)
