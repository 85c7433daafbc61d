"""Entropic-risk values learned by TD with the Itakura–Saito loss, the exponential MSE,
the softplus loss and the MSE, against hand numbers and the closed-form entropic value."""

import math

import numpy as np
import pytest
import torch

from engine.labs.rl.entropic_mdp import EntropicMDP
from engine.labs.rl.entropic_td import EntropicTD, loss_step
from tests.labs.rl.support import build, run

F64 = torch.float64


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loss_steps_on_hand_numbers(dtype):
    """Result: at Q = 1, T = 1.5 (δ = 0.5), α = 2: the IS step is (1 − e^{−1})/2 = 0.316060…,
    the EMSE step e^{−4} times that, the softplus step 2δ σ(−αδ) = 1/(1 + e) = 0.268941…,
    the MSE step δ = 0.5."""
    q, target = torch.tensor([1.0], dtype=dtype), torch.tensor([1.5], dtype=dtype)
    base = (1 - math.exp(-1.0)) / 2
    tol = 1e-6 if dtype == torch.float32 else 1e-15
    assert loss_step("itakura_saito", q, target, 2.0).item() == pytest.approx(base, rel=tol)
    assert loss_step("exponential_mse", q, target, 2.0).item() == pytest.approx(
        math.exp(-4.0) * base, rel=tol
    )
    assert loss_step("softplus", q, target, 2.0).item() == pytest.approx(
        0.2689414213699951, rel=tol
    )
    assert loss_step("mse", q, target, 2.0).item() == pytest.approx(0.5, rel=tol)


@pytest.mark.parametrize("loss", ["itakura_saito", "exponential_mse"])
def test_loss_steps_are_minus_the_gradients_of_the_losses(loss):
    """Result: the steps are −∂L/∂Q of L_IS = α⁻² d_IS(e^{−αT}, e^{−αQ}) with
    d_IS(x, y) = x/y − log(x/y) − 1, and of L_EMSE = (2α²)⁻¹ (e^{−αQ} − e^{−αT})², by autograd
    at several (Q, T) with α = 0.7."""
    alpha = 0.7
    q = torch.tensor([-1.0, 0.3, 2.0, 4.0], dtype=F64, requires_grad=True)
    target = torch.tensor([0.5, 0.1, 3.5, -1.0], dtype=F64)
    x, y = torch.exp(-alpha * target), torch.exp(-alpha * q)
    if loss == "itakura_saito":
        total = ((x / y - torch.log(x / y) - 1) / alpha**2).sum()
    else:
        total = ((y - x).pow(2) / (2 * alpha**2)).sum()
    total.backward()
    np.testing.assert_allclose(
        loss_step(loss, q.detach(), target, alpha).numpy(), -q.grad.numpy(), rtol=1e-12
    )


# Gauss–Legendre nodes on [0, 1] for Li₂(z) = −∫₀¹ log(1 − z t)/t dt, z ∈ [−1, 0]: the
# integrand is analytic on [0, 1] (its singularity t = 1/z lies at or below −1).
_GL_T, _GL_W = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(60))
_GL_T, _GL_W = (_GL_T + 1) / 2, _GL_W / 2


def dilog_of_minus_exp(x):
    """Li₂(−e^x) (Spence's dilogarithm), differentiable by autograd: the integral for
    x ≤ 0 and the inversion Li₂(−e^x) = −π²/6 − x²/2 − Li₂(−e^{−x}) for x > 0."""
    y = torch.where(x > 0, -x, x)  # not −|x|: its derivative at 0 would be 0
    z = -torch.exp(y)[..., None]
    small = -(torch.log1p(-z * _GL_T) / _GL_T * _GL_W).sum(-1)
    return torch.where(x > 0, -(math.pi**2) / 6 - x.pow(2) / 2 - small, small)


def test_dilogarithm_helper_matches_known_values():
    """Result: Li₂(−1) = −π²/12, Li₂(−e^{x}) + Li₂(−e^{−x}) = −π²/6 − x²/2, and
    Li₂(−1/2) = −0.4484142069236462 (tabulated), so the loss below is the paper's."""
    values = dilog_of_minus_exp(torch.tensor([0.0, -math.log(2.0)], dtype=F64))
    assert values[0].item() == pytest.approx(-(math.pi**2) / 12, abs=1e-14)
    assert values[1].item() == pytest.approx(-0.4484142069236462, abs=1e-13)
    x = torch.tensor(1.3, dtype=F64)
    total = dilog_of_minus_exp(x) + dilog_of_minus_exp(-x)
    assert total.item() == pytest.approx(-(math.pi**2) / 6 - 1.3**2 / 2, abs=1e-13)


def test_softplus_step_is_minus_the_gradient_of_the_paper_loss():
    """Result: with the paper's sign d = Q − T, its loss
    L_SP = 2d α⁻¹ log(1 + e^{αd}) + 2α⁻² Li₂(−e^{αd}) + π²/(6α²) is 0 at d = 0, and the
    softplus step 2δ σ(−αδ) equals −∂L_SP/∂Q by autograd at several (Q, T) with α = 0.7."""
    alpha = 0.7
    q = torch.tensor([-1.0, 0.3, 2.0, 4.0, 1.0], dtype=F64, requires_grad=True)
    target = torch.tensor([0.5, 0.1, 3.5, -1.0, 1.0], dtype=F64)
    d = q - target
    loss = (
        2 * d / alpha * torch.nn.functional.softplus(alpha * d)
        + 2 / alpha**2 * dilog_of_minus_exp(alpha * d)
        + math.pi**2 / (6 * alpha**2)
    )
    assert loss[-1].item() == pytest.approx(0.0, abs=1e-14)
    loss.sum().backward()
    np.testing.assert_allclose(
        loss_step("softplus", q.detach(), target, alpha).numpy(),
        -q.grad.numpy(),
        rtol=1e-10,
        atol=1e-14,
    )


def _one_state(alpha, loss_params):
    """One state, two actions: μ = (1, 1.5), σ = (0.2, 1), γ = 0.5."""
    alg, prob = build(
        EntropicTD,
        EntropicMDP,
        loss_params,
        {"states": 1, "actions": 2, "discount": 0.5, "risk_aversion": alpha},
        seeds=2,
    )
    mean = torch.tensor([[[1.0, 1.5]]], dtype=F64).expand(2, 1, 2).clone()
    std = torch.tensor([[[0.2, 1.0]]], dtype=F64).expand(2, 1, 2).clone()
    prob.set_model(torch.ones((2, 1, 2, 1), dtype=F64), mean, std)
    return alg, prob


@pytest.mark.parametrize(
    "alpha,values,best",
    [
        # CE per action μ − ασ²/2: (0.98, 1.0) at α = 1, V = 1/(1 − 0.5) = 2: Q = (1.98, 2.0)
        (1.0, (1.98, 2.0), 1),
        # (0.96, 0.5) at α = 2, V = 0.96/0.5 = 1.92: Q = (1.92, 1.46); the safe action wins
        (2.0, (1.92, 1.46), 0),
    ],
)
def test_entropic_value_iteration_matches_the_closed_form(alpha, values, best):
    """Result: with one state, Q*(a) = μ_a − α σ_a²/2 + γ max_b Q*(b) in closed form; the
    optimal action switches from the risky one to the safe one between α = 1 and α = 2."""
    _, prob = _one_state(alpha, {})
    np.testing.assert_allclose(prob.q_true_f64[0, 0].numpy(), values, rtol=0, atol=1e-11)
    assert prob.optimal_action[0, 0].item() == best


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_itakura_saito_td_fixed_point_is_the_closed_form_entropic_value(alpha):
    """Result: the expected IS step E[(1 − e^{−αδ})/α] vanishes exactly where
    e^{−αQ} = E e^{−αT}: 400 exact expected updates (η = 0.5) reach the closed-form
    values above to 1e-10; the risk-neutral MSE settles instead at μ + γ max Q, i.e.
    (2.5, 3.0), off by the risk premium."""
    alg, prob = _one_state(
        alpha, {"loss": "itakura_saito", "expected": True, "lr": 0.5, "lr_decay": 0.0}
    )
    alg.run(
        400,
        type(
            "R",
            (),
            {
                "should_record": staticmethod(lambda t: False),
                "progress": staticmethod(lambda t: None),
            },
        ),
    )
    np.testing.assert_allclose(alg.q.numpy(), prob.q_true_f64.numpy(), rtol=0, atol=1e-10)
    mse, _ = _one_state(alpha, {"loss": "mse", "expected": True, "lr": 0.5, "lr_decay": 0.0})
    mse.run(
        400,
        type(
            "R",
            (),
            {
                "should_record": staticmethod(lambda t: False),
                "progress": staticmethod(lambda t: None),
            },
        ),
    )
    np.testing.assert_allclose(mse.q[0, 0].numpy(), [2.5, 3.0], rtol=0, atol=1e-10)


def test_sampled_itakura_saito_td_reaches_the_entropic_value():
    """Result: on a random 4-state MDP (α = 1), sampled IS TD with η_t = 0.5/t^0.6 brings the
    RMS error to the exact entropic Q* from about 2.7 to below 0.1 in 2000 steps, on every
    one of 4 seeds, and its greedy policy picks the optimal action in at least 3 of the 4
    states per seed."""
    _, _, rec = run(
        EntropicTD,
        EntropicMDP,
        {"loss": "itakura_saito"},
        {"risk_aversion": 1.0},
        seeds=4,
        checkpoints=[1, 2000],
    )
    assert (rec.values[2000]["value_error"] < 0.1).all()
    assert (rec.values[2000]["policy_disagreement"] <= 0.25).all()


def test_exponential_mse_stalls_where_itakura_saito_learns():
    """Result (the paper's comparison): with values around 15 (reward offset 3) the EMSE
    step carries a factor e^{−2αQ}; in 1000 exact expected steps from Q = 0 at α = 1 EMSE
    closes less than 20% of the error while IS closes more than 80%."""
    errors = {}
    for loss in ("itakura_saito", "exponential_mse"):
        _, _, rec = run(
            EntropicTD,
            EntropicMDP,
            {"loss": loss, "expected": True, "lr": 0.5, "lr_decay": 0.0},
            {"risk_aversion": 1.0, "reward_offset": 3.0},
            seeds=2,
            checkpoints=[1, 1000],
        )
        errors[loss] = (rec.values[1]["value_error"], rec.values[1000]["value_error"])
    first, last = errors["exponential_mse"]
    assert (last > 0.8 * first).all()
    first, last = errors["itakura_saito"]
    assert (last < 0.2 * first).all()


class _Silent:
    @staticmethod
    def should_record(t):
        return False

    @staticmethod
    def progress(t):
        pass


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_softplus_fixed_point_is_the_entropic_value_for_a_gaussian_target(alpha):
    """Result (the paper: SP is right when the target is Gaussian): with one state the
    next state is certain, so T = r + γ max Q is Gaussian and E[2δ σ(−αδ)] vanishes at
    Q = μ − ασ²/2 + γ max Q; 400 expected softplus updates (η = 0.5) reach the closed-form
    (1.98, 2.0) at α = 1 and (1.92, 1.46) at α = 2 to 1e-8."""
    alg, prob = _one_state(
        alpha, {"loss": "softplus", "expected": True, "lr": 0.5, "lr_decay": 0.0}
    )
    alg.run(400, _Silent)
    np.testing.assert_allclose(alg.q.numpy(), prob.q_true_f64.numpy(), rtol=0, atol=1e-8)


def _softplus_root(targets, alpha):
    """The Q with Σ_i ½ (T_i − Q) σ(−α(T_i − Q)) = 0 for two equally likely targets, by
    bisection on the hand formula (the mean step decreases in Q)."""

    def mean_step(q):
        return sum((t - q) / (1 + math.exp(alpha * (t - q))) for t in targets) / len(targets)

    lo, hi = min(targets), max(targets)
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_step(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_softplus_fixed_point_is_biased_for_a_two_point_target(alpha):
    """Result (the paper: SP learns the wrong value for a non-Gaussian target): state 0
    moves to state 1 or 2 with probability ½ each; states 1 and 2 loop with certain
    rewards 1 and −1 (V = ±2 at γ = 0.5); no reward noise. The target from state 0 is
    ±1, its entropic value −α⁻¹ log cosh α (−0.4338 at α = 1, −0.6625 at α = 2). Exact
    expected IS updates reach it to 1e-10; softplus updates settle at the root of
    ½ Σ (T − Q) σ(−α(T − Q)) = 0 (−0.5551 at α = 1, −0.9254 at α = 2), more than 0.1
    below it: for this target SP is more pessimistic than the entropic value."""
    P = torch.zeros((1, 3, 1, 3), dtype=F64)
    P[0, 0, 0, 1] = P[0, 0, 0, 2] = 0.5
    P[0, 1, 0, 1] = P[0, 2, 0, 2] = 1.0
    mean = torch.tensor([[[0.0], [1.0], [-1.0]]], dtype=F64)
    std = torch.zeros_like(mean)
    entropic = -math.log(math.cosh(alpha)) / alpha
    fixed = {}
    for loss in ("itakura_saito", "softplus"):
        alg, prob = build(
            EntropicTD,
            EntropicMDP,
            {"loss": loss, "expected": True, "lr": 0.5, "lr_decay": 0.0},
            {"states": 3, "actions": 1, "discount": 0.5, "risk_aversion": alpha},
            seeds=1,
        )
        prob.set_model(P, mean, std)
        assert prob.q_true_f64[0, 0, 0].item() == pytest.approx(entropic, abs=1e-11)
        alg.run(600, _Silent)
        np.testing.assert_allclose(alg.q[0, 1:, 0].numpy(), [2.0, -2.0], rtol=0, atol=1e-10)
        fixed[loss] = alg.q[0, 0, 0].item()
    assert fixed["itakura_saito"] == pytest.approx(entropic, abs=1e-10)
    assert fixed["softplus"] == pytest.approx(_softplus_root([1.0, -1.0], alpha), abs=1e-10)
    assert entropic - fixed["softplus"] > 0.1
