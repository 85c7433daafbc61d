"""The DPO gradient field: how fast the loss pushes the chosen probability up and the rejected down."""

from __future__ import annotations

import torch

from engine.labs.preference.base import BETA, TRAINING_PARAMS
from engine.labs.preference.dpo import dpo_losses
from engine.params import Param, ParamError
from engine.registry import Algorithm

GRADIENT_FIELD_METRICS = (
    "loss",
    "chosen_probability",
    "rejected_probability",
    "chosen_gradient",
    "rejected_gradient",
    "gradient_ratio",
    "probability_ratio",
)


class DPOGradientField(Algorithm):
    """The gradient field of the DPO loss over (π_w, π_l) (Feng, Qin, Huang, Zhang & Lei,
    "Towards Analyzing and Understanding the Limitations of DPO: A Theoretical
    Perspective", 2024), recorded along a DPO run on one pair.

    Write x₁ = π_θ(y_w) and x₂ = π_θ(y_l) for the chosen and rejected probabilities of one
    pair, and u = β log(x₁/π_ref(y_w)) − β log(x₂/π_ref(y_l)) for its scaled margin. The
    DPO loss as a function of the two probabilities is

        L(x₁, x₂) = −log σ(u) = −log [ x₁^β / (x₁^β + c x₂^β) ],   c = (π_ref(y_w)/π_ref(y_l))^β,

    and its partial derivatives are

        ∂L/∂x₁ = −β (1 − σ(u)) / x₁ = −β c x₂^β / (x₁ (x₁^β + c x₂^β))   (< 0: raise x₁)
        ∂L/∂x₂ =  β (1 − σ(u)) / x₂ =  β c x₂^β / (x₂ (x₁^β + c x₂^β))   (> 0: lower x₂)

    so their magnitudes stand in the ratio |∂L/∂x₂| / |∂L/∂x₁| = x₁/x₂ = π_w/π_l, whatever β
    and π_ref. Wherever the chosen response is already the likelier one (π_w > π_l), the
    loss pushes the rejected probability down faster than it pushes the chosen one up; and
    as x₂ → 0 the rejected gradient grows like 1/x₂ while the chosen one vanishes with
    1 − σ(u): DPO learns mostly by suppressing the rejected response (the paper's
    conclusion about the field).

    The run trains tabular logits θ (π = softmax(θ), starting at π_ref) by DPO on the one
    pair (`chosen`, `rejected`) of the problem's K responses, and records every step the
    probabilities x₁, x₂, both magnitudes |∂L/∂x₁|, |∂L/∂x₂| (the closed forms above, at
    the current point), their ratio and π_w/π_l, so that the two ratio curves coincide.

    Departures from the paper: the paper studies the field itself with x₁, x₂ free; the
    trajectory here follows gradient steps on the logits, whose softmax moves x₁ and x₂
    together (and through the other K − 2 responses), so the trajectory is a DPO run
    drawn on the field, not a flow line of it.
    """

    id = "preference.dpo_gradient_field"
    family = "preference"
    paper = "Towards Analyzing and Understanding the Limitations of DPO: A Theoretical Perspective"
    summary = "DPO on one pair; records π_w, π_l and the loss's gradients in them (ratio π_w/π_l) as curves."
    problems = ("preference.tabular_bt",)
    plot = "curves"
    metrics = GRADIENT_FIELD_METRICS
    deterministic = True  # exact gradient steps on one fixed pair: nothing is drawn
    params = (
        BETA,
        Param("chosen", "int", 0, "Index of the chosen (preferred) response y_w.", low=0, high=999),
        Param("rejected", "int", 1, "Index of the rejected response y_l.", low=0, high=999),
    ) + TRAINING_PARAMS

    def run(self, steps, rec):
        prob, beta = self.problem, self.p["beta"]
        chosen, rejected = self.p["chosen"], self.p["rejected"]
        for name, index in (("chosen", chosen), ("rejected", rejected)):
            if index >= prob.k:
                raise ParamError(
                    f"algorithm.{name}", f"must be a response index below {prob.k}, got {index}"
                )
        if chosen == rejected:
            raise ParamError(
                "algorithm.rejected",
                f"must differ from chosen ({chosen}): a pair needs two responses",
            )
        log_reference = prob.log_reference
        self.theta = log_reference.expand(self.seeds, -1).clone().requires_grad_(True)
        optimizer_cls = torch.optim.Adam if self.p["optimizer"] == "adam" else torch.optim.SGD
        optimizer = optimizer_cls([self.theta], lr=self.p["lr"])
        for t in range(1, steps + 1):
            log_policy = torch.log_softmax(self.theta, dim=1)
            log_ratio = log_policy - log_reference
            loss = dpo_losses(log_ratio[:, chosen], log_ratio[:, rejected], beta)
            optimizer.zero_grad()
            loss.sum().backward()
            if rec.should_record(t):
                with torch.no_grad():
                    x1, x2 = log_policy[:, chosen].exp(), log_policy[:, rejected].exp()
                    d1, d2 = dpo_probability_gradients(
                        x1, x2, prob.reference[chosen], prob.reference[rejected], beta
                    )
                    rec.metrics(
                        t,
                        {
                            "loss": loss,
                            "chosen_probability": x1,
                            "rejected_probability": x2,
                            "chosen_gradient": d1.abs(),
                            "rejected_gradient": d2.abs(),
                            "gradient_ratio": d2.abs() / d1.abs(),
                            "probability_ratio": x1 / x2,
                        },
                    )
            optimizer.step()
            rec.progress(t)

    def policy(self) -> torch.Tensor:
        """π_θ [seeds, K] as the run left it."""
        return torch.softmax(self.theta.detach(), dim=1)


def dpo_probability_gradients(
    chosen_probability: torch.Tensor,
    rejected_probability: torch.Tensor,
    chosen_reference: torch.Tensor,
    rejected_reference: torch.Tensor,
    beta: float,
):
    """(∂L/∂π_w, ∂L/∂π_l) of L = −log σ(β log(π_w/π_ref(y_w)) − β log(π_l/π_ref(y_l))), in
    closed form: −β(1 − σ(u))/π_w and β(1 − σ(u))/π_l. Tensors broadcast."""
    margin = beta * (
        chosen_probability.log()
        - chosen_reference.log()
        - rejected_probability.log()
        + rejected_reference.log()
    )
    # 1 − σ(u) = σ(−u), which stays accurate where σ(u) rounds to 1.
    push = beta * torch.sigmoid(-margin)
    return -push / chosen_probability, push / rejected_probability
