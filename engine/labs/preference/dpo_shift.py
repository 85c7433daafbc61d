"""DPO-Shift: DPO with the rejected log-ratio scaled by λ ≤ 1."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.params import Param, ParamError

SCHEDULES = ("fixed", "increase_linear", "decrease_linear")


class DPOShift(PreferenceOptimisation):
    """DPO-Shift (Yang, Jiang, Zhang, Zhao & Li, "DPO-Shift: Shifting the Distribution of
    Direct Preference Optimization", 2025).

    DPO often lowers the probability of the chosen responses while it widens the margin
    (likelihood displacement). DPO-Shift multiplies the rejected response's log-ratio by
    λ ≤ 1:

        L(θ) = − E_(y_w, y_l) [ log σ( β log π(y_w)/π_ref(y_w) − λ β log π(y_l)/π_ref(y_l) ) ]
        θ ← θ − lr · optimizer(∇θ L)

    With λ < 1 the loss no longer cancels the normaliser of π between the two terms: it
    rewards raising log π(y_w) itself, shifting probability towards the chosen responses at
    the cost of the reward margin β (h_w − h_l). The paper shows this trade-off: the smaller
    λ, the higher the chosen probability and the lower the margin; λ = 1 is DPO exactly.

    λ may follow a schedule over the T steps, as in the authors' code: `fixed` (λ), or
    linear from λ_min to λ_max (`increase_linear`) or from λ_max to λ_min
    (`decrease_linear`), with λ at step t (1-based) placed (t − 1)/T of the way.

    Departures from the paper: one prompt, tabular or log-linear policy, Adam or SGD. The
    reward margin reported is the plain β (h_w − h_l), as the authors log it.
    """

    id = "preference.dpo_shift"
    paper = "DPO-Shift: Shifting the Distribution of Direct Preference Optimization"
    summary = (
        "DPO with λ ≤ 1 on the rejected log-ratio: trades reward margin for chosen probability."
    )
    params = (
        BETA,
        Param(
            "lambda",
            "float",
            0.75,
            "λ on the rejected log-ratio (fixed schedule); 1 = DPO.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "lambda_schedule",
            "choice",
            "fixed",
            "fixed: λ throughout; increase_linear / decrease_linear: "
            "linear between lambda_min and lambda_max over the run.",
            choices=SCHEDULES,
        ),
        Param(
            "lambda_min", "float", 0.75, "λ at the low end of a linear schedule.", low=0.0, high=1.0
        ),
        Param(
            "lambda_max", "float", 1.0, "λ at the high end of a linear schedule.", low=0.0, high=1.0
        ),
    ) + TRAINING_PARAMS

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if params["lambda_schedule"] != "fixed" and params["lambda_min"] > params["lambda_max"]:
            raise ParamError(
                "algorithm.lambda_min",
                f"must be <= lambda_max ({params['lambda_max']:g}) for a "
                f"linear schedule, got {params['lambda_min']:g}",
            )

    def shift(self, step: int, steps: int) -> float:
        """λ at step t of T under the schedule."""
        schedule, low, high = self.p["lambda_schedule"], self.p["lambda_min"], self.p["lambda_max"]
        if schedule == "increase_linear":
            return low + (high - low) * (step - 1) / steps
        if schedule == "decrease_linear":
            return high - (high - low) * (step - 1) / steps
        return self.p["lambda"]

    def pair_losses(self, batch):
        return dpo_shift_losses(
            batch.chosen_logratio,
            batch.rejected_logratio,
            self.p["beta"],
            self.shift(batch.step, batch.steps),
        )


def dpo_shift_losses(
    chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, beta: float, shift: float
) -> torch.Tensor:
    """−log σ(β h_w − λ β h_l) for every pair."""
    return -F.logsigmoid(beta * (chosen_logratio - shift * rejected_logratio))
