"""TD learning of entropic-risk values with the Itakura–Saito loss and its alternatives."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.params import Param
from engine.registry import Algorithm

LOSSES = ("itakura_saito", "exponential_mse", "softplus", "mse")

# Gauss–Hermite rule (probabilists' weight e^{−z²/2}) for the softplus loss's expected step,
# which has no closed form under a Gaussian reward: E f(μ + σZ) ≈ Σ_k w_k f(μ + σ z_k).
_HERMITE_NODES = 96
_nodes, _weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
HERMITE_Z = torch.from_numpy(_nodes)
HERMITE_W = torch.from_numpy(_weights / math.sqrt(2 * math.pi))


def loss_step(loss: str, q: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """−∂L/∂Q of one sample, for Q and its target T = r + γ max_b Q(s', b), δ = T − Q.

    itakura_saito   L = α⁻² d_IS(e^{−αT}, e^{−αQ}) = α⁻² (e^{−αδ} + αδ − 1)
                    −∂L/∂Q = (1 − e^{−αδ})/α
    exponential_mse L = (2α²)⁻¹ (e^{−αQ} − e^{−αT})²
                    −∂L/∂Q = e^{−2αQ} (1 − e^{−αδ})/α
    softplus        with the paper's d = Q − T = −δ:
                    L = 2d α⁻¹ log(1 + e^{αd}) + 2α⁻² Li₂(−e^{αd}) + π²/(6α²)
                    ∂L/∂d = 2d σ(αd) (the two log(1 + e^{αd}) terms cancel, since
                    Li₂'(z) = −log(1 − z)/z), so −∂L/∂Q = 2δ σ(−αδ) = 2δ/(1 + e^{αδ})
    mse             L = δ²/2, −∂L/∂Q = δ (risk-neutral)
    """
    delta = target - q
    if loss == "itakura_saito":
        return -torch.expm1(-alpha * delta) / alpha
    if loss == "exponential_mse":
        return torch.exp(-2 * alpha * q) * -torch.expm1(-alpha * delta) / alpha
    if loss == "softplus":
        return 2 * delta * torch.sigmoid(-alpha * delta)
    if loss == "mse":
        return delta
    raise ValueError(f"unknown loss {loss!r} (known: {', '.join(LOSSES)})")


def expected_step(loss: str, q: torch.Tensor, problem, alpha: float) -> torch.Tensor:
    """E[−∂L/∂Q] over r ~ N(μ, σ²) and s' ~ P for every (s, a) at once. In closed form for
    IS and EMSE, E e^{−αT} = e^{−αμ + α²σ²/2} Σ_s' P(s'|s, a) e^{−αγV(s')}, and for MSE; the
    softplus step E[2δ σ(−αδ)] has none, so the reward's Gaussian is integrated by a
    96-node Gauss–Hermite rule (exact sum over s')."""
    v = q.max(-1).values
    gamma = problem.discount
    if loss == "mse":
        return problem.mean_d + gamma * torch.einsum("nsat,nt->nsa", problem.P_d, v) - q
    if loss == "softplus":
        # δ at node k: μ + σ z_k + γV(s') − Q over [seeds, S, A, S', nodes], in chunks of
        # nodes that keep the table near 2²² entries.
        base = ((problem.mean_d - q)[..., None] + gamma * v[:, None, None, :])[..., None]
        std = problem.std_d[..., None, None]
        z, w = HERMITE_Z.to(q), HERMITE_W.to(q)
        chunk = max(1, min(len(z), (1 << 22) // max(1, base.numel())))
        out = torch.zeros_like(q)
        for i in range(0, len(z), chunk):
            delta = base + std * z[i : i + chunk]
            step = 2 * delta * torch.sigmoid(-alpha * delta)
            out = out + torch.einsum("nsat,nsatk,k->nsa", problem.P_d, step, w[i : i + chunk])
        return out

    log_mgf = -alpha * problem.mean_d + alpha**2 * problem.std_d.pow(2) / 2
    log_next = torch.logsumexp(
        torch.log(problem.P_d.clamp_min(1e-300)) - alpha * gamma * v[:, None, None, :], -1
    )
    log_ratio = alpha * q + log_mgf + log_next  # log E e^{−αδ}
    if loss == "itakura_saito":
        return -torch.expm1(log_ratio) / alpha
    if loss == "exponential_mse":
        return torch.exp(-2 * alpha * q) * -torch.expm1(log_ratio) / alpha
    raise ValueError(f"unknown loss {loss!r} (known: {', '.join(LOSSES)})")


class EntropicTD(Algorithm):
    """Synchronous Q-learning of entropic-risk values with the Itakura–Saito loss, the
    exponential mean-squared error, the softplus loss, or the plain (risk-neutral) squared
    error.

    Paper: "Risk-Averse Reinforcement Learning with Itakura-Saito Loss". The entropic
    Bellman equation e^{−αQ(s,a)} = E e^{−α(r + γ V(s'))} makes e^{−αQ} the mean of the
    targets e^{−αT}; a Bregman divergence is minimised in expectation at the mean, and
    the Itakura–Saito divergence d_IS(x, y) = x/y − log(x/y) − 1 of x = e^{−αT},
    y = e^{−αQ} depends on δ = T − Q only: L_IS = α⁻² (e^{−αδ} + αδ − 1). Every step
    draws (r, s') for every (s, a) of every seed (a generative model) and moves

        Q(s, a) ← Q(s, a) + η_t (−∂L/∂Q),   η_t = lr / t^ω,

    with −∂L/∂Q from `loss_step` (IS: (1 − e^{−αδ})/α, the paper's rule (13); EMSE: the
    same times e^{−2αQ}, so its step vanishes or explodes with the value level; softplus:
    2δ σ(−αδ); MSE: δ, which learns the risk-neutral values). `expected = true` replaces
    the sample by its exact expectation (`expected_step`), which makes the curve
    deterministic and its fixed point exact.

    The softplus loss (the paper's (SP), from Delétang et al.) is, with the paper's sign
    d = Q − T, L_SP = 2d α⁻¹ log(1 + e^{αd}) + 2α⁻² Li₂(−e^{αd}) + π²/(6α²); its gradient
    2d σ(αd) depends on d only (no exponent of the value level) but its fixed point
    E[δ σ(−αδ)] = 0 is the entropic value only when the target T is Gaussian, as the paper
    states: with T ~ N(m, s²) and Q = m − αs²/2, δ ~ N(αs²/2, s²) and δ σ(−αδ) times the
    density is odd in δ. Here T is Gaussian when s' is deterministic (one state) and a
    Gaussian mixture otherwise, where SP is biased.

    Departures: tabular values, not networks; no target network (the target uses the
    current table); the softplus expected step integrates the Gaussian reward with a
    96-node Gauss–Hermite rule (the others are closed forms).
    """

    id = "rl.entropic_td"
    family = "rl"
    paper = "Risk-Averse Reinforcement Learning with Itakura-Saito Loss"
    summary = "Entropic-risk Q-learning with the Itakura–Saito loss vs exponential MSE, softplus and MSE; error to the exact value."
    params = (
        Param("loss", "choice", "itakura_saito", "Loss whose gradient moves Q.", choices=LOSSES),
        Param("lr", "float", 0.5, "Step size η at t = 1.", low=0.0, low_open=True, high=100.0),
        Param("lr_decay", "float", 0.6, "η_t = lr / t^ω; 0 keeps it constant.", low=0.0, high=1.0),
        Param("expected", "bool", False, "Exact expected updates instead of sampled ones."),
    )
    problems = ("rl.entropic_mdp",)
    plot = "curves"
    metrics = ("value_error", "policy_disagreement", "diverged")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self.q = torch.zeros((seeds, problem.states, problem.actions), device=device, dtype=dtype)

    def run(self, steps: int, rec) -> None:
        prob, p = self.problem, self.p
        alpha, gamma = prob.alpha, prob.discount
        rows = torch.arange(self.seeds, device=self.device)[:, None]
        for t in range(1, steps + 1):
            lr = p["lr"] / t ** p["lr_decay"]
            if p["expected"]:
                step = expected_step(p["loss"], self.q, prob, alpha)
            else:
                reward, nxt = prob.sample()
                v = self.q.max(-1).values
                target = reward + gamma * v[rows.unsqueeze(-1), nxt]
                step = loss_step(p["loss"], self.q, target, alpha)
            self.q = self.q + lr * step
            if rec.should_record(t):
                finite = torch.isfinite(self.q).all(-1).all(-1)
                error = (self.q - prob.q_true).pow(2).mean((1, 2)).sqrt()
                disagree = (self.q.argmax(-1) != prob.optimal_action).to(self.dtype).mean(-1)
                nan = torch.full_like(error, float("nan"))
                rec.metrics(
                    t,
                    {
                        "value_error": torch.where(finite, error, nan),
                        "policy_disagreement": torch.where(finite, disagree, nan),
                        "diverged": (~finite).to(self.dtype),
                    },
                )
            rec.progress(t)
