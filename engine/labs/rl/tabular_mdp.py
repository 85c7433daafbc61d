"""A random tabular MDP whose rewards come on very different scales, and its exact Q*.

Per seed (problem stream): every P(·|s, a) is Dirichlet(1) over the S
states (one next state per (s, a) drawn uniformly when `deterministic`), and every
(s, a) pays a small reward u · `small_scale` (u uniform in [−1, 1]) and, with
probability `large_probability` at each visit, a large one ± `large_scale` (the sign
drawn per (s, a)). With `deterministic` the large reward is paid at every visit. The
task is continuing and discounted; the start state is uniform, and after each step the
agent continues from a uniformly drawn state with probability `restart` (exploring
restarts: the transition it learns from is the true one, so Q* is unchanged, but no
state is left unvisited by a closed cycle of the deterministic variant).
"""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


class RewardScalesMDP(Problem):
    """Random S × A MDP with small dense rewards and rare large ones; Q* by value iteration.

    `expected_reward` [seeds, S, A] is E r(s, a) = small + q · large; Q* is the fixed point
    of Q = R + γ P max_a Q (value iteration to 1e-13), and `policy_return(policy)` the exact
    expected discounted return of a policy from the uniform start, by a linear solve.
    """

    id = "rl.reward_scales"
    family = "rl"
    title = "Random tabular MDP with rewards on very different scales: exact Q* by value iteration"
    summary = "S states, A actions, Dirichlet transitions; small dense rewards plus rare large ones; Q* by DP."
    params = (
        Param("states", "int", 6, "Number of states S.", low=2, high=200),
        Param("actions", "int", 3, "Number of actions A.", low=2, high=20),
        Param("discount", "float", 0.9, "Discount factor γ.", low=0.0, high=1.0, high_open=True),
        Param(
            "small_scale",
            "float",
            0.1,
            "Scale of the small dense rewards (uniform in ±scale).",
            low=0.0,
            high=1e6,
        ),
        Param("large_scale", "float", 100.0, "Size of the rare large rewards.", low=0.0, high=1e6),
        Param(
            "large_probability",
            "float",
            0.05,
            "Chance that a visit pays the large reward.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "deterministic",
            "bool",
            False,
            "One next state per (s, a), and the large reward paid at every visit: Q-learning-style "
            "updates with any constant step converge to Q* exactly.",
        ),
        Param(
            "restart",
            "float",
            0.1,
            "Chance of continuing from a uniform state after a step.",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        S, A = params["states"], params["actions"]
        self.states, self.actions, self.discount = S, A, params["discount"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        f64 = torch.float64

        def uniform(*shape):
            return torch.rand(shape, generator=self._gen, device=device, dtype=f64).cpu()

        if params["deterministic"]:
            nxt = (uniform(seeds, S, A) * S).long().clamp_max_(S - 1)
            P = torch.nn.functional.one_hot(nxt, S).to(f64)
            chance = 1.0
        else:
            exponentials = -uniform(seeds, S, A, S).clamp_min_(1e-300).log_()
            P = exponentials / exponentials.sum(-1, keepdim=True)  # Dirichlet(1)
            chance = params["large_probability"]
        self.small = (2 * uniform(seeds, S, A) - 1) * params["small_scale"]
        sign = torch.where(uniform(seeds, S, A) < 0.5, -1.0, 1.0).to(f64)
        self.large = sign * params["large_scale"]
        self.chance = chance
        self.P = P
        R = self.small + chance * self.large
        self.terminal = torch.zeros(S, dtype=torch.bool)
        q_star = control_values_batched(P, R, self.discount)
        self.expected_reward = R
        self.q_star_f64 = q_star
        self.q_star = q_star.to(device=device, dtype=dtype)
        self.optimal_return = self.policy_return(
            torch.nn.functional.one_hot(q_star.argmax(-1), A).to(f64)
        )
        self.cumulative = P.cumsum(-1).to(device=device, dtype=dtype)
        self.small_d = self.small.to(device=device, dtype=dtype)
        self.large_d = self.large.to(device=device, dtype=dtype)
        self.rows = torch.arange(seeds, device=device)

    def policy_return(self, policy: torch.Tensor) -> torch.Tensor:
        """Exact E[Σ_t γ^t r_t] from a uniform start state under policy [seeds, S, A], [seeds]."""
        S, A = self.states, self.actions
        M = torch.einsum("nsat,ntb->nsatb", self.P, policy.to(torch.float64)).reshape(
            -1, S * A, S * A
        )
        eye = torch.eye(S * A, dtype=torch.float64)
        q = torch.linalg.solve(eye - self.discount * M, self.expected_reward.reshape(-1, S * A, 1))
        v = (q.reshape(-1, S, A) * policy.to(torch.float64)).sum(-1)
        return v.mean(-1)

    def reset(self, count: int) -> torch.Tensor:
        u = torch.rand(count, generator=self._gen, device=self.device, dtype=torch.float64)
        return (u * self.states).long().clamp_max_(self.states - 1)

    def step(self, state: torch.Tensor, action: torch.Tensor):
        """(next state, small reward, large reward, state to continue from) per seed; the
        reward is small + large."""
        cdf = self.cumulative[self.rows, state, action]
        u = torch.rand(
            (self.seeds, 4), generator=self._gen, device=self.device, dtype=torch.float64
        )
        nxt = (cdf < u[:, :1].to(self.dtype)).sum(-1).clamp_max_(self.states - 1)
        paid = (u[:, 1] < self.chance).to(self.dtype)
        restart = (u[:, 3] * self.states).long().clamp_max_(self.states - 1)
        go_on = torch.where(u[:, 2] < self.p["restart"], restart, nxt)
        return (
            nxt,
            self.small_d[self.rows, state, action],
            paid * self.large_d[self.rows, state, action],
            go_on,
        )


def control_values_batched(
    P: torch.Tensor, R: torch.Tensor, discount: float, tol: float = 1e-12
) -> torch.Tensor:
    """Q* of per-seed transitions P [seeds, S, A, S] and rewards R [seeds, S, A]."""
    q = torch.zeros_like(R)
    for _ in range(1_000_000):
        new = R + discount * torch.einsum("nsat,nt->nsa", P, q.max(-1).values)
        if (new - q).abs().max() <= tol * max(1.0, new.abs().max().item()):
            return new
        q = new
    raise RuntimeError("value iteration did not converge")
