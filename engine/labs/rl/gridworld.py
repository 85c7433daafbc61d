"""A slippery gridworld with puddles, drawn per seed, and its exact action values.

States are the cells of an n × n grid, numbered row by row; the goal is the last cell
and ends the episode. Actions 0..3 move up, right, down, left; with probability `slip`
the move goes in a uniformly random direction instead (a move into a wall stays put).
Entering a cell pays its reward: `goal_reward` for the goal, −`puddle_cost` for a
puddle, 0 otherwise. Each non-goal cell is a puddle with probability `puddles`, drawn
per seed from the problem stream. Episodes start in a uniformly random non-goal cell
and are cut after `max_episode_steps` (a time limit, not a terminal state: the truth is
the infinite-horizon discounted value and learners keep bootstrapping at a cut).
"""

from __future__ import annotations

import torch

from engine.labs.bandits.base import sample_categorical
from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left as (row, column)


def grid_transitions(size: int, slip: float) -> torch.Tensor:
    """P[s, a, s'] of the slippery grid (float64); the goal row is left as it is here and
    treated as terminal by `action_values`."""
    cells = size * size
    moved = torch.zeros((cells, 4), dtype=torch.long)
    for s in range(cells):
        row, col = divmod(s, size)
        for a, (dr, dc) in enumerate(MOVES):
            r, c = row + dr, col + dc
            moved[s, a] = r * size + c if 0 <= r < size and 0 <= c < size else s
    P = torch.zeros((cells, 4, cells), dtype=torch.float64)
    for s in range(cells):
        for a in range(4):
            P[s, a, moved[s, a]] += 1.0 - slip
            for b in range(4):
                P[s, a, moved[s, b]] += slip / 4
    return P


def action_values(
    P: torch.Tensor, R: torch.Tensor, terminal: torch.Tensor, policy: torch.Tensor, discount: float
) -> torch.Tensor:
    """Q^π by one linear solve per seed: Q = R + γ P_live (π · Q), where P_live zeroes the
    arrivals in terminal states (their value is 0). P [S, A, S] shared, R [seeds, S, A]
    expected rewards, terminal [S] bool, policy [seeds, S, A]. Returns [seeds, S, A]."""
    seeds, S, A = R.shape
    live = P * (~terminal).to(P.dtype)  # arrivals in a terminal state bootstrap nothing
    # (I − γ M) q = r with M[(s,a), (s',a')] = P_live(s'|s,a) π(a'|s')
    M = torch.einsum("sat,ntb->nsatb", live, policy).reshape(seeds, S * A, S * A)
    eye = torch.eye(S * A, dtype=P.dtype)
    q = torch.linalg.solve(eye - discount * M, R.reshape(seeds, S * A, 1))
    return q.reshape(seeds, S, A)


def epsilon_greedy(q: torch.Tensor, epsilon: float) -> torch.Tensor:
    """(1 − ε) on the greedy action (ties split evenly) + ε uniform, over the last axis."""
    best = (q == q.max(-1, keepdim=True).values).to(q.dtype)
    best = best / best.sum(-1, keepdim=True)
    return (1.0 - epsilon) * best + epsilon / q.shape[-1]


def control_values(
    P: torch.Tensor,
    R: torch.Tensor,
    terminal: torch.Tensor,
    epsilon: float,
    discount: float,
    tol: float = 1e-13,
) -> torch.Tensor:
    """The fixed point of Q = R + γ P_live [(1 − ε) max_a Q + ε mean_a Q], by value
    iteration to a sup-norm change below `tol` (a γ-contraction); ε = 0 gives Q*."""
    live = P * (~terminal).to(P.dtype)
    q = torch.zeros_like(R)
    for _ in range(100_000):
        v = (1.0 - epsilon) * q.max(-1).values + epsilon * q.mean(-1)
        new = R + discount * torch.einsum("sat,nt->nsa", live, v)
        if (new - q).abs().max() < tol:
            return new
        q = new
    raise RuntimeError("value iteration did not converge")


class Gridworld(Problem):
    """A slippery n × n gridworld with puddles drawn per seed; exact Q^π and Q* by DP.

    Off-policy data: the behaviour policy μ is uniform over the four moves. The target
    policy π is ε-greedy (ε = `target_epsilon`) with respect to Q* of the seed's grid
    (`target = "fixed"`, truth Q^π by a linear solve), or with respect to the learner's
    current Q (`target = "greedy"`, truth the fixed point of the ε-greedy control
    operator by value iteration; Q* at ε = 0).
    """

    id = "rl.gridworld"
    family = "rl"
    title = "Slippery gridworld with puddles: off-policy data, exact Q by dynamic programming"
    summary = (
        "n × n grid, slip, puddles per seed; uniform behaviour, ε-greedy target; Q^π / Q* by DP."
    )
    params = (
        Param("size", "int", 4, "Grid side n (n² states).", low=2, high=12),
        Param(
            "slip",
            "float",
            0.1,
            "Probability that a move goes in a uniformly random direction.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "puddles",
            "float",
            0.2,
            "Probability that a non-goal cell is a puddle.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "puddle_cost", "float", 1.0, "Reward −c for entering a puddle.", low=0.0, high=1000.0
        ),
        Param(
            "goal_reward",
            "float",
            1.0,
            "Reward for entering the goal (the last cell).",
            low=-1000.0,
            high=1000.0,
        ),
        Param("discount", "float", 0.9, "Discount factor γ.", low=0.0, high=1.0, high_open=True),
        Param(
            "target",
            "choice",
            "fixed",
            "fixed: π ε-greedy on Q* (evaluation, truth Q^π); greedy: ε-greedy on the learner's Q "
            "(control, truth the ε-greedy fixed point).",
            choices=("fixed", "greedy"),
        ),
        Param(
            "target_epsilon", "float", 0.1, "ε of the ε-greedy target policy.", low=0.0, high=1.0
        ),
        Param(
            "max_episode_steps",
            "int",
            40,
            "Time limit of an episode (traces are cut there).",
            low=1,
            high=10_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n = params["size"]
        self.size, self.states, self.actions = n, n * n, 4
        self.discount = params["discount"]
        self.target_epsilon = params["target_epsilon"]
        self.greedy_target = params["target"] == "greedy"
        self.max_episode_steps = params["max_episode_steps"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        f64 = torch.float64
        self.goal = self.states - 1
        self.terminal = torch.zeros(self.states, dtype=torch.bool)
        self.terminal[self.goal] = True
        P = grid_transitions(n, params["slip"])
        u = torch.rand((seeds, self.states), generator=self._gen, device=device, dtype=f64).cpu()
        cell_reward = torch.where(u < params["puddles"], -params["puddle_cost"], 0.0).to(f64)
        cell_reward[:, self.goal] = params["goal_reward"]
        R = torch.einsum("sat,nt->nsa", P, cell_reward)
        q_star = control_values(P, R, self.terminal, 0.0, self.discount)
        if self.greedy_target:
            truth = control_values(P, R, self.terminal, self.target_epsilon, self.discount)
            self.target_policy = None
        else:
            policy = epsilon_greedy(q_star, self.target_epsilon)
            truth = action_values(P, R, self.terminal, policy, self.discount)
            self.target_policy = policy.to(device=device, dtype=dtype)
        self.q_star = q_star.to(device=device, dtype=dtype)
        self.q_true = truth.to(device=device, dtype=dtype)
        self.cumulative_transitions = P.cumsum(-1).to(device=device, dtype=dtype)
        self.cell_reward = cell_reward.to(device=device, dtype=dtype)
        self.live = (~self.terminal).to(device)
        self.behaviour = torch.full((seeds, 4), 0.25, dtype=dtype, device=device)
        self.rows = torch.arange(seeds, device=device)

    def reset(self, count: int) -> torch.Tensor:
        """Start states for `count` episodes: uniform over the non-goal cells."""
        u = torch.rand(count, generator=self._gen, device=self.device, dtype=torch.float64)
        return (u * (self.states - 1)).long().clamp_max_(self.states - 2)

    def behaviour_action(self) -> torch.Tensor:
        return sample_categorical(self.behaviour, self._gen)

    def step(self, state: torch.Tensor, action: torch.Tensor):
        """One move per seed: (next state, reward, terminal) from state, action [seeds]."""
        cdf = self.cumulative_transitions[state, action]
        u = torch.rand((self.seeds, 1), generator=self._gen, device=self.device, dtype=self.dtype)
        nxt = (cdf < u).sum(-1).clamp_max_(self.states - 1)
        reward = self.cell_reward[self.rows, nxt]
        return nxt, reward, nxt == self.goal

    def target_probs(self, q: torch.Tensor) -> torch.Tensor:
        """π(·|s) for every state: [seeds, S, A]."""
        if self.greedy_target:
            return epsilon_greedy(q, self.target_epsilon)
        return self.target_policy

    def q_error(self, q: torch.Tensor) -> torch.Tensor:
        """Root mean squared error to the true Q over the non-terminal state-actions, [seeds]."""
        diff = (q - self.q_true)[:, self.live]
        return diff.pow(2).mean((1, 2)).sqrt()
