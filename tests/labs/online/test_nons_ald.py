"""NONS-ALD against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.aogd_ald import AOGDALD
from engine.labs.online.kernel_stream import KernelRegressionStream, gaussian_kernel
from engine.labs.online.nons_ald import NONSALD, NewtonALDLearner, project_to_slab, sherman_morrison
from tests.labs.online.kernel_streams import T64, GivenStream, stream_params
from tests.labs.online.recorder import CPU, FakeRecorder, run

HAND = {"ald_threshold": 0.0, "prediction_bound": 10.0, "regularisation": 1.0, "curvature": 1.0}


def test_first_three_rounds_by_hand():
    """h = 1, mu = eta = 1, C = 10 (the slab never binds), nu = 0, noiseless (x, y) = (0, 1), (1, 0),
    (0, 1). Round 1: f = 0 predicts 0 (loss 1); phi(0) joins with coordinate z = 1, g = -2,
    A = 1 + 4 = 5, w = 0 - (-2) / 5 = 0.4. Round 2: c = k(0, 1) = e^{-1/2}; f predicts 0.4 c (loss
    0.16 / e); phi(1) joins, z = (c, s) with s = sqrt(1 - c^2), g = 0.8 c z, A = diag(5, 1) + g g^T
    and by Sherman-Morrison A^{-1} g = B^{-1} g / (1 + g^T B^{-1} g), B^{-1} g = 0.8 c (c / 5, s).
    Round 3: phi(0) has z = (1, 0) (in the span, residual 0), so f predicts
    w_1 = 0.4 - (0.8 c^2 / 5) / (1 + 0.64 c^2 (c^2 / 5 + s^2))."""
    rec = FakeRecorder([1, 2, 3])
    NONSALD(HAND, GivenStream([0.0, 1.0, 0.0], [1.0, 0.0, 1.0]), 1, CPU, T64, 0).run(3, rec)
    c = math.exp(-0.5)
    s2 = 1 - c * c
    p3 = 0.4 - (0.8 * c * c / 5) / (1 + 0.64 * c * c * (c * c / 5 + s2))
    expected = [1.0, 1.0 + 0.16 / math.e, 1.0 + 0.16 / math.e + (p3 - 1.0) ** 2]
    assert rec.series("cumulative_regret")[:, 0].tolist() == pytest.approx(expected, abs=1e-13)
    assert rec.series("basis_size")[:, 0].tolist() == [1, 2, 2]


def test_slab_projection_clips_round_three_by_hand():
    """The same stream with C = 0.3. Rounds 1 and 2 are untouched (|0| and |0.4 c| = 0.243 <= C);
    at round 3 w_1 = 0.3495 > C, so w moves to w - (w_1 - C) A^{-1} e_1 / (A^{-1})_11 (the A-norm
    projection onto {|<v, e_1>| <= C}), built here from A = diag(5, 1) + g g^T inverted directly:
    f predicts exactly C, the round-3 loss is (0.3 - 1)^2, and both coordinates of w move."""
    c = math.exp(-0.5)
    s = math.sqrt(1 - c * c)
    g = 0.8 * c * np.array([c, s])
    a_inv = np.linalg.inv(np.diag([5.0, 1.0]) + np.outer(g, g))
    w = np.array([0.4, 0.0]) - a_inv @ g
    assert w[0] > 0.3
    w_projected = w - (w[0] - 0.3) * a_inv[:, 0] / a_inv[0, 0]
    rec = FakeRecorder([1, 2, 3])
    params = dict(HAND, prediction_bound=0.3)
    NONSALD(params, GivenStream([0.0, 1.0, 0.0], [1.0, 0.0, 1.0]), 1, CPU, T64, 0).run(3, rec)
    expected = [1.0, 1.0 + 0.16 / math.e, 1.0 + 0.16 / math.e + 0.49]
    assert rec.series("cumulative_regret")[:, 0].tolist() == pytest.approx(expected, abs=1e-13)

    learner = NewtonALDLearner(
        lambda a, b: gaussian_kernel(a, b, 1.0), 1, 1, 1.0, 1.0, 0.3, 0.0, T64, CPU
    )
    for x, y in [(0.0, 1.0), (1.0, 0.0)]:
        learner.step(torch.tensor([[[x]]], dtype=T64), torch.tensor([y], dtype=T64), 3)
    assert learner.weights[0, :2].numpy() == pytest.approx(w, abs=1e-13)
    out = learner.step(torch.tensor([[[0.0]]], dtype=T64), torch.tensor([1.0], dtype=T64), 3)
    assert out["prediction"].item() == pytest.approx(0.3, abs=1e-14)
    # After the projection the Newton step of round 3 adds -A_3^{-1} g_3 with g_3 = 2 (0.3 - 1) e_1.
    g3 = np.array([-1.4, 0.0])
    a3_inv = np.linalg.inv(np.linalg.inv(a_inv) + np.outer(g3, g3))
    assert learner.weights[0, :2].numpy() == pytest.approx(w_projected - a3_inv @ g3, abs=1e-13)


def test_ald_admission_at_the_threshold_by_hand():
    """h = 1, nu = 0.01, dictionary {0}: delta(x) = 1 - k(0, x)^2 = 1 - e^{-x^2}, so x = 0.099 has
    delta = 0.00975 < nu (stays out) and x = 0.102 has delta = 0.01035 > nu (joins); x = 0.05 then
    has delta = 1 - k^T K^{-1} k on {0, 0.102}, far below nu (stays out): basis 1, 1, 2, 2."""
    assert 1 - math.exp(-(0.099**2)) < 0.01 < 1 - math.exp(-(0.102**2))
    k = np.exp(-np.array([0.05**2, 0.052**2]) / 2)
    off = math.exp(-(0.102**2) / 2)
    assert 1 - k @ np.linalg.solve(np.array([[1.0, off], [off, 1.0]]), k) < 1e-4
    rec = FakeRecorder([1, 2, 3, 4])
    params = dict(HAND, ald_threshold=0.01)
    stream = GivenStream([0.0, 0.099, 0.102, 0.05], [0.0, 0.0, 0.0, 0.0])
    NONSALD(params, stream, 1, CPU, T64, 0).run(4, rec)
    assert rec.series("basis_size")[:, 0].tolist() == [1, 1, 2, 2]


def test_newton_matrix_and_basis_against_direct_inverses():
    """After 60 rounds on three seeded 2-d streams, the Sherman-Morrison-maintained A_T^{-1} equals
    inv(mu I + eta sum_t g_t g_t^T) built directly, where g_t = 2 r_t P_{S_t} phi(x_t) in the
    Cholesky coordinates of the final dictionary (L^{-1} k, the first |S_t| coordinates), and the
    kept M equals inv(cholesky(K_S)) -- the orthonormal basis of span S by Gram-Schmidt."""
    seeds, steps, mu, eta = 3, 60, 0.5, 0.7
    prob = KernelRegressionStream(stream_params(dimension=2, bandwidth=0.4), seeds, CPU, T64, 3)
    data = prob.stream(steps)
    learner = NewtonALDLearner(prob.kernel, seeds, 2, mu, eta, 0.5, 0.01, T64, CPU)
    errors, sizes = [], []
    for t in range(steps):
        out = learner.step(data.inputs[:, t : t + 1], data.targets[:, t], steps)
        errors.append(out["error"].clone())
        sizes.append(learner.size.clone())
    for s in range(seeds):
        m = int(learner.size[s])
        centres = learner.centres[s, :m]
        factor = torch.linalg.cholesky(gaussian_kernel(centres, centres, 0.4))
        m_ref = torch.linalg.inv(factor)
        assert learner.cholesky_inverse[s, :m, :m].numpy() == pytest.approx(m_ref.numpy(), abs=1e-9)
        direct = mu * torch.eye(m, dtype=T64)
        for t in range(steps):
            mt = int(sizes[t][s])
            k = gaussian_kernel(centres[:mt], data.inputs[s, t : t + 1], 0.4)[:, 0]
            z = torch.zeros(m, dtype=T64)
            z[:mt] = m_ref[:mt, :mt] @ k
            g = 2.0 * errors[t][s] * z
            direct += eta * torch.outer(g, g)
        assert learner.covariance_inverse[s, :m, :m].numpy() == pytest.approx(
            torch.linalg.inv(direct).numpy(), abs=1e-10
        )
        assert learner.covariance_inverse[s, m:].abs().max() == 0.0


def test_sherman_morrison_single_update():
    """(A + eta g g^T)^{-1} for A = diag(2, 4), g = (1, 1), eta = 2: A + 2 g g^T = [[4, 2], [2, 6]],
    inverse [[6, -2], [-2, 4]] / 20; A_new^{-1} g = (4, 2) / 20 and g^T A_new^{-1} g = 0.3."""
    inverse = torch.tensor([[[0.5, 0.0], [0.0, 0.25]]], dtype=T64)
    updated, step, quad = sherman_morrison(inverse, torch.tensor([[1.0, 1.0]], dtype=T64), 2.0)
    assert updated[0].numpy() == pytest.approx(np.array([[6, -2], [-2, 4]]) / 20, abs=1e-15)
    assert step[0].tolist() == pytest.approx([0.2, 0.1], abs=1e-15)
    assert quad.item() == pytest.approx(0.3, abs=1e-15)


def test_slab_projection_meets_the_kkt_conditions():
    """argmin_{|<v, z>| <= C} (v - w)^T A (v - w): where |<w, z>| > C the answer lies on the
    nearer face, <v, z> = sign(<w, z>) C, with A (w - v) = lam sign(<w, z>) z, lam > 0
    (Karush-Kuhn-Tucker); inside the slab v = w. A sampled feasible point is never A-closer."""
    gen = torch.Generator().manual_seed(0)
    b = torch.randn((6, 5, 5), generator=gen, dtype=T64)
    a = b @ b.transpose(-1, -2) + 0.1 * torch.eye(5, dtype=T64)
    w = 2.0 * torch.randn((6, 5), generator=gen, dtype=T64)
    z = torch.randn((6, 5), generator=gen, dtype=T64)
    bound = (w * z).sum(-1).abs().median().item()
    v = project_to_slab(w, torch.linalg.inv(a), z, bound)
    p = (w * z).sum(-1)
    outside = p.abs() > bound
    assert outside.any() and (~outside).any()
    assert (v * z).sum(-1)[outside].numpy() == pytest.approx(
        (torch.sign(p) * bound)[outside].numpy(), abs=1e-12
    )
    assert torch.equal(v[~outside], w[~outside])
    push = (a @ (w - v).unsqueeze(-1)).squeeze(-1)
    lam = (push * z).sum(-1) / (z * z).sum(-1)
    assert (lam[outside] * torch.sign(p[outside]) > 0).all()
    assert push.numpy() == pytest.approx((lam.unsqueeze(-1) * z).numpy(), abs=1e-10)

    def a_dist(u):
        d = (u - w).unsqueeze(-1)
        return (d.transpose(-1, -2) @ a @ d).reshape(-1)

    best = a_dist(v)
    for _ in range(200):
        u = v + 0.3 * torch.randn((6, 5), generator=gen, dtype=T64)
        feasible = (u * z).sum(-1).abs() <= bound
        assert (a_dist(u)[feasible] >= best[feasible] - 1e-12).all()


@pytest.fixture(scope="module")
def long_runs():
    params = stream_params(dimension=2, bandwidth=0.5)
    checkpoints = [20, 200, 500]
    nons_params = {
        "ald_threshold": 0.01,
        "prediction_bound": 1.0,
        "regularisation": 1.0,
        "curvature": 0.125,
    }
    _, _, nons = run(NONSALD, KernelRegressionStream, nons_params, params, 6, checkpoints, seed=1)
    exact_params = dict(nons_params, ald_threshold=0.0)
    _, _, exact = run(NONSALD, KernelRegressionStream, exact_params, params, 6, checkpoints, seed=1)
    aogd_params = {"ald_threshold": 0.01, "radius": 2.0}
    _, _, aogd = run(AOGDALD, KernelRegressionStream, aogd_params, params, 6, checkpoints, seed=1)
    return nons, exact, aogd


def test_regret_within_the_newton_step_bound_and_close_to_exact_kernel_ons(long_runs):
    """The online-Newton-step bound against the stream's own target (norm B = 1 <= C = 1):
    (mu / 2) B^2 + 1/2 sum g^T A^{-1} g + the curvature and projection-error terms (docstring),
    per seed at every checkpoint. With nu = 0 every point whose residual exceeds 1e-6 joins (more
    than twice the ALD basis here) and the learner is kernel ONS on the exact span; the ALD
    dictionary of nu = 0.01 loses little against it: mean regret at T = 500 within 5%."""
    nons, exact, _ = long_runs
    assert (nons.series("cumulative_regret") <= nons.series("regret_bound")).all()
    assert (exact.series("cumulative_regret") <= exact.series("regret_bound")).all()
    assert (exact.series("basis_size")[-1] >= 2 * nons.series("basis_size")[-1]).all()
    ald = nons.series("cumulative_regret")[-1].mean()
    full = exact.series("cumulative_regret")[-1].mean()
    assert full > 0 and abs(ald - full) <= 0.05 * full


def test_basis_is_the_ald_dictionary_and_grows_slowly(long_runs):
    """The ALD test depends on the inputs only, so NONS-ALD keeps AOGD-ALD's dictionary (same sizes at
    every checkpoint). Each joining point has ||phi(x) - phi(x_i)||^2 >= delta > nu for every basis
    point, i.e. 2 - 2 k(x, x_i) > nu, so basis points are more than rho = h sqrt(-2 ln(1 - nu / 2))
    apart in [-1, 1]^2: discs of radius rho / 2 about them are disjoint inside [-1 - rho/2, 1 + rho/2]^2,
    hence |S| <= (2 + rho)^2 / (pi rho^2 / 4) whatever T. And the growth is the paper's slow
    (polylog T) kind: fewer points join from T = 200 to 500 than from 20 to 200."""
    nons, _, aogd = long_runs
    sizes = nons.series("basis_size")
    assert torch.equal(sizes, aogd.series("basis_size"))
    rho = 0.5 * math.sqrt(-2 * math.log(1 - 0.01 / 2))
    packing = (2 + rho) ** 2 / (math.pi * rho**2 / 4)
    assert sizes.max() <= packing
    assert ((sizes[2] - sizes[1]) < (sizes[1] - sizes[0])).all()
    prob = KernelRegressionStream(stream_params(dimension=2, bandwidth=0.5), 2, CPU, T64, 4)
    data = prob.stream(400)
    learner = NewtonALDLearner(prob.kernel, 2, 2, 1.0, 0.125, 1.0, 0.01, T64, CPU)
    for t in range(400):
        learner.step(data.inputs[:, t : t + 1], data.targets[:, t], 400)
    for s in range(2):
        centres = learner.centres[s, : int(learner.size[s])]
        gaps = torch.cdist(centres, centres) + 10 * torch.eye(len(centres), dtype=T64)
        assert gaps.min() > rho
