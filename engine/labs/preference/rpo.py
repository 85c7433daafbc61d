"""RPO: DPO plus an SFT term on the chosen responses, the adversarial regulariser made simple."""

from __future__ import annotations

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.labs.preference.dpo import dpo_losses
from engine.params import Param


class RPO(PreferenceOptimisation):
    """Regularized Preference Optimization (Liu, Lu, Zhang, Liu, Guo, Yang, Blanchet & Wang,
    "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an
    Adversarial Regularizer", 2024). Not the "RPO" of iterative reasoning preference
    optimisation, which shares the name.

    The paper's theoretical algorithm picks the policy that is best against an
    adversarially chosen reward: one that fits the preferences by maximum likelihood and
    is penalised for rating the policy's responses above those of a baseline policy
    π_base. Using the reward–policy equivalence of DPO, the maximin problem becomes a
    plain minimisation: the DPO loss plus η β times an SFT (negative log-likelihood)
    loss on responses of π_base,

        L(θ) = E_(y_w, y_l) [ −log σ(β h(y_w, y_l)) ] + η β E_{y∼π_base} [ −log π(y) ]
        θ ← θ − lr · optimizer(∇θ L)

    with π_base the distribution of the chosen responses in the data, as in the paper's
    experiments and code. The SFT term keeps probability on the chosen responses, which
    counters the fall of the chosen log-likelihood that DPO shows; η = 0 is DPO exactly.

    Departures from the paper: one prompt, tabular or log-linear policy, Adam or SGD; the
    theoretical algorithm's guarantees assume a finite dataset and a given coverage, which
    the exact population mode does not model.
    """

    id = "preference.rpo"
    paper = "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial Regularizer"
    summary = "DPO plus η β times the negative log-likelihood of the chosen responses."
    params = (
        BETA,
        Param(
            "eta",
            "float",
            0.5,
            "η: weight of the SFT term on the chosen responses, relative to β; 0 = DPO.",
            low=0.0,
            high=1e6,
        ),
    ) + TRAINING_PARAMS

    def pair_losses(self, batch):
        return rpo_losses(
            batch.chosen_logratio,
            batch.rejected_logratio,
            batch.chosen_logp(),
            self.p["beta"],
            self.p["eta"],
        )


def rpo_losses(chosen_logratio, rejected_logratio, chosen_logp, beta: float, eta: float):
    """−log σ(β (h_w − h_l)) − η β log π(y_w) for every pair."""
    return dpo_losses(chosen_logratio, rejected_logratio, beta) - eta * beta * chosen_logp
