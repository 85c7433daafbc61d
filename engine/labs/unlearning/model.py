"""A small ReLU network batched over seeds, and the masked losses every unlearning method uses.

Parameters are a list of tensors [W1, b1, W2, b2, W3, b3] with a leading seed dimension
(W_l is [seeds, in, out], b_l is [seeds, 1, out]); a "layer" is one (W_l, b_l) pair. Data
are [seeds, n, d] with labels [seeds, n]; which examples a loss covers is a 0/1 mask
[seeds, n], so the forget, retain and test sets of every seed share one tensor each.
The loss of a batch is the sum over seeds of each seed's mean cross-entropy over its
masked examples: its gradient with respect to seed s's parameters is seed s's own gradient.
"""

from __future__ import annotations

import math

import torch


def init_mlp(
    inputs: int, hidden: int, outputs: int, seeds: int, generator, device, dtype
) -> list[torch.Tensor]:
    """He-uniform weights and zero biases for inputs -> hidden -> hidden -> outputs (drawn in float64)."""
    sizes = [inputs, hidden, hidden, outputs]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = math.sqrt(6.0 / fan_in)
        w = (
            torch.rand(
                (seeds, fan_in, fan_out), generator=generator, device=device, dtype=torch.float64
            )
            * 2
            - 1
        ) * bound
        params += [w.to(dtype), torch.zeros((seeds, 1, fan_out), device=device, dtype=dtype)]
    return params


def layer_count(params) -> int:
    return len(params) // 2


def forward(params, x: torch.Tensor) -> torch.Tensor:
    """Logits [seeds, n, classes] of inputs x [seeds, n, d]."""
    h = x
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i + 2 < len(params):
            h = torch.relu(h)
    return h


def masked_loss(params, x, y, mask) -> torch.Tensor:
    """Sum over seeds of the mean cross-entropy over each seed's masked examples."""
    logits = forward(params, x)
    per_example = torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none")
    return ((per_example * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)).sum()


def gradients(params, x, y, mask) -> list[torch.Tensor]:
    """Gradient of `masked_loss` with respect to every parameter (each seed its own)."""
    leaves = [p.detach().requires_grad_(True) for p in params]
    return list(torch.autograd.grad(masked_loss(leaves, x, y, mask), leaves))


def accuracy(params, x, y, mask) -> torch.Tensor:
    """Fraction of the masked examples classified correctly, per seed [seeds]."""
    with torch.no_grad():
        logits = forward(params, x)
        # a diverged model (non-finite logits) predicts nothing: argmax would pick a class for it
        correct = ((logits.argmax(dim=2) == y) & torch.isfinite(logits).all(dim=2)).to(mask.dtype)
        return (correct * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1)


def true_label_probability(params, x, y) -> torch.Tensor:
    """The softmax probability of each example's own label [seeds, n]: the output the
    membership-inference attack and the forget-quality test read."""
    with torch.no_grad():
        probability = torch.softmax(forward(params, x), dim=2).gather(2, y.unsqueeze(2)).squeeze(2)
        return torch.nan_to_num(probability, nan=0.0)


def train(params, x, y, mask, steps: int, lr: float, sign: float = 1.0) -> list[torch.Tensor]:
    """`steps` full-batch Adam steps on the masked loss from `params` (left untouched); returns
    the new parameters. sign = -1 ascends the loss instead of descending it."""
    leaves = [p.detach().clone().requires_grad_(True) for p in params]
    optimiser = torch.optim.Adam(leaves, lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        (sign * masked_loss(leaves, x, y, mask)).backward()
        optimiser.step()
    return [p.detach() for p in leaves]
