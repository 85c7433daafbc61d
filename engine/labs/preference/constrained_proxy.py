"""Constrained proxy optimisation: a Lagrange multiplier holds the proxy at its useful point."""

from __future__ import annotations

import torch

from engine.labs.preference.proxy import PROXY_METRICS
from engine.params import Param, ParamError
from engine.registry import Algorithm


class ConstrainedProxyOptimisation(Algorithm):
    """Constrained RLHF with a Lagrange multiplier (Moskovitz, Singh, Strouse, Sandholm,
    Salakhutdinov, Dragan & McAleer, "Confronting Reward Model Overoptimization with
    Constrained RLHF", 2023), with one reward model.

    Past its proxy point τ (the proxy value at which the true reward peaks) a proxy stops
    being useful. In the formulation used here (one of the constrained objectives the
    paper compares: the KL term as the objective, each reward model a constraint at its
    proxy point) the policy stays as close to the reference as the constraint allows:

        max_π −KL(π ‖ π_ref)   subject to   E_π[r̃] ≥ τ,
        L(π, μ) = −KL(π ‖ π_ref) + μ (E_π[r̃] − τ),   μ ≥ 0,

    and solves the saddle point by alternating a policy step on L with a projected step
    on the multiplier, so that μ acts as a learned weight of the reward model:

        π_t = argmax_π L(π, μ_t) = π_ref exp(μ_t r̃)/Z
        μ_{t+1} = max(0, μ_t − η_μ (E_π_t[r̃] − τ)).

    The dual g(μ) = max_π L(π, μ) is convex with g'(μ) = E_π_μ[r̃] − τ and
    g''(μ) = Var_π_μ(r̃) ≤ (max r̃ − min r̃)²/4, so for η_μ below the inverse of that bound
    μ_t converges to the multiplier μ* with E_π_μ*[r̃] = τ (or to 0 when π_ref already
    meets τ), and π_t to the constrained optimum: the point of the KL-regularised path
    where the proxy equals τ. With τ the proxy point, that is where the true reward peaks.

    Departures from the paper: one prompt and a tabular policy; the policy step is the
    exact maximiser of the Lagrangian (closed form) instead of PPO steps; τ is given
    (the paper finds proxy points from the true evaluation score of earlier runs, or by a
    gradient-free search within one run). The authors' code bounds each multiplier by a
    squashing function, μ = σ(ξ) for "≥" constraints (tanh for the equality variant ξ-PPO,
    which also pulls a reward model that overshoots back down to τ), weights the KL term
    by (n − Σμ) and takes SGD steps on ξ; with one reward model the policy
    (1 − μ)(−KL) + μ E[r̃] maximises is π_ref exp(λ r̃)/Z with λ = μ/(1 − μ), so the
    constrained optimum is the same and only the multiplier's path differs. Here μ is not
    squashed but projected onto μ ≥ 0, and only the inequality form is built: when π_ref
    already meets τ the policy stays at π_ref.

    Metrics: `proxy_reward`, `true_reward`, `kl_to_reference` of π_t; `multiplier` μ_t;
    `constraint_gap` τ − E_π_t[r̃].
    """

    id = "preference.constrained_proxy"
    family = "preference"
    paper = "Confronting Reward Model Overoptimization with Constrained RLHF"
    summary = "Stay closest to π_ref subject to E[proxy] ≥ τ (the proxy point); Lagrange multiplier by dual steps."
    problems = ("preference.proxy_reward",)
    plot = "curves"
    metrics = PROXY_METRICS + ("multiplier", "constraint_gap")
    # exact maximisers on a problem drawn from its `instance`, not from the run's seed
    deterministic = True
    params = (
        Param(
            "proxy_threshold",
            "float",
            0.5,
            "τ: the proxy reward the policy must reach (its proxy point).",
            low=-100.0,
            high=100.0,
        ),
        Param(
            "multiplier_lr",
            "float",
            0.5,
            "η_μ: step size on the Lagrange multiplier.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
    )

    def run(self, steps, rec):
        prob = self.problem
        tau, lr = self.p["proxy_threshold"], self.p["multiplier_lr"]
        best = float(prob.proxy_rewards64.max())
        if tau >= best:
            raise ParamError(
                "algorithm.proxy_threshold",
                f"must be below the largest proxy reward ({best:.6g}), which no KL-regularised "
                f"policy reaches; got {tau}",
            )
        multiplier = torch.zeros(1, device=self.device, dtype=self.dtype)
        for t in range(1, steps + 1):
            policy = prob.kl_optimum(multiplier)
            proxy_value = policy @ prob.proxy_rewards
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        name: value.expand(self.seeds)
                        for name, value in {
                            "proxy_reward": proxy_value,
                            "true_reward": policy @ prob.true_rewards,
                            "kl_to_reference": prob.kl_to_reference(policy),
                            "multiplier": multiplier,
                            "constraint_gap": tau - proxy_value,
                        }.items()
                    },
                )
            multiplier = (multiplier - lr * (proxy_value - tau)).clamp_min(0.0)
            rec.progress(t)
        self.final_policy = prob.kl_optimum(multiplier)[0]
        self.multiplier = float(multiplier[0])
