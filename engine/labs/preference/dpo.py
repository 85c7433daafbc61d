"""DPO: the logistic loss on the implicit reward margin, the base of the family."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.labs.preference.base import PREFERENCE_METRICS, PreferenceOptimisation

DPO_METRICS = PREFERENCE_METRICS


class DPO(PreferenceOptimisation):
    """Direct Preference Optimization (Rafailov, Sharma, Mitchell, Ermon, Manning & Finn,
    "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", 2023).

    A baseline: the objective the preference lab's papers modify; its paper is not among
    those of docs/papers.txt.

    With the implicit reward r̂(y) = β log πθ(y)/π_ref(y), each labelled pair (y_w ≻ y_l)
    costs the Bradley–Terry negative log-likelihood of its label (the paper's Eq. 7):

        h(y_w, y_l) = log πθ(y_w)/π_ref(y_w) − log πθ(y_l)/π_ref(y_l)
        L(θ) = − E_(y_w, y_l) [ log σ(β h(y_w, y_l)) ]
        θ ← θ − lr · optimizer(∇θ L)

    L is the Bradley–Terry likelihood of the reward β log πθ/π_ref (Section 5), so with
    noiseless labels and every pair covered its minimiser is the KL-regularised optimum
    π*(y) ∝ π_ref(y) exp(r(y)/β) (Eq. 4). Flipped labels move the minimiser away from π*.

    Departures from the paper: one prompt with K responses instead of a language model,
    the policy tabular or log-linear as the problem gives it, initialised at π_ref (the
    SFT model of the paper); in population mode the expectation over pairs is computed
    exactly instead of over a finite dataset.
    """

    id = "preference.dpo"
    paper = "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
    summary = "Logistic loss on the implicit reward β log π/π_ref of chosen minus rejected."

    def pair_losses(self, batch):
        return dpo_losses(batch.chosen_logratio, batch.rejected_logratio, self.p["beta"])


def dpo_losses(
    chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float
) -> torch.Tensor:
    """−log σ(β (h_w − h_l)) for every pair, from the log-ratios log π/π_ref of the chosen
    (h_w) and rejected (h_l) responses."""
    # logsigmoid stays finite where σ(β h) underflows.
    return -F.logsigmoid(beta * (chosen_logratio - rejected_logratio))
