"""KTO: a prospect-theoretic value of single responses marked desirable or undesirable."""

from __future__ import annotations

import torch

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.labs.preference.problems import UnpairedExamples
from engine.params import Param


class KTO(PreferenceOptimisation):
    """Kahneman–Tversky Optimization (Ethayarajh, Xu, Muennighoff, Jurafsky & Kiela,
    "KTO: Model Alignment as Prospect Theoretic Optimization", 2024).

    KTO needs no pairs, only single responses marked desirable (D) or undesirable (U). Its
    value function compares each response's implicit reward with a reference point z_0,
    the policy's KL divergence from π_ref, through a logistic (loss-averse) value:

        r_θ(y) = log π_θ(y)/π_ref(y),    z_0 = KL(π_θ ‖ π_ref)   (no gradient through z_0)
        v(y) = λ_D σ(β (r_θ(y) − z_0))   if y is desirable
               λ_U σ(β (z_0 − r_θ(y)))   if y is undesirable
        L(θ) = E_y [ λ_y − v(y) ]
        θ ← θ − lr · optimizer(∇θ L)

    The unpaired examples come from the problem's pairs: each y_w ≻ y_l gives y_w as
    desirable and y_l as undesirable, with half the pair's weight each. At π = π_ref,
    r = z_0 = 0 and the loss is (λ_D + λ_U)/4 with these halves.

    Departures from the paper: z_0 is the exact KL of the one prompt's policy instead of
    the paper's estimate from mismatched pairs in the microbatch (clamped at 0; the exact
    KL is never negative) and, as in the paper, is not back-propagated through; one prompt,
    tabular or log-linear policy, Adam or SGD. `reward_margin`, `chosen_logp` and
    `rejected_logp` are measured on the pairs the examples came from, like every
    algorithm of the family.
    """

    id = "preference.kto"
    paper = "KTO: Model Alignment as Prospect Theoretic Optimization"
    summary = "Unpaired desirable/undesirable responses valued against the KL reference point."
    params = (
        BETA,
        Param(
            "lambda_desirable",
            "float",
            1.0,
            "λ_D: weight of desirable examples.",
            low=0.0,
            high=1e6,
        ),
        Param(
            "lambda_undesirable",
            "float",
            1.0,
            "λ_U: weight of undesirable examples (loss aversion).",
            low=0.0,
            high=1e6,
        ),
    ) + TRAINING_PARAMS

    def loss(self, batch):
        examples = UnpairedExamples.from_pairs(batch.pairs)
        return (
            examples.weight
            * kto_losses(
                batch.log_ratio.gather(1, examples.response),
                examples.desirable,
                batch.kl_to_reference().detach(),
                self.p["beta"],
                self.p["lambda_desirable"],
                self.p["lambda_undesirable"],
            )
        ).sum(1)


def kto_losses(
    logratio: torch.Tensor,
    desirable: torch.Tensor,
    reference_point: torch.Tensor,
    beta: float,
    lambda_desirable: float,
    lambda_undesirable: float,
) -> torch.Tensor:
    """λ_y − v(y) for every example [seeds, m], from its log-ratio r_θ(y), whether it is
    desirable, and the reference point z_0 [seeds]."""
    z = reference_point[:, None]
    value = torch.where(
        desirable,
        lambda_desirable * torch.sigmoid(beta * (logratio - z)),
        lambda_undesirable * torch.sigmoid(beta * (z - logratio)),
    )
    return (
        torch.where(
            desirable,
            torch.full_like(value, lambda_desirable),
            torch.full_like(value, lambda_undesirable),
        )
        - value
    )
