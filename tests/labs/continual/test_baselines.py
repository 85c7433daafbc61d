"""The baselines' updates on hand numbers: shrink and perturb, SGD, and Adam (against
torch.optim.Adam, an independent implementation of the same rule)."""

import pytest
import torch

from engine.labs.continual.shrink_perturb import shrink_perturb_step
from tests.labs.continual.support import build

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_shrink_and_perturb_step_on_hand_numbers(dtype):
    """w ← (1 − αλ) w − α (g + ξ) with α = 0.1, λ = 0.5 on w = [1, −2, 0.5],
    g = [0.5, 0.25, −1], ξ = [0.1, −0.2, 0.3]: 0.95 w − 0.1 (g + ξ) = [0.89, −1.905, 0.545]."""
    w = torch.tensor([[1.0, -2.0, 0.5]], dtype=dtype)
    shrink_perturb_step(
        w,
        torch.tensor([[0.5, 0.25, -1.0]], dtype=dtype),
        torch.tensor([[0.1, -0.2, 0.3]], dtype=dtype),
        lr=0.1,
        decay=0.5,
    )
    torch.testing.assert_close(w, torch.tensor([[0.89, -1.905, 0.545]], dtype=dtype))


def test_shrink_and_perturb_learner_without_noise_is_decayed_sgd():
    """With σ = 0 the learner's step is (1 − αλ) w − α g: α = 0.2, λ = 0.5, w = [2, −1],
    g = [1, 1] give 0.9 w − 0.2 g = [1.6, −1.1]."""
    alg = build("continual.shrink_perturb", lr=0.2, decay=0.5, sigma=0.0)
    theta = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    alg.update(theta, torch.ones_like(theta), 1)
    torch.testing.assert_close(theta, torch.tensor([[1.6, -1.1]], dtype=torch.float64))


def test_shrink_and_perturb_noise_has_standard_deviation_sigma():
    """ξ ~ N(0, σ²) on every weight: from w = 0, g = 0 the step is −α ξ, whose sample
    standard deviation over 60,000 weights is within 1.5% of α σ = 0.5 · 0.2 = 0.1."""
    alg = build("continual.shrink_perturb", seeds=2, lr=0.5, decay=0.01, sigma=0.2)
    theta = torch.zeros(2, 30_000, dtype=torch.float64)
    alg.update(theta, torch.zeros_like(theta), 1)
    assert theta.std().item() == pytest.approx(0.1, rel=0.015)


def test_sgd_step_on_hand_numbers():
    """w ← w − α g with α = 0.05: [1, −2] − 0.05 [4, −2] = [0.8, −1.9]."""
    alg = build("continual.sgd", lr=0.05)
    theta = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    alg.update(theta, torch.tensor([[4.0, -2.0]], dtype=torch.float64), 1)
    torch.testing.assert_close(theta, torch.tensor([[0.8, -1.9]], dtype=torch.float64))


def test_adam_first_step_and_agreement_with_torch_adam():
    """Adam's first step is −α sign(g) (up to ε): m̂ = g, v̂ = g². Over five steps of
    varying gradients it matches torch.optim.Adam with the same hyperparameters."""
    alg = build("continual.adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-8)
    theta = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64)
    reference = theta.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([reference], lr=0.01, betas=(0.8, 0.99), eps=1e-8)
    grads = [
        [0.3, -1.0, 2.0],
        [0.1, 0.5, -1.0],
        [-0.2, 0.2, 0.0],
        [1.0, 1.0, 1.0],
        [0.0, -0.3, 0.7],
    ]
    for t, g in enumerate(grads, start=1):
        grad = torch.tensor([g], dtype=torch.float64)
        alg.update(theta, grad, t)
        reference.grad = grad.clone()
        optimizer.step()
        if t == 1:
            torch.testing.assert_close(
                theta, torch.tensor([[0.99, -1.99, 0.49]], dtype=torch.float64)
            )
        torch.testing.assert_close(theta, reference.detach())
