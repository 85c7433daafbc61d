"""TRADES: cross-entropy plus β times the KL divergence from the clean to the adversarial output."""

from __future__ import annotations

import torch

from engine.labs.robust.attack import cross_entropy, gaussian_start, pgd
from engine.labs.robust.base import AdversarialTraining, attack_params
from engine.labs.unlearning import model


def trades_boundary(logits_natural: torch.Tensor, logits_adversarial: torch.Tensor) -> torch.Tensor:
    """KL(f(x) || f(x')) = Σ_k p_k (log p_k - log q_k), p = softmax(logits_natural) and
    q = softmax(logits_adversarial), over the last dimension: the clean output is the
    reference distribution, as in TRADES' objective (and its code's KLDivLoss(log q, p))."""
    log_p = torch.log_softmax(logits_natural, dim=-1)
    log_q = torch.log_softmax(logits_adversarial, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def kl_attack(params, x, epsilon, step_size, steps, g):
    """TRADES' inner maximisation: PGD on KL(f(x) || f(x')) with the clean output held fixed,
    from x + 0.001 N(0, I)."""
    detached = [p.detach() for p in params]
    with torch.no_grad():
        natural = model.forward(detached, x)
    return pgd(
        lambda z: trades_boundary(natural, model.forward(detached, z)),
        x,
        epsilon,
        step_size,
        steps,
        gaussian_start(x, g),
    )


class TRADES(AdversarialTraining):
    """TRADES (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
    Accuracy"), the baseline that "Robustness and Accuracy Could Be Reconcilable by (Proper)
    Definition" and "Shedding More Light on Robust Classifiers under the lens of Energy-based
    Models" start from:

        min_θ E [ CE(f(x), y) + β · max_{||x' - x||_∞ <= ε} KL(f(x) || f(x')) ],

    f the softmax output. The inner max: PGD on KL(f(x) || f(x')) with f(x) fixed, from
    x + 0.001 N(0, I), `attack_steps` sign steps of 2.5 ε / attack_steps. Then one Adam step
    on the mean over the training set of CE(f(x), y) + β KL(f(x) || f(x')), the gradient
    flowing through both f(x) and f(x'). β = 0 is natural training.

    Departures: full-batch Adam on a small 2-D problem instead of minibatch SGD on images;
    inputs are not clipped to [0, 1] (they are points in the plane); the attack step is
    2.5 ε / steps (the paper: 0.007 with ε = 0.031 and 10 steps, about 2.3 ε / steps).
    """

    id = "robust.trades"
    paper = "Theoretically Principled Trade-off between Robustness and Accuracy (TRADES)"
    summary = (
        "Cross-entropy plus β times KL(f(x) || f(x')) at a PGD point: the clean-robust trade-off."
    )
    params = attack_params()

    def adversarial(self, params, x, y, g):
        return kl_attack(
            params, x, self.problem.epsilon, self.step_size(), self.p["attack_steps"], g
        )

    def loss_terms(self, params, x, x_adv, y):
        logits = model.forward(params, x)
        natural = cross_entropy(params, x, y).mean(dim=1)
        boundary = trades_boundary(logits, model.forward(params, x_adv)).mean(dim=1)
        return {"natural": natural, "boundary": boundary}
