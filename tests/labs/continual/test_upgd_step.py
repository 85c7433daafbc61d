"""The UPGD update (engine.labs.continual.upgd.upgd_step) on hand-computed numbers.

The rule, first-order utility with the global (per-seed) scale, as in the paper's
Algorithm 1 and the authors' code:

    u = −g ∘ w,  ū ← β_u ū + (1 − β_u) u,  η = max_i ū_i,  ũ = sigmoid(ū / ((1 − β_u^t) η))
    protecting:      w ← (1 − αλ) w − α (g + ξ) ∘ (1 − ũ)
    non-protecting:  w ← (1 − αλ) w − α (g + ξ ∘ (1 − ũ))

Every expected value below is written out from these formulas with plain floats.
"""

import math

import pytest
import torch

from engine.labs.continual.upgd import upgd_step
from tests.labs.continual.support import build

DTYPES = [torch.float32, torch.float64]


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def tensor(rows, dtype):
    return torch.tensor(rows, dtype=dtype)


# Seed A: w = [1, -2, 0.5, 0], g = [0.5, 0.25, -1, 2]: u = -g w = [-0.5, 0.5, 0.5, 0], η = 0.5,
# u / η = [-1, 1, 1, 0], gates 1 - sigmoid(u / η) = [σ(1), σ(-1), σ(-1), 1/2].
# Seed B: the same with w doubled: u doubles and so does η, so its gates are seed A's; a scale
# pooled over seeds (η = 1 for both) would give seed A the gates of u / 1 instead.
W = [[1.0, -2.0, 0.5, 0.0], [2.0, -4.0, 1.0, 0.0]]
G = [[0.5, 0.25, -1.0, 2.0], [0.5, 0.25, -1.0, 2.0]]
XI = [[0.1, -0.2, 0.3, 0.4], [0.1, -0.2, 0.3, 0.4]]
GATES = [sig(1.0), sig(-1.0), sig(-1.0), 0.5]
ALPHA = 0.5


@pytest.mark.parametrize("dtype", DTYPES)
def test_protecting_step_on_hand_numbers(dtype):
    """Protecting UPGD, β_u = 0, λ = 0: w − α (g + ξ) ∘ (1 − ũ), with the utility scale η
    taken per seed."""
    theta, trace = tensor(W, dtype), torch.zeros(2, 4, dtype=dtype)
    upgd_step(
        theta,
        tensor(G, dtype),
        trace,
        tensor(XI, dtype),
        step=1,
        lr=ALPHA,
        beta_utility=0.0,
        weight_decay=0.0,
        protect_gradient=True,
    )
    expected = [
        [w - ALPHA * (g + xi) * gate for w, g, xi, gate in zip(W[s], G[s], XI[s], GATES)]
        for s in range(2)
    ]
    # seed A by hand: [1 − 0.5·0.6·σ(1), −2 − 0.5·0.05·σ(−1), 0.5 + 0.5·0.7·σ(−1), −0.5·2.4·0.5]
    assert expected[0] == pytest.approx([0.7806824, -2.0067235, 0.5941295, -0.6], abs=1e-6)
    torch.testing.assert_close(theta, tensor(expected, dtype))
    torch.testing.assert_close(trace, tensor([[-0.5, 0.5, 0.5, 0.0], [-1.0, 1.0, 1.0, 0.0]], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_protecting_step_on_hand_numbers(dtype):
    """Non-protecting UPGD, β_u = 0, λ = 0: w − α (g + ξ ∘ (1 − ũ)): the whole gradient
    passes, only the noise is gated."""
    theta, trace = tensor(W, dtype), torch.zeros(2, 4, dtype=dtype)
    upgd_step(
        theta,
        tensor(G, dtype),
        trace,
        tensor(XI, dtype),
        step=1,
        lr=ALPHA,
        beta_utility=0.0,
        weight_decay=0.0,
        protect_gradient=False,
    )
    expected = [
        [w - ALPHA * (g + xi * gate) for w, g, xi, gate in zip(W[s], G[s], XI[s], GATES)]
        for s in range(2)
    ]
    # seed A by hand: [1 − 0.5(0.5 + 0.1σ(1)), −2 − 0.5(0.25 − 0.2σ(−1)), 0.5 − 0.5(−1 + 0.3σ(−1)), −0.5(2 + 0.2)]
    assert expected[0] == pytest.approx([0.7134471, -2.0981059, 0.9596588, -1.1], abs=1e-6)
    torch.testing.assert_close(theta, tensor(expected, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_steps_with_trace_bias_correction_and_weight_decay(dtype):
    """β_u = 0.5, λ = 0.1, α = 0.2, no noise, two steps on w = [1, −1]: the trace averages
    the utilities of both steps, the bias correction divides by 1 − β_u^t (0.5, then
    0.75) while η is the maximum of the uncorrected trace, and weights shrink by 1 − αλ."""
    beta, lam, alpha = 0.5, 0.1, 0.2
    theta, trace = tensor([[1.0, -1.0]], dtype), torch.zeros(1, 2, dtype=dtype)
    grads = [[-1.0, 0.5], [0.5, 1.0]]
    w, tr = [1.0, -1.0], [0.0, 0.0]
    for t, g in enumerate(grads, start=1):
        upgd_step(
            theta,
            tensor([g], dtype),
            trace,
            torch.zeros(1, 2, dtype=dtype),
            step=t,
            lr=alpha,
            beta_utility=beta,
            weight_decay=lam,
            protect_gradient=True,
        )
        tr = [beta * tr_i + (1 - beta) * (-g_i * w_i) for tr_i, g_i, w_i in zip(tr, g, w)]
        eta = max(tr)
        gates = [1 - sig(tr_i / ((1 - beta**t) * eta)) for tr_i in tr]
        w = [(1 - alpha * lam) * w_i - alpha * g_i * gate for w_i, g_i, gate in zip(w, g, gates)]
        torch.testing.assert_close(trace, tensor([tr], dtype))
        torch.testing.assert_close(theta, tensor([w], dtype))
    # step 1 by hand: ū = [0.5, 0.25], η = 0.5, ū/(0.5 η) = [2, 1]:
    # w = [0.98 + 0.2(1 − σ(2)), −0.98 − 0.1(1 − σ(1))] = [1.0038406, −1.0068941]
    # step 2: u = [−0.5019203, 1.0068941], ū = [−0.0009601, 0.6284471], η = 0.6284471,
    # ū/(0.75 η) = [−0.0020370, 1.3333333]
    assert w == pytest.approx(
        [
            0.98 * 1.0038406 - 0.2 * 0.5 * (1 - sig(-0.0020370)),
            -0.98 * 1.0068941 - 0.2 * 1.0 * (1 - sig(4 / 3)),
        ],
        abs=1e-6,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("protect", [True, False])
@pytest.mark.parametrize("beta, step, prefill", [(0.0, 1, 0.0), (0.9, 3, 0.6)])
def test_equal_utilities_and_no_noise_reduce_to_scaled_sgd(dtype, protect, beta, step, prefill):
    """When every weight has the same utility (−g_i w_i = 0.6 for all i, the trace already
    at 0.6 where β_u > 0) and ξ = 0, η equals that utility and every gate is
    1 − sigmoid(1 / (1 − β_u^t)): protecting UPGD takes the SGD step w − c α g with that one
    factor c (1 − σ(1) ≈ 0.2689 for β_u = 0; 1 − σ(1/0.271) at β_u = 0.9, t = 3), and
    non-protecting UPGD, whose gate reaches only the noise, the plain SGD step (c = 1)."""
    w, g = [1.0, 2.0, -1.0, 4.0], [-0.6, -0.3, 0.6, -0.15]
    theta, trace = tensor([w], dtype), torch.full((1, 4), prefill, dtype=dtype)
    upgd_step(
        theta,
        tensor([g], dtype),
        trace,
        torch.zeros(1, 4, dtype=dtype),
        step=step,
        lr=0.3,
        beta_utility=beta,
        weight_decay=0.0,
        protect_gradient=protect,
    )
    factor = 1 - sig(1 / (1 - beta**step)) if protect else 1.0
    if beta == 0.0 and protect:
        assert factor == pytest.approx(0.2689414, abs=1e-7)
    torch.testing.assert_close(
        theta, tensor([[w_i - factor * 0.3 * g_i for w_i, g_i in zip(w, g)]], dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_zero_utilities_give_half_gates_not_nan(dtype):
    """Zero weights have zero utility; with every trace 0, η = 0 would divide 0 by 0. The
    floor on η makes every scaled utility sigmoid(0) = 1/2: the step is w − α (g + ξ)/2."""
    theta, trace = torch.zeros(1, 3, dtype=dtype), torch.zeros(1, 3, dtype=dtype)
    upgd_step(
        theta,
        tensor([[1.0, -2.0, 0.5]], dtype),
        trace,
        tensor([[0.2, 0.2, 0.2]], dtype),
        step=1,
        lr=0.1,
        beta_utility=0.9,
        weight_decay=0.0,
        protect_gradient=True,
    )
    torch.testing.assert_close(theta, tensor([[-0.06, 0.09, -0.035]], dtype))


def test_learner_draws_noise_of_standard_deviation_sigma():
    """UPGD's class perturbs with ξ ~ N(0, σ²): with zero gradients and weights, every gate
    is 1/2 (previous test), so the step is −α ξ / 2 and its standard deviation α σ / 2.
    Over 60,000 weights the sample standard deviation is within 1.5% of it."""
    alg = build("continual.upgd", seeds=2, lr=0.5, sigma=0.2, beta_utility=0.9)
    theta = torch.zeros(2, 30_000, dtype=torch.float64)
    alg.update(theta, torch.zeros_like(theta), 1)
    assert theta.std().item() == pytest.approx(0.5 * 0.2 / 2, rel=0.015)
    assert abs(theta.mean().item()) < 0.002
