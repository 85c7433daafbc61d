"""KL-UCB against reference values. Each test names the result it checks."""

import math

import pytest
import torch

from engine.labs.bandits.kl_ucb import KLUCB, kl_upper_confidence
from engine.labs.bandits.problems import BernoulliBandit, bernoulli_kl
from engine.labs.bandits.ucb1 import UCB1
from tests.labs.bandits.recorder import assert_close, run

F64 = torch.float64


def bisection(p: float, d: float, iterations: int = 80) -> float:
    """max{q in [p, 1]: kl(p, q) <= d} by plain bisection in Python floats: the reference."""

    def kl(a, b):
        out = 0.0
        if a > 0:
            out += a * math.log(a / b)
        if a < 1:
            out += (1 - a) * math.log((1 - a) / (1 - b))
        return out

    lo, hi = p, 1.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if mid >= 1 or kl(p, mid) > d:
            hi = mid
        else:
            lo = mid
    return lo


def upper(p, d):
    return kl_upper_confidence(torch.tensor([p], dtype=F64), torch.tensor([d], dtype=F64)).item()


def test_upper_confidence_by_hand():
    """kl(0.5, 0.8) = 0.5 ln(0.5 / 0.8) + 0.5 ln(0.5 / 0.2) = 0.5 ln(1.5625), so with that
    budget the upper confidence of 0.5 is exactly 0.8; for p = 0, kl(0, q) = -ln(1 - q), so
    the bound is 1 - e^-d; p = 1 leaves nothing above; d = 0 leaves only p."""
    assert upper(0.5, 0.5 * math.log(1.5625)) == pytest.approx(0.8, abs=1e-12)
    assert upper(0.0, 0.5) == pytest.approx(1 - math.exp(-0.5), abs=1e-12)
    assert upper(0.0, 0.5) == pytest.approx(0.393469340287366, abs=1e-12)
    assert upper(1.0, 0.3) == 1.0
    assert upper(0.3, 0.0) == 0.3


def test_newton_matches_bisection_on_a_grid():
    """The vectorised Newton solve agrees with bisection to 1e-9 over p in [0, 1] and budgets
    from 1e-6 to 20, and the kl at the answer equals the budget (the constraint is tight)."""
    ps = [0.0, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.77, 0.9, 0.99, 0.999999]
    ds = [1e-6, 1e-4, 0.01, 0.1, 0.5, 1.0, 3.0, 20.0]
    p = torch.tensor([a for a in ps for _ in ds], dtype=F64)
    d = torch.tensor([b for _ in ps for b in ds], dtype=F64)
    got = kl_upper_confidence(p, d)
    want = torch.tensor([bisection(a, b) for a in ps for b in ds], dtype=F64)
    assert_close(got, want, atol=1e-9, rtol=0)
    inside = got < 1 - 1e-9
    assert_close(bernoulli_kl(p[inside], got[inside]), d[inside], atol=1e-7, rtol=1e-6)


def test_kl_ucb_index_is_the_kl_bound_of_each_arm():
    """At round t the index of arm i is max{q: n_i kl(x_i, q) <= ln(t - 1)} (c = 0): with
    counts (4, 2) and sums (1, 2) at t = 7, x = (0.25, 1.0), so arm 1 (index 1) is played;
    with sums (3, 0) it is arm 0 (index > 0.75 against arm 1's 1 - 6^(-1/2))."""
    problem = BernoulliBandit({"means": [0.5, 0.5]}, 1, torch.device("cpu"), F64, 0)
    alg = KLUCB({"c": 0.0}, problem, 1, torch.device("cpu"), F64, 0)
    alg.counts = torch.tensor([[4.0, 2.0]], dtype=F64)
    alg.sums = torch.tensor([[1.0, 2.0]], dtype=F64)
    assert alg.select(7).item() == 1
    alg.sums = torch.tensor([[3.0, 0.0]], dtype=F64)
    arm1 = 1 - math.exp(-math.log(6) / 2)
    arm0 = bisection(0.75, math.log(6) / 4)
    assert arm0 > arm1 and alg.select(7).item() == 0


def test_kl_ucb_regret_grows_at_the_lai_robbins_rate():
    """Garivier & Cappé (2011), Theorem 2: on Bernoulli arms KL-UCB's regret grows like
    c ln T with c = sum gap / kl(mu, mu*), the Lai–Robbins constant. Between T = 200 and
    2000 the mean regret over 200 seeds must grow by c ln 10 within [0.85, 1.6] (measured:
    1.14 to 1.21, standard error 0.06; the excess is the lower-order term), while UCB1's
    growth on the same reward table is several times larger."""
    means, checkpoints = [0.1, 0.5], [200, 2000]
    _, problem, rec = run(KLUCB, {"c": 0.0}, BernoulliBandit, {"means": means}, 200, checkpoints)
    c = problem.lai_robbins_constant()
    assert c == pytest.approx(0.4 / (0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)))
    growth = (
        (rec.values[2000]["cumulative_regret"] - rec.values[200]["cumulative_regret"]).mean().item()
    )
    assert 0.85 * c * math.log(10) < growth < 1.6 * c * math.log(10)
    _, _, ucb = run(UCB1, {"c": 2.0}, BernoulliBandit, {"means": means}, 200, checkpoints)
    ucb_growth = (
        (ucb.values[2000]["cumulative_regret"] - ucb.values[200]["cumulative_regret"]).mean().item()
    )
    assert ucb_growth > 2 * growth
    assert rec.bounds["regret_lower_bound"] == pytest.approx(
        c * torch.log(torch.tensor(checkpoints)).numpy()
    )
