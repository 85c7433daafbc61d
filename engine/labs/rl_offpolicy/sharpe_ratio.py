"""SharpeRatio@k of off-policy estimators: the risk and return of their top-k policy portfolios."""

from __future__ import annotations

import torch

from engine.labs.rl_offpolicy.classification_bandit import ClassificationBandit, softmax_policy
from engine.labs.rl_offpolicy.estimators import (
    direct_method,
    doubly_robust,
    ips,
    snips,
    top_k_portfolio,
)
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

ESTIMATORS = ("ips", "snips", "dm", "dr")


def ridge_reward_model(
    features: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    k: int,
    ridge: float,
    used: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-action ridge regression q̂(x, a) = φ(x)ᵀβ_a fitted on the rounds that logged a:

        β_a = (Σ_{i: a_i = a} φ_i φ_iᵀ + λ I)⁻¹ Σ_{i: a_i = a} φ_i r_i,

    over the rounds where `used` [n] is true (all by default). features [seeds, n, p],
    actions and rewards [seeds, n]; returns β [seeds, K, p].
    """
    mask = torch.nn.functional.one_hot(actions, k).to(features.dtype)  # [S, n, K]
    if used is not None:
        mask = mask * used.to(features.dtype).view(1, -1, 1)
    gram = torch.einsum("sna,snp,snq->sapq", mask, features, features)
    gram = gram + ridge * torch.eye(
        features.shape[-1], dtype=features.dtype, device=features.device
    )
    moment = torch.einsum("sna,snp,sn->sap", mask, features, rewards)
    return torch.linalg.solve(gram, moment.unsqueeze(-1)).squeeze(-1)


class SharpeRatioAtK(Algorithm):
    """Towards Assessing and Benchmarking Risk-Return Tradeoff of Off-Policy Evaluation
    (Kiyohara, Kishimoto, Nakata, Saito, 2023).

    M candidate policies, the behaviour policy π_b = π0 among them, have exact true values
    J(π) on the problem's context set. Each seed logs n rounds with π0; each estimator
    Ĵ ∈ {IPS, SNIPS, DM, DR} estimates every candidate's value and ranks them; its top-k
    portfolio Π_k(Ĵ) is what would go on to online A/B tests. Then

        best@k = max_{π ∈ Π_k} J(π)                         (return),
        std@k  = sqrt((1/k) Σ_{π ∈ Π_k} (J(π) − mean_{Π_k} J)²)  (risk),
        SharpeRatio@k = (best@k − J(π_b)) / std@k.

    Step t of the run stands for k = t (the metric `k`); a run longer than M steps
    records k = 1 … M and nothing after.
    SharpeRatio@1 is undefined (std@1 = 0) and recorded as NaN, as is any k whose
    portfolio has equal values.

    Estimators, with w_i = π(a_i|x_i)/π0(a_i|x_i): IPS (1/n) Σ w_i r_i; SNIPS
    Σ w_i r_i / Σ w_i; DM (1/n) Σ_i Σ_a π(a|x_i) q̂(x_i, a) with q̂ a per-action ridge
    regression on φ(x) fitted to the logged rounds (misspecified for 0/1 rewards: biased,
    low variance); DR = DM + (1/n) Σ w_i (r_i − q̂(x_i, a_i)). q̂ is cross-fitted: the
    rounds of even index get the model fitted on the odd ones and vice versa, so no round
    is scored by a model fitted on it and DR stays unbiased (an in-sample fit overfits its
    own residuals towards 0 and biases DR towards DM).

    Candidates: π0, then M − 1 policies softmax((c_m ℓ + σ G_m)/τ) with ℓ the problem's
    nearest-mean logits, c_m evenly spaced from 1 (the classifier) to −1 (its opposite),
    G_m standard normal noise per context and action (drawn from the algorithm's stream,
    the same for every seed) and σ = `candidate_noise`: a spread from good to poor.

    Departures: the paper benchmarks RL estimators (per-decision IS, MIS, …) on Gym tasks
    with learned candidate policies; here the one-step contextual-bandit versions run on
    a synthetic problem where every J(π) is exact.

    Metrics (per seed): `k`, `behaviour_value` J(π_b), `best_candidate_value`; for each
    estimator e: `e_sharpe`, `e_best` best@k and `e_std` std@k.
    """

    id = "rl.sharpe_ratio_at_k"
    family = "rl"
    paper = "Towards Assessing and Benchmarking Risk-Return Tradeoff of Off-Policy Evaluation"
    summary = "SharpeRatio@k of IPS, SNIPS, DM and DR: return and risk of each estimator's top-k policies."
    problems = (ClassificationBandit.id,)
    plot = "curves"
    metrics = ("k", "behaviour_value", "best_candidate_value") + tuple(
        f"{e}_{m}" for e in ESTIMATORS for m in ("sharpe", "best", "std")
    )
    params = (
        Param(
            "candidates",
            "int",
            12,
            "M candidate policies, the behaviour policy included.",
            low=2,
            high=1000,
        ),
        Param(
            "candidate_temperature",
            "float",
            0.5,
            "τ of the candidates' softmax.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "candidate_noise",
            "float",
            1.0,
            "σ of the Gaussian noise added to the candidates' logits.",
            low=0.0,
            high=1e6,
        ),
        Param(
            "ridge",
            "float",
            1.0,
            "λ of the DM reward model's ridge regression.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
    )

    def candidate_policies(self) -> torch.Tensor:
        """The M candidate policies [M, N, K]; the first is π0."""
        prob, p = self.problem, self.p
        m = p["candidates"]
        g = generator("cpu", self.seed, ALGORITHM_STREAM)
        noise = torch.randn(m - 1, prob.n_contexts, prob.k, generator=g, dtype=torch.float64).to(
            self.device, self.dtype
        )
        scale = torch.linspace(1.0, -1.0, m - 1, dtype=self.dtype, device=self.device).view(
            -1, 1, 1
        )
        others = softmax_policy(
            scale * prob.class_logits + p["candidate_noise"] * noise,
            p["candidate_temperature"],
            0.0,
        )
        return torch.cat([prob.logging.unsqueeze(0), others], 0)

    def estimates(self, policies: torch.Tensor, logged: dict) -> dict[str, torch.Tensor]:
        """Every estimator's estimate of every candidate, {name: [seeds, M]}."""
        prob = self.problem
        j, a, r, p0 = logged["context"], logged["action"], logged["reward"], logged["propensity"]
        seeds = j.shape[0]
        on_logged = policies[:, j, :].permute(1, 0, 2, 3)  # π(·|x_i) [S, M, n, K]
        target = on_logged.gather(
            -1, a.view(seeds, 1, -1, 1).expand(-1, policies.shape[0], -1, 1)
        ).squeeze(-1)
        phi = prob.features[j]
        odd = torch.arange(j.shape[1], device=j.device) % 2 == 1
        q_hat = torch.zeros(seeds, j.shape[1], prob.k, device=self.device, dtype=self.dtype)
        for scored in (odd, ~odd):
            beta = ridge_reward_model(phi, a, r, prob.k, self.p["ridge"], used=~scored)  # [S, K, p]
            q_hat[:, scored] = torch.einsum("snp,skp->snk", phi[:, scored], beta)
        q_hat = q_hat.unsqueeze(1)  # [S, 1, n, K]
        q_logged = (
            q_hat.squeeze(1).gather(-1, a.unsqueeze(-1)).squeeze(-1).unsqueeze(1)
        )  # [S, 1, n]
        r, p0 = r.unsqueeze(1), p0.unsqueeze(1)
        return {
            "ips": ips(target, p0, r),
            "snips": snips(target, p0, r),
            "dm": direct_method(on_logged, q_hat.expand_as(on_logged)),
            "dr": doubly_robust(on_logged, q_hat.expand_as(on_logged), target, p0, r, q_logged),
        }

    def run(self, steps, rec):
        last_k = min(steps, self.p["candidates"])
        prob = self.problem
        policies = self.candidate_policies()
        true_values = prob.value(policies)  # [M]
        baseline = true_values[0].expand(self.seeds)
        found = self.estimates(policies, prob.log())
        portfolios = {
            name: top_k_portfolio(est, true_values, baseline, range(1, last_k + 1))
            for name, est in found.items()
        }
        for k in range(1, steps + 1):
            if k <= last_k and rec.should_record(k):
                values = {
                    "k": torch.full((self.seeds,), float(k), device=self.device, dtype=self.dtype),
                    "behaviour_value": baseline,
                    "best_candidate_value": true_values.max().expand(self.seeds),
                }
                for name, port in portfolios.items():
                    for stat in ("sharpe", "best", "std"):
                        values[f"{name}_{stat}"] = port[stat][..., k - 1]
                rec.metrics(k, values)
            rec.progress(k)
