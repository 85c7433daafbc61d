"""NONS-ALD against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.aogd_ald import AOGDALD
from engine.labs.online.kernel_stream import KernelRegressionStream, gaussian_kernel
from engine.labs.online.nons_ald import NONSALD, NewtonALDLearner, project_to_ball, sherman_morrison
from tests.labs.online.kernel_streams import T64, GivenStream, stream_params
from tests.labs.online.recorder import CPU, FakeRecorder, run


def test_first_three_rounds_by_hand():
    """h = 1, alpha = eta = 1, U = 10 (no projection), nu = 0, noiseless (x, y) = (0, 1), (1, 0), (0, 1).
    Round 1: f = 0 predicts 0 (loss 1); phi(0) joins with coordinate z = 1, g = -2, A = 1 + 4 = 5,
    w = 0 - (-2) / 5 = 0.4. Round 2: c = k(0, 1) = e^{-1/2}; f predicts 0.4 c (loss 0.16 / e); phi(1)
    joins, z = (c, s) with s = sqrt(1 - c^2), g = 0.8 c z, A = diag(5, 1) + g g^T and by Sherman-
    Morrison A^{-1} g = B^{-1} g / (1 + g^T B^{-1} g), B^{-1} g = 0.8 c (c / 5, s). Round 3: phi(0) has
    z = (1, 0) (in the span, residual 0), so f predicts w_1 = 0.4 - (0.8 c^2 / 5) / (1 + 0.64 c^2 (c^2 / 5 + s^2))."""
    rec = FakeRecorder([1, 2, 3])
    params = {"ald_threshold": 0.0, "radius": 10.0, "regularisation": 1.0, "curvature": 1.0}
    NONSALD(params, GivenStream([0.0, 1.0, 0.0], [1.0, 0.0, 1.0]), 1, CPU, T64, 0).run(3, rec)
    c = math.exp(-0.5)
    s2 = 1 - c * c
    p3 = 0.4 - (0.8 * c * c / 5) / (1 + 0.64 * c * c * (c * c / 5 + s2))
    expected = [1.0, 1.0 + 0.16 / math.e, 1.0 + 0.16 / math.e + (p3 - 1.0) ** 2]
    assert rec.series("cumulative_regret")[:, 0].tolist() == pytest.approx(expected, abs=1e-13)
    assert rec.series("basis_size")[:, 0].tolist() == [1, 2, 2]


def test_newton_matrix_and_basis_against_direct_inverses():
    """After 60 rounds on three seeded 2-d streams, the Sherman-Morrison-maintained A_T^{-1} equals
    inv(alpha I + eta sum_t g_t g_t^T) built directly, where g_t = 2 r_t P_{S_t} phi(x_t) in the
    Cholesky coordinates of the final dictionary (L^{-1} k, the first |S_t| coordinates), and the
    kept M equals inv(cholesky(K_S)) -- the orthonormal basis of span S by Gram-Schmidt."""
    seeds, steps, alpha, eta = 3, 60, 0.5, 0.7
    prob = KernelRegressionStream(stream_params(dimension=2, bandwidth=0.4), seeds, CPU, T64, 3)
    data = prob.stream(steps)
    learner = NewtonALDLearner(prob.kernel, seeds, 2, alpha, eta, 2.0, 0.01, T64, CPU)
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
        direct = alpha * torch.eye(m, dtype=T64)
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


def test_projection_meets_the_kkt_conditions():
    """argmin_{||v|| <= U} (v - w)^T A (v - w) with ||w|| > U lies on the sphere and satisfies
    A (w - v) = lam v with lam >= 0 (Karush-Kuhn-Tucker); for A = a I it is the radial rescaling."""
    gen = torch.Generator().manual_seed(0)
    b = torch.randn((4, 5, 5), generator=gen, dtype=T64)
    a = b @ b.transpose(-1, -2) + 0.1 * torch.eye(5, dtype=T64)
    w = 3.0 * torch.randn((4, 5), generator=gen, dtype=T64)
    floor = torch.linalg.eigvalsh(torch.linalg.inv(a))[:, 0] * 0.5
    v = project_to_ball(w, torch.linalg.inv(a), 1.0, floor)
    assert v.norm(dim=-1).numpy() == pytest.approx(np.ones(4), abs=1e-9)
    push = (a @ (w - v).unsqueeze(-1)).squeeze(-1)
    lam = (push * v).sum(-1) / (v * v).sum(-1)
    assert (lam > 0).all()
    assert push.numpy() == pytest.approx((lam.unsqueeze(-1) * v).numpy(), abs=1e-8)
    iso = project_to_ball(
        w, torch.eye(5, dtype=T64).expand(4, 5, 5) / 3.0, 1.0, torch.full((4,), 1 / 3.0, dtype=T64)
    )
    assert iso.numpy() == pytest.approx((w / w.norm(dim=-1, keepdim=True)).numpy(), abs=1e-9)


@pytest.fixture(scope="module")
def long_runs():
    params = stream_params(dimension=2, bandwidth=0.5)
    checkpoints = [20, 200, 1000]
    nons_params = {"ald_threshold": 0.01, "radius": 2.0, "regularisation": 1.0, "curvature": 1.0}
    _, _, nons = run(NONSALD, KernelRegressionStream, nons_params, params, 6, checkpoints, seed=1)
    _, _, aogd = run(
        AOGDALD,
        KernelRegressionStream,
        {"ald_threshold": 0.01, "radius": 2.0},
        params,
        6,
        checkpoints,
        seed=1,
    )
    return nons, aogd


def test_regret_within_the_newton_step_bound_and_below_aogd_ald(long_runs):
    """The online-Newton-step bound against any ||u|| <= U (here the stream's own target, norm 1 <= U = 2):
    (alpha / 2) U^2 + 1/2 sum g^T A^{-1} g + the curvature and projection-error terms (docstring), per
    seed at every checkpoint. And the second-order learner pays less on these seeded streams: mean
    regret at T = 1000 below AOGD-ALD's on the same streams and the same dictionary."""
    nons, aogd = long_runs
    assert (nons.series("cumulative_regret") <= nons.series("regret_bound")).all()
    assert nons.series("cumulative_regret")[-1].mean() < aogd.series("cumulative_regret")[-1].mean()


def test_basis_is_the_ald_dictionary_and_bounded_by_packing(long_runs):
    """The ALD test depends on the inputs only, so NONS-ALD keeps AOGD-ALD's dictionary (same sizes at
    every checkpoint). Each joining point has ||phi(x) - phi(x_i)||^2 >= delta > nu for every basis
    point, i.e. 2 - 2 k(x, x_i) > nu, so basis points are more than rho = h sqrt(-2 ln(1 - nu / 2))
    apart in [-1, 1]^2: discs of radius rho / 2 about them are disjoint inside [-1 - rho/2, 1 + rho/2]^2,
    hence |S| <= (2 + rho)^2 / (pi rho^2 / 4) whatever T."""
    nons, aogd = long_runs
    assert torch.equal(nons.series("basis_size"), aogd.series("basis_size"))
    rho = 0.5 * math.sqrt(-2 * math.log(1 - 0.01 / 2))
    packing = (2 + rho) ** 2 / (math.pi * rho**2 / 4)
    assert nons.series("basis_size").max() <= packing
    prob = KernelRegressionStream(stream_params(dimension=2, bandwidth=0.5), 2, CPU, T64, 4)
    data = prob.stream(400)
    learner = NewtonALDLearner(prob.kernel, 2, 2, 1.0, 1.0, 2.0, 0.01, T64, CPU)
    for t in range(400):
        learner.step(data.inputs[:, t : t + 1], data.targets[:, t], 400)
    for s in range(2):
        centres = learner.centres[s, : int(learner.size[s])]
        gaps = torch.cdist(centres, centres) + 10 * torch.eye(len(centres), dtype=T64)
        assert gaps.min() > rho
