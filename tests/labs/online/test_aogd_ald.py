"""AOGD-ALD and exact kernel OGD against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.aogd_ald import AOGDALD, ald_test
from engine.labs.online.kernel_ogd import KernelOGD
from engine.labs.online.kernel_stream import KernelRegressionStream, gaussian_kernel
from tests.labs.online.kernel_streams import T64, GivenStream, stream_params
from tests.labs.online.recorder import CPU, FakeRecorder, run


def run_given(cls, params, xs, ys):
    rec = FakeRecorder(list(range(1, len(xs) + 1)))
    cls(params, GivenStream(xs, ys), 1, CPU, T64, 0).run(len(xs), rec)
    return rec


def test_ald_residual_by_hand():
    """Gaussian kernel, h = 1, dictionary {0, 1}: K = [[1, e^{-1/2}], [e^{-1/2}, 1]]. For x = 1/2,
    k = (e^{-1/8}, e^{-1/8}), a = K^{-1} k = e^{-1/8} / (1 + e^{-1/2}) (1, 1) and the squared
    residual delta = 1 - 2 e^{-1/4} / (1 + e^{-1/2}) = 0.0304564; for x = 0 (a dictionary point,
    in the span) a = (1, 0) and delta = 0."""
    centres = torch.tensor([[[0.0], [1.0]]], dtype=T64)
    inverse = torch.linalg.inv(gaussian_kernel(centres, centres, 1.0))
    k = gaussian_kernel(centres, torch.tensor([[[0.5]]], dtype=T64), 1.0).squeeze(-1)
    a, delta = ald_test(inverse, k, torch.ones(1, dtype=T64))
    assert a[0].tolist() == pytest.approx([math.exp(-1 / 8) / (1 + math.exp(-0.5))] * 2, abs=1e-14)
    assert delta.item() == pytest.approx(1 - 2 * math.exp(-0.25) / (1 + math.exp(-0.5)), abs=1e-14)
    assert delta.item() == pytest.approx(0.0304564, abs=1e-6)
    k = gaussian_kernel(centres, torch.tensor([[[0.0]]], dtype=T64), 1.0).squeeze(-1)
    a, delta = ald_test(inverse, k, torch.ones(1, dtype=T64))
    assert a[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-14)
    assert delta.item() == pytest.approx(0.0, abs=1e-14)


def test_points_in_the_span_are_not_added():
    """Stream x = (0, 1, 0, 1, 0.5), nu = 0.05: 0 and 1 join (residuals 1 and 1 - e^{-1}); the
    repeats lie in the span (residual 0) and 0.5 is within nu (residual 0.0305, below):
    basis sizes 1, 2, 2, 2, 2; with nu = 0.01 the last point joins (size 3)."""
    xs, ys = [0.0, 1.0, 0.0, 1.0, 0.5], [0.3, -0.2, 0.3, -0.2, 0.1]
    rec = run_given(AOGDALD, {"ald_threshold": 0.05, "radius": 2.0}, xs, ys)
    assert rec.series("basis_size")[:, 0].tolist() == [1, 2, 2, 2, 2]
    rec = run_given(AOGDALD, {"ald_threshold": 0.01, "radius": 2.0}, xs, ys)
    assert rec.series("basis_size")[:, 0].tolist() == [1, 2, 2, 2, 3]


def test_exact_kernel_ogd_two_rounds_by_hand():
    """h = 1, U = 2, noiseless (x, y) = (0, 1), (1, 0). Round 1: f = 0 predicts 0, loss 1,
    g = -2, G = 4, eta = 2 / 2 = 1, f = 2 k(0, .) (norm 2, inside the ball). Round 2: predicts
    2 e^{-1/2}, loss 4 e^{-1}; cumulative loss 1 + 4/e. Both learners agree (nu = 0)."""
    for cls, params in (
        (KernelOGD, {"radius": 2.0}),
        (AOGDALD, {"ald_threshold": 0.0, "radius": 2.0}),
    ):
        rec = run_given(cls, params, [0.0, 1.0], [1.0, 0.0])
        assert rec.series("cumulative_regret")[:, 0].tolist() == pytest.approx(
            [1.0, 1.0 + 4 / math.e], abs=1e-13
        )


def reference_kernel_ogd(x, y, clean, bandwidth, radius):
    """Exact projected kernel OGD with eta_t = U / sqrt(sum g^2 k(x, x)) in plain numpy, the
    norm recomputed from the full Gram matrix each round; x is [T, d]."""

    def kernel(a, b):
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * bandwidth**2))

    coef, regret, grad_sq = [], [], 0.0
    for t in range(len(y)):
        k = kernel(x[:t], x[t : t + 1])[:, 0]
        pred = float(np.dot(coef, k)) if t else 0.0
        g = 2 * (pred - y[t])
        grad_sq += g * g
        eta = radius / math.sqrt(grad_sq) if grad_sq > 0 else 0.0
        coef.append(-eta * g)
        c = np.array(coef)
        gram = kernel(x[: t + 1], x[: t + 1])
        norm = math.sqrt(max(c @ gram @ c, 0.0))
        if norm > radius:
            coef = list(c * radius / norm)
        regret.append((regret[-1] if t else 0.0) + (pred - y[t]) ** 2 - (clean[t] - y[t]) ** 2)
    return np.array(regret)


def test_zero_threshold_equals_exact_kernel_ogd_and_numpy_reference():
    """With nu = 0 every point joins the dictionary and AOGD-ALD is exact kernel OGD: the
    cumulative regret of both learners matches the numpy reference at each of 40 rounds,
    on 3 seeded 2-d streams (h = 0.3, U = 0.5 so the projection is active)."""
    params = stream_params(dimension=2, bandwidth=0.3)
    checkpoints = list(range(1, 41))
    _, prob, exact = run(
        KernelOGD, KernelRegressionStream, {"radius": 0.5}, params, 3, checkpoints, seed=2
    )
    _, _, ald = run(
        AOGDALD,
        KernelRegressionStream,
        {"ald_threshold": 0.0, "radius": 0.5},
        params,
        3,
        checkpoints,
        seed=2,
    )
    data = KernelRegressionStream(params, 3, CPU, T64, 2).stream(40)
    assert ald.series("basis_size")[-1].tolist() == [40, 40, 40]
    for s in range(3):
        ref = reference_kernel_ogd(
            data.inputs[s].numpy(), data.targets[s].numpy(), data.clean[s].numpy(), 0.3, 0.5
        )
        assert exact.series("cumulative_regret")[:, s].numpy() == pytest.approx(ref, abs=1e-9)
        assert ald.series("cumulative_regret")[:, s].numpy() == pytest.approx(ref, abs=1e-9)


@pytest.fixture(scope="module")
def long_runs():
    params = stream_params(dimension=2, bandwidth=0.5)
    checkpoints = [20, 200, 2000]
    _, _, ald = run(
        AOGDALD,
        KernelRegressionStream,
        {"ald_threshold": 0.01, "radius": 2.0},
        params,
        8,
        checkpoints,
        seed=1,
    )
    _, _, exact = run(
        KernelOGD, KernelRegressionStream, {"radius": 2.0}, params, 8, checkpoints, seed=1
    )
    return ald, exact


def test_basis_grows_like_log_t(long_runs):
    """Gaussian kernel (exponentially decaying spectrum): the ALD dictionary grows like a power
    of ln T, not like T. On 2-d streams with nu = 0.01 it gains fewer points from t = 200 to
    2000 than from 20 to 200 (log-like: a decade adds less and less), and holds under 3% of the
    points at T = 2000, where exact kernel OGD holds all 2000."""
    ald, exact = long_runs
    size = ald.series("basis_size")
    assert ((size[2] - size[1]) < (size[1] - size[0])).all()
    assert size[2].max() < 0.03 * 2000
    assert exact.series("basis_size")[-1].tolist() == [2000.0] * 8


def test_regret_within_bound_and_close_to_exact(long_runs):
    """Projected OGD with eta_t = U / sqrt(G_t): regret against any f in the ball (here the
    stream's own target, ||f|| = 1 <= U = 2) is at most 3 U sqrt(G_t), plus U sum |g_t|
    sqrt(delta_t) for the projected gradients of AOGD-ALD -- per seed, at every checkpoint.
    And the small basis costs little: mean regret at T = 2000 within 5% of exact kernel OGD
    (same streams)."""
    ald, exact = long_runs
    for rec in (ald, exact):
        assert (rec.series("cumulative_regret") <= rec.series("regret_bound")).all()
    a, e = ald.series("cumulative_regret")[-1].mean(), exact.series("cumulative_regret")[-1].mean()
    assert abs(a - e) <= 0.05 * e
