"""WEAT: TRADES with every example's terms weighted by a function of its energy."""

from __future__ import annotations

import torch

from engine.labs.robust.attack import cross_entropy
from engine.labs.robust.base import AdversarialTraining, attack_params
from engine.labs.robust.trades import kl_attack, trades_boundary
from engine.labs.unlearning import model
from engine.params import Param


def energy(logits: torch.Tensor) -> torch.Tensor:
    """The classifier read as an energy-based model: E(x) = -log Σ_k exp(logit_k(x))."""
    return -torch.logsumexp(logits, dim=-1)


def energy_weights(energies: torch.Tensor) -> torch.Tensor:
    """WEAT's weight of an example with energy E: 1 / log(1 + exp(|E|)) (softplus, computed
    stably), so low-|energy| examples weigh more."""
    return 1.0 / torch.nn.functional.softplus(energies.abs())


class WEAT(AdversarialTraining):
    """Weighted Energy Adversarial Training (Mirza et al., "Shedding More Light on Robust
    Classifiers under the lens of Energy-based Models"). TRADES' two terms, each example
    weighted by w(x) = 1 / log(1 + exp(|E_θ(x)|)), E_θ(x) = -logsumexp f_θ(x) the energy of
    the clean input (held constant: no gradient flows through the weight):

        WEAT_adv:  mean_i w(x_i) [ CE(f(x'_i), y_i) + β KL(f(x_i) || f(x'_i)) ],
        WEAT_nat:  mean_i w(x_i) [ CE(f(x_i),  y_i) + β KL(f(x_i) || f(x'_i)) ],

    x' from TRADES' attack (PGD on the KL from x + 0.001 N(0, I)). The paper's reading:
    examples of high |energy| are those the model already fits confidently (or whose energy
    has drifted from the data's), and down-weighting them limits robust overfitting. The
    mean divides by the number of examples, not by the sum of the weights, as in the
    authors' code.

    Departures: full-batch Adam on a small 2-D problem; no input clipping; attack step
    2.5 ε / steps.
    """

    id = "robust.weat"
    paper = "Shedding More Light on Robust Classifiers under the lens of Energy-based Models"
    summary = "TRADES with each example weighted by 1 / log(1 + exp(|energy|)) (WEAT)."
    params = attack_params() + (
        Param(
            "variant",
            "choice",
            "adv",
            "WEAT_adv (cross-entropy at the adversarial input) or WEAT_nat (at the clean input).",
            choices=("adv", "nat"),
        ),
    )

    def adversarial(self, params, x, y, g):
        return kl_attack(
            params, x, self.problem.epsilon, self.step_size(), self.p["attack_steps"], g
        )

    def loss_terms(self, params, x, x_adv, y):
        logits = model.forward(params, x)
        logits_adv = model.forward(params, x_adv)
        weights = energy_weights(energy(logits.detach()))
        ce_input = x_adv if self.p["variant"] == "adv" else x
        natural = (weights * cross_entropy(params, ce_input, y)).mean(dim=1)
        boundary = (weights * trades_boundary(logits, logits_adv)).mean(dim=1)
        return {"natural": natural, "boundary": boundary}
