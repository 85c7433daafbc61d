"""Projected gradient ascent in an ℓ∞ ball (PGD) and the robust accuracy it measures."""

from __future__ import annotations

import torch

from engine.labs.unlearning import model


def pgd(objective, x: torch.Tensor, epsilon: float, step_size: float, steps: int, start):
    """Maximise objective(x') [seeds, n] (one value per example) over ||x' - x||_∞ <= epsilon:

        x'_0 = x + start,   x'_{k+1} = Π_ball( x'_k + step_size · sign(∇_{x'} objective(x'_k)) ),

    Π_ball clipping each coordinate to [x - epsilon, x + epsilon]. The examples are independent,
    so the gradient of the summed objective is each example's own. `start` is the random
    offset [seeds, n, d] (projected onto the ball too). Returns x' detached."""
    x = x.detach()
    low, high = x - epsilon, x + epsilon
    adversarial = torch.clamp(x + start, low, high)
    for _ in range(steps):
        adversarial.requires_grad_(True)
        (gradient,) = torch.autograd.grad(objective(adversarial).sum(), adversarial)
        adversarial = torch.clamp(adversarial.detach() + step_size * gradient.sign(), low, high)
    return adversarial.detach()


def uniform_start(x: torch.Tensor, epsilon: float, g) -> torch.Tensor:
    """A uniform draw from the ℓ∞ ball of radius epsilon (Madry et al.'s random start)."""
    return epsilon * (2 * torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) - 1)


def gaussian_start(x: torch.Tensor, g, scale: float = 0.001) -> torch.Tensor:
    """scale · N(0, I): the small random start of TRADES' and WEAT's training attack."""
    return scale * torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)


def cross_entropy(params, x, y) -> torch.Tensor:
    """Per-example cross-entropy [seeds, n] of the network's logits on x against y."""
    logits = model.forward(params, x)
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")


def robust_accuracy(params, x, y, epsilon: float, steps: int, g) -> torch.Tensor:
    """Accuracy per seed [seeds] on the PGD adversarial examples of x: cross-entropy ascent
    from a uniform random start, `steps` steps of size 2.5 epsilon / steps (so the attack can
    cross the ball from any start)."""
    detached = [p.detach() for p in params]
    adversarial = pgd(
        lambda z: cross_entropy(detached, z, y),
        x,
        epsilon,
        2.5 * epsilon / steps,
        steps,
        uniform_start(x, epsilon, g),
    )
    return model.accuracy(detached, adversarial, y, torch.ones_like(y, dtype=x.dtype))
