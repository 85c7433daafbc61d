"""A*-PO: regress β log π/π_ref onto the optimal advantage r − V*, V* estimated once from π_ref."""

from __future__ import annotations

import math

import torch

from engine.labs.preference.base import BETA, TRAINING_PARAMS, PreferenceOptimisation
from engine.params import Param
from engine.seeding import ALGORITHM_STREAM, generator


class APO(PreferenceOptimisation):
    """A*-PO (Brantley, Chen, Gao, Lee, Sun, Zhan & Zhang, "Accelerating RL for LLM Reasoning with
    Optimal Advantage Regression", 2025).

    The KL-regularised optimum π*(y) = π_ref(y) exp(r(y)/β)/Z satisfies, for every y,

        β log π*(y)/π_ref(y) = r(y) − V*,    V* = β log E_{y∼π_ref}[exp(r(y)/β)],

    so the optimal advantage r − V* is known once V* is. Two stages:

      1. (offline) draw N responses y_1..y_N from π_ref and estimate
             V̂* = β₁ log (1/N) Σ_i exp(r(y_i)/β₁);
      2. (on-policy) at each step draw one response y ∼ π_t per prompt and take an
         optimizer step on the least-squares regression
             L(θ) = E_{y∼π_t} [ (β₂ log π_θ(y)/π_ref(y) − (r(y) − V̂*))² ],
         with no gradient through the sampling distribution π_t.

    With β₁ = β₂ = β and V̂* exact, L ≥ 0 vanishes exactly at π* (and only there on the
    support of π_t), so the population optimisation reaches π_ref exp(r/β)/Z. Stage 1 is
    biased for finite N (log of a mean: E[V̂*] ≤ V* by Jensen) and consistent as N → ∞.
    With one prompt and a softmax policy an error in V̂* only shifts every target by the
    same constant: at θ = θ_t the exact gradient is 2β₂ π(j)(e_j − E_π[e]), e the
    residuals, so the stationary point is still π_ref exp(r/β₂)/Z; but the single-sample
    gradients no longer vanish there, which leaves a noise floor (derived here, not a
    claim of the paper).

    Parameters: `beta` is β₂; `value_beta` is β₁ (0 = the same as β₂, the setting of the
    theory; the authors' scripts use β₁ = 0.5, β₂ = 10⁻³ and N = 8); `value_samples` is N (0 = V* exactly,
    the population mode of stage 1); `policy_samples` is the number of on-policy responses
    per step (0 = the exact expectation over π_t; 1 = the paper's single generation).

    Departures from the paper: one prompt with K responses, tabular or log-linear policy
    instead of a language model; with `policy_samples` > 1 the loss averages several
    on-policy responses of the one prompt (the paper averages one response for each of
    many prompts); the data the problem offers (labelled pairs) is not used by the loss,
    only by the shared metrics: A*-PO learns from the reward itself, as in the paper.
    """

    id = "preference.apo"
    paper = "Accelerating RL for LLM Reasoning with Optimal Advantage Regression"
    summary = (
        "Least squares of β log π/π_ref onto r − V̂*, V̂* from π_ref samples; one on-policy sample."
    )
    params = (
        BETA,
        Param(
            "value_beta",
            "float",
            0.0,
            "β₁ of the V* estimate β₁ log mean exp(r/β₁); 0 = same as beta.",
            low=0.0,
            high=1000.0,
        ),
        Param(
            "value_samples",
            "int",
            0,
            "N responses of π_ref in stage 1; 0 = V* exactly.",
            low=0,
            high=10_000_000,
        ),
        Param(
            "policy_samples",
            "int",
            1,
            "On-policy responses per step in stage 2; 0 = exact expectation over π_t.",
            low=0,
            high=1_000_000,
        ),
    ) + TRAINING_PARAMS

    def run(self, steps, rec):
        self._gen = generator(self.device, self.seed, ALGORITHM_STREAM)
        self.optimal_value = self.estimate_optimal_value(self._gen)
        super().run(steps, rec)

    def value_temperature(self) -> float:
        return self.p["value_beta"] or self.p["beta"]

    def estimate_optimal_value(self, gen: torch.Generator) -> torch.Tensor:
        """V̂* for every seed, [seeds]: exact, or from N samples of π_ref per seed drawn from gen."""
        prob, beta1, n = self.problem, self.value_temperature(), self.p["value_samples"]
        if n == 0:
            exact = beta1 * torch.logsumexp(prob.log_reference + prob.rewards / beta1, dim=0)
            return exact.expand(self.seeds).clone()
        draws = torch.multinomial(
            prob.reference.expand(self.seeds, -1), n, replacement=True, generator=gen
        )
        return sample_optimal_value(prob.rewards[draws], beta1)

    def loss(self, batch):
        prob, n = self.problem, self.p["policy_samples"]
        advantage = prob.rewards[None, :] - self.optimal_value[:, None]
        residual = apo_residuals(batch.log_ratio, advantage, self.p["beta"])
        if n == 0:
            return (batch.log_policy.detach().exp() * residual**2).sum(1)
        with torch.no_grad():
            drawn = torch.multinomial(
                batch.log_policy.exp(), n, replacement=True, generator=self._gen
            )
        return (residual.gather(1, drawn) ** 2).mean(1)


def sample_optimal_value(rewards: torch.Tensor, beta: float) -> torch.Tensor:
    """β log (1/N) Σ_i exp(r_i/β) over the last axis of rewards [..., N] (stage 1)."""
    # logsumexp keeps exp(r/β) from overflowing at small β.
    return beta * (torch.logsumexp(rewards / beta, dim=-1) - math.log(rewards.shape[-1]))


def apo_residuals(log_ratio: torch.Tensor, advantage: torch.Tensor, beta: float) -> torch.Tensor:
    """β log π/π_ref − (r − V̂*) for every response, the quantity A*-PO squares."""
    return beta * log_ratio - advantage
