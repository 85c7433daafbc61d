"""IPO: ΨPO with Ψ the identity, a squared loss whose margin stays bounded."""

from __future__ import annotations

import torch

from engine.labs.preference.base import PreferenceOptimisation


class IPO(PreferenceOptimisation):
    """Identity Preference Optimisation (Azar, Rowland, Piot, Guo, Calandriello, Valko &
    Munos, "A General Theoretical Paradigm to Understand Learning from Human Preferences",
    2023).

    ΨPO maximises E_{y∼π, y'∼μ}[Ψ(p(y ≻ y'))] − τ KL(π ‖ π_ref). DPO is the case
    Ψ(q) = log(q/(1 − q)), which is unbounded: with deterministic preferences (p = 1) its
    optimum is deterministic whatever τ, and the DPO margin grows without bound. With Ψ the
    identity, the paper's sampled loss (Eq. 17, Algorithm 1) regresses the log-ratio
    difference onto a constant:

        h(y_w, y_l) = log π(y_w)/π_ref(y_w) − log π(y_l)/π_ref(y_l)
        L(θ) = E_(y_w, y_l) [ (h(y_w, y_l) − 1/(2τ))² ]
        θ ← θ − lr · optimizer(∇θ L)

    Averaged over the label of a pair {y, y'} this is (h − (p(y ≻ y') − 1/2)/τ)² plus a
    constant, so the target margin is bounded by 1/(2τ) even when p = 1. Its minimiser,
    for data drawn from μ with full support, is

        π*(y) ∝ π_ref(y) exp( τ⁻¹ E_{y'∼μ}[p(y ≻ y')] ),

    with μ = π_ref on these problems (p(y ≻ y) = 1/2, label flips included in p).

    `target_policy` computes the minimiser of the exact population loss for any problem:
    h is linear in the parameters (h = (θ − θ_ref)ᵀ(φ(y_w) − φ(y_l)), with φ the identity
    for tabular logits), so the population loss is a weighted least squares, solved by
    its normal equations (minimum-norm solution where the data leave directions free).
    On the tabular problem this is the closed form above; on the log-linear problem it is
    the best the family can do, since the closed form is not log-linear in general.

    Departures from the paper: τ is declared as `beta`, as for the rest of the family, and
    the reward margin reported is β h like DPO's; the loss is minimised by Adam or SGD on
    sampled minibatches or on the exact population loss.
    """

    id = "preference.ipo"
    paper = "A General Theoretical Paradigm to Understand Learning from Human Preferences"
    summary = (
        "Squared loss pulling the log-ratio margin to 1/(2τ): a bounded target where DPO's is not."
    )

    def pair_losses(self, batch):
        return ipo_losses(batch.chosen_logratio, batch.rejected_logratio, self.p["beta"])

    def target_policy(self) -> torch.Tensor:
        return ipo_population_optimum(self.problem, self.p["beta"])


def ipo_losses(
    chosen_logratio: torch.Tensor, rejected_logratio: torch.Tensor, tau: float
) -> torch.Tensor:
    """(h_w − h_l − 1/(2τ))² for every pair, from the log-ratios log π/π_ref of the chosen
    (h_w) and rejected (h_l) responses."""
    return (chosen_logratio - rejected_logratio - 0.5 / tau) ** 2


def ipo_population_optimum(problem, tau: float) -> torch.Tensor:
    """The policy [K] minimising the exact population IPO loss, from the normal equations
    Σ w d dᵀ δ = (1/(2τ)) Σ w d with d = φ(y_w) − φ(y_l), θ* = θ_ref + δ (float64)."""
    chosen, rejected, weight = problem.population_comparisons()
    features = problem.features64
    difference = features[chosen] - features[rejected]
    gram = difference.T @ (weight[:, None] * difference)
    moment = (0.5 / tau) * (difference.T @ weight)
    delta = torch.linalg.pinv(gram, hermitian=True) @ moment
    theta = problem.reference_parameters64 + delta
    return torch.softmax(features @ theta, dim=0).to(device=problem.device, dtype=problem.dtype)
