"""A small MDP with Gaussian rewards and its exact entropic-risk (exponential utility) values.

For risk aversion α > 0 the certainty equivalent of a return X is
CE_α[X] = −(1/α) log E e^{−αX}. With r ~ N(μ(s, a), σ(s, a)²) independent of s', the
entropic Bellman optimality operator has the closed form

    Q(s, a) = μ(s, a) − α σ(s, a)²/2 − (1/α) log Σ_s' P(s'|s, a) e^{−α γ V(s')},
    V(s) = max_a Q(s, a),

a γ-contraction (CE is monotone and CE[X + c] = CE[X] + c), iterated here to 1e-12.
With one state the fixed point is closed: Q(a) = (μ_a − α σ_a²/2) + γ max_b Q(b), so the
optimal action is the one of largest μ − α σ²/2 and V = max_a (μ_a − α σ_a²/2)/(1 − γ).
"""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def entropic_backup(
    mean: torch.Tensor,
    std: torch.Tensor,
    P: torch.Tensor,
    v: torch.Tensor,
    alpha: float,
    discount: float,
) -> torch.Tensor:
    """μ − α σ²/2 − (1/α) log Σ_s' P e^{−αγV(s')} for every (s, a): [seeds, S, A]."""
    log_p = torch.log(P.clamp_min(1e-300))
    ce_next = -torch.logsumexp(log_p - alpha * discount * v[:, None, None, :], dim=-1) / alpha
    return mean - alpha * std.pow(2) / 2 + ce_next


def entropic_optimal_q(
    mean, std, P, alpha: float, discount: float, tol: float = 1e-12
) -> torch.Tensor:
    q = torch.zeros_like(mean)
    for _ in range(1_000_000):
        new = entropic_backup(mean, std, P, q.max(-1).values, alpha, discount)
        if (new - q).abs().max() <= tol * max(1.0, new.abs().max().item()):
            return new
        q = new
    raise RuntimeError("value iteration did not converge")


class EntropicMDP(Problem):
    """Random S × A MDP with Gaussian rewards; exact entropic-risk Q* for risk aversion α.

    Per seed (problem stream): P(·|s, a) ~ Dirichlet(1); μ(s, a) = `reward_offset` +
    U[0, 1]; σ(s, a) = `max_std` · U[0, 1]. High-mean actions are often the noisy ones,
    so the risk-averse optimal policy differs from the risk-neutral one as α grows. Q*
    of the entropic operator (closed-form backup, value iteration) is `q_true`; the
    risk-neutral Q* (`q_neutral`) shows what ignoring risk learns.
    """

    id = "rl.entropic_mdp"
    family = "rl"
    title = "Small MDP with Gaussian rewards: exact entropic-risk (exponential utility) values"
    summary = "S states, A actions, Gaussian rewards, Dirichlet transitions; entropic Q* in closed-form backups."
    params = (
        Param("states", "int", 4, "Number of states S.", low=1, high=200),
        Param("actions", "int", 2, "Number of actions A.", low=1, high=20),
        Param("discount", "float", 0.8, "Discount factor γ.", low=0.0, high=1.0, high_open=True),
        Param(
            "risk_aversion",
            "float",
            1.0,
            "Risk aversion α of the exponential utility.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param(
            "max_std", "float", 1.0, "σ(s, a) is this times a uniform draw.", low=0.0, high=100.0
        ),
        Param(
            "reward_offset",
            "float",
            0.0,
            "Added to every mean reward (moves the value level).",
            low=-1000.0,
            high=1000.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        S, A = params["states"], params["actions"]
        self.states, self.actions = S, A
        self.discount, self.alpha = params["discount"], params["risk_aversion"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        f64 = torch.float64

        def uniform(*shape):
            return torch.rand(shape, generator=self._gen, device=device, dtype=f64).cpu()

        exponentials = -uniform(seeds, S, A, S).clamp_min_(1e-300).log_()
        self.set_model(
            exponentials / exponentials.sum(-1, keepdim=True),
            params["reward_offset"] + uniform(seeds, S, A),
            params["max_std"] * uniform(seeds, S, A),
        )

    def set_model(self, P: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Install transitions [seeds, S, A, S], means and standard deviations [seeds, S, A]
        (float64) and compute the truths."""
        self.P, self.mean, self.std = P, mean, std
        q_true = entropic_optimal_q(mean, std, P, self.alpha, self.discount)
        self.q_true_f64 = q_true
        self.q_true = q_true.to(device=self.device, dtype=self.dtype)
        self.optimal_action = q_true.argmax(-1).to(self.device)
        q = torch.zeros_like(mean)
        for _ in range(100_000):  # risk-neutral Q*, for reference
            new = mean + self.discount * torch.einsum("nsat,nt->nsa", P, q.max(-1).values)
            if (new - q).abs().max() <= 1e-12 * max(1.0, new.abs().max().item()):
                break
            q = new
        self.q_neutral = new.to(device=self.device, dtype=self.dtype)
        d = dict(device=self.device, dtype=self.dtype)
        self.cumulative_d = P.cumsum(-1).to(**d)
        self.P_d, self.mean_d, self.std_d = P.to(**d), mean.to(**d), std.to(**d)

    def sample(self):
        """One draw for every (s, a) of every seed: rewards and next states [seeds, S, A]."""
        shape = self.mean_d.shape
        noise = torch.randn(shape, generator=self._gen, device=self.device, dtype=torch.float64).to(
            self.dtype
        )
        u = torch.rand(
            shape + (1,), generator=self._gen, device=self.device, dtype=torch.float64
        ).to(self.dtype)
        nxt = (self.cumulative_d < u).sum(-1).clamp_max_(self.states - 1)
        return self.mean_d + self.std_d * noise, nxt
