"""Preference-driven multi-objective Q-learning on Deep Sea Treasure (PD-MORL, tabular)."""

from __future__ import annotations

import torch

from engine.labs.pareto.recording import FRONT_METRICS, FrontRecorder, thinned_checkpoints
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

# Clipping of the cosine term, as in the authors' code: an action whose Q-vector points away
# from the projected preference scores 0, never a negative multiple of its scalarised value.
COSINE_CLIP = (0.0, 0.9999)
# Greedy rollouts cost up to a horizon of steps each, so the front is evaluated at about
# this many of the runner's checkpoints rather than all of them.
EVALUATIONS = 100


class PreferenceDrivenQLearning(Algorithm):
    """PD-MORL: Preference-Driven Multi-Objective Reinforcement Learning Algorithm, in its
    tabular form on Deep Sea Treasure: the exact reference beside the paper's network
    (`pareto.pd_morl_network`), with which it shares the score, the projected preferences
    and the greedy roll-outs.

    One Q-table of reward *vectors* per preference stands for the paper's single universal
    network Q(s, a, w) evaluated at a grid of P preferences w = (w_treasure, w_time),
    w_treasure = (p + 1/2) / P (midpoints, so no preference ignores an objective). Rewards
    are r = (treasure on arrival, -1 per step). Every step, each of the P x seeds
    environments (one per preference, as the paper's parallel workers each cover a part of
    the preference space) acts epsilon-greedily on score_w(Q_w(s, .)), and every transition
    (s, a, r, s') is replayed for all P preferences of its seed (the paper's hindsight
    relabelling of preferences):

        a*  = argmax_a' score_w(Q_w(s', a'))
        Q_w(s, a) <- Q_w(s, a) + lr [ r + gamma Q_w(s', a*) - Q_w(s, a) ]    (a vector update)

    Two scores:

    - ``linear``: score_w(q) = w^T q. This is Q-learning on the weighted sum w^T r, whose
      optimal policy maximises w_treasure v - w_time t over the achievable returns, so it
      can only reach supported points of the front, the vertices of its convex hull. On
      the concave map that is 2 of the 10 Pareto points, (1, 1) and (124, 19), whatever
      the preferences. On the convex map of Yang et al. (2019) every point lies on the hull,
      but (20.3, 14) lies on an edge and is the unique optimum of no weighting, so at most 9
      of the 10 are reached: the midpoint grid with P = 10 reaches 5, (0.7, 1), (8.2, 3),
      (14, 7), (19.6, 13) and (23.7, 19), and P = 60 all nine vertices. This is the default.
    - ``preference_driven``, the paper's target: clip(cos(w_p, q + (0, 19)), 0, 0.9999) w^T q,
      where w_p, the projected preference, is the direction in objective space of the
      solutions at the key preferences (0, 1), (1/2, 1/2), (1, 0), interpolated between
      them. As in the authors' Deep Sea Treasure script the key solutions are read from the
      known front (as discounted returns, gamma^(t-1) v and -(1 + ... + gamma^(t-1))) and the
      time objective is shifted by 19 so both coordinates are non-negative; their RBF interpolator with a linear kernel is, on the segment of
      two-objective preferences, exactly the piecewise-linear interpolant through the keys.
      Behaviour and evaluation use the same score, so the rollouts follow the policy whose
      returns the table holds (the authors act on w^T Q). The product of a cosine and a
      scalarised return is not additive along a trajectory, so with exact tabular updates
      this target has no consistent fixed point: at large treasure weights the greedy
      policy can prefer a move into a wall, whose Q-vector points closer to w_p, and stall.


    Departures from the paper: tables instead of a network (no generalisation across
    preferences, so the grid is the whole preference space); synchronous updates from the
    current transitions of all environments instead of a replay buffer and target network;
    learning rate ``lr`` on the table instead of Adam on a smooth-L1 loss; epsilon decays
    linearly from 1 to ``epsilon_end`` over the first ``exploration`` share of the steps;
    every untried action starts at the optimistic vector (largest treasure, no time),
    which makes exploration systematic instead of relying on long random walks; the tables
    are float64 whatever the run's dtype, so exact ties between returns stay ties.

    Recorded at about 100 of the checkpoints (a rollout costs up to a horizon of steps):
    the (treasure, time) of each preference's greedy policy rolled out from the start; a
    policy that reaches no treasure within the horizon scores (0, horizon). Metrics per
    seed: ``hypervolume``, ``hypervolume_ratio`` (to the exact front's) and
    ``front_points_found``, how many distinct Pareto points the seed's preferences reach (a return
    matches a point within a few rounding errors of the run's dtype).
    """

    id = "pareto.pd_morl"
    family = "pareto"
    paper = "PD-MORL: Preference-Driven Multi-Objective Reinforcement Learning Algorithm"
    summary = "Tabular preference-driven multi-objective Q-learning with preference relabelling, on Deep Sea Treasure."
    params = (
        Param(
            "preferences",
            "int",
            10,
            "Number P of preferences, w_treasure = (p + 1/2) / P.",
            low=1,
            high=200,
        ),
        Param(
            "action_score",
            "choice",
            "linear",
            "How actions are scored: linear (w^T Q, scalarised Q-learning) or preference_driven (the paper's "
            "target: cosine to the projected preference times w^T Q).",
            choices=("linear", "preference_driven"),
        ),
        Param(
            "lr",
            "float",
            1.0,
            "Step size of the tabular update (1 is exact for these deterministic moves).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "discount",
            "float",
            1.0,
            "Discount gamma of both objectives.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param("epsilon_end", "float", 0.1, "Exploration rate after the decay.", low=0.0, high=1.0),
        Param(
            "exploration",
            "float",
            0.5,
            "Share of the steps over which epsilon falls linearly from 1.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )
    problems = ("pareto.deep_sea_treasure",)
    plot = "pareto"
    metrics = (*FRONT_METRICS, "front_points_found")

    def run(self, steps, rec):
        prob = self.problem
        seeds, count = self.seeds, self.p["preferences"]
        states, actions = prob.states, prob.actions
        f64 = dict(device=self.device, dtype=torch.float64)
        treasure_weight = (torch.arange(count, **f64) + 0.5) / count
        weights = torch.stack([treasure_weight, 1 - treasure_weight], dim=1)  # [P, 2]
        labels = [
            {"weight_treasure": (p + 0.5) / count, "weight_time": (count - p - 0.5) / count}
            for p in range(count)
        ]
        projected = (
            self.projected_preferences(treasure_weight)
            if self.p["action_score"] != "linear"
            else None
        )
        shift = torch.tensor([0.0, time_shift(prob)], **f64)

        # Optimistic start: every untried action promises the largest treasure at no time cost.
        q = torch.zeros((seeds, count, states, actions, 2), **f64)
        q[..., 0] = float(prob.exact_front()[:, 0].max())
        rows = q.view(-1, actions, 2)  # row (s, p, state)
        entries = q.view(-1, 2)  # row (s, p, state, a)
        reward_table = torch.stack([prob.treasure.double(), -torch.ones(states, **f64)], dim=1)
        continuation = self.p["discount"] * (~prob.terminal).double()
        own_rows = (
            torch.arange(seeds, device=self.device)[:, None] * count
            + torch.arange(count, device=self.device)[None, :]
        ) * states  # [S, P]
        relabel_rows = own_rows[:, None, :]  # [S, 1, Pj]
        pair_weights = weights[None, None, :, None, :]
        pair_projected = None if projected is None else projected[None, None, :, None, :]
        state = torch.full((seeds, count), prob.start_state, device=self.device, dtype=torch.long)
        elapsed = torch.zeros((seeds, count), device=self.device, dtype=torch.long)
        g = generator(self.device, self.seed, ALGORITHM_STREAM)

        front = FrontRecorder(rec, prob, labels)
        decay_steps = max(1.0, self.p["exploration"] * steps)
        evaluation_steps = thinned_checkpoints(rec.checkpoints, EVALUATIONS)

        for t in range(1, steps + 1):
            epsilon = max(
                self.p["epsilon_end"], 1.0 - (1.0 - self.p["epsilon_end"]) * (t - 1) / decay_steps
            )
            greedy = self.own_score(rows[own_rows + state], weights, projected, shift).argmax(
                dim=-1
            )
            explore = torch.rand((seeds, count), generator=g, **f64) < epsilon
            random = torch.randint(actions, (seeds, count), generator=g, device=self.device)
            action = torch.where(explore, random, greedy)
            nxt = prob.successor[state, action]

            # Relabel: transition i of seed s updates Q_j for every preference j of that seed.
            ahead = rows[relabel_rows + nxt[:, :, None]]  # [S, Pi, Pj, A, 2]
            chosen = self.score(ahead, pair_weights, pair_projected, shift).argmax(
                dim=-1
            )  # [S, Pi, Pj]
            bootstrap = ahead.gather(3, chosen[..., None, None].expand(-1, -1, -1, 1, 2)).squeeze(3)
            target = (
                reward_table[nxt][:, :, None, :] + continuation[nxt][:, :, None, None] * bootstrap
            )
            # Moves are deterministic, so environments of a seed at the same (s, a) in one step
            # write identical values and plain assignment needs no averaging.
            flat = ((relabel_rows + state[:, :, None]) * actions + action[:, :, None]).reshape(-1)
            current = entries[flat]
            entries[flat] = current + self.p["lr"] * (target.reshape(-1, 2) - current)

            elapsed += 1
            restart = prob.terminal[nxt] | (elapsed >= prob.horizon)
            state = torch.where(restart, prob.start_state, nxt)
            elapsed = torch.where(restart, 0, elapsed)

            if t in evaluation_steps:
                points = self.greedy_returns(q, weights, projected, shift)  # [S, P, 2]
                found = front_points_found(prob, points)
                front.record(t, points.cpu().numpy(), {"front_points_found": found})
            rec.progress(t)

    def projected_preferences(self, treasure_weight: torch.Tensor) -> torch.Tensor:
        """w_p at the treasure weights given; [P, 2] (see `projected_preferences`)."""
        return projected_preferences(self.problem, treasure_weight, self.p["discount"])

    @staticmethod
    def score(q, weights, projected, shift):
        """score_w of Q-vectors (see `action_score`)."""
        return action_score(q, weights, projected, shift)

    def own_score(self, q: torch.Tensor, weights, projected, shift) -> torch.Tensor:
        """score_w of Q-vectors [S, P, ..., A, 2] under each environment's own preference."""
        extra = q.dim() - 4
        shape = (1, q.shape[1]) + (1,) * (extra + 1) + (2,)
        return action_score(
            q, weights.view(shape), None if projected is None else projected.view(shape), shift
        )

    def greedy_returns(self, q: torch.Tensor, weights, projected, shift) -> torch.Tensor:
        """(treasure, time) of each preference's greedy policy from the start; [S, P, 2]."""
        policy = self.own_score(q, weights, projected, shift).argmax(dim=-1)  # [S, P, states]
        return greedy_returns(self.problem, policy)


def discounted_front(problem, discount: float) -> torch.Tensor:
    """The exact front as discounted returns (treasure gamma^(t-1) v, time -(1 + ... + gamma^(t-1)));
    [points, 2] float64. At gamma = 1, (v, -t)."""
    front = torch.tensor(problem.exact_front(), dtype=torch.float64)
    time = front[:, 1]
    powers = discount ** torch.arange(int(time.max()), dtype=torch.float64)
    elapsed = torch.cumsum(powers, 0)[time.long() - 1]
    return torch.stack([discount ** (time - 1) * front[:, 0], -elapsed], dim=1)


def time_shift(problem) -> float:
    """The time the farthest front point takes (19 on Deep Sea Treasure): added to the time
    objective so both coordinates of a Q-vector are non-negative before a cosine is taken."""
    return float(problem.exact_front()[:, 1].max())


def key_directions(problem, discount: float = 1.0) -> torch.Tensor:
    """The unit directions, in (treasure, -time + 19), of the solutions of the key preferences
    (0, 1), (1/2, 1/2) and (1, 0): each one's solution is the front point that maximises its
    weighted sum of discounted returns (the first on ties); [3, 2] float64."""
    returns = discounted_front(problem, discount)
    shifted = returns + torch.tensor([0.0, time_shift(problem)], dtype=torch.float64)
    keys = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    key_weights = torch.stack([keys, 1 - keys], dim=1)
    best = (returns @ key_weights.T).argmax(dim=0)  # first index on ties
    return shifted[best] / shifted[best].norm(dim=1, keepdim=True)


def interpolate_directions(directions: torch.Tensor, treasure_weight: torch.Tensor):
    """w_p at the treasure weights given [...]: the key `directions` [3, 2] interpolated
    piecewise-linearly in w_treasure between the keys 0, 1/2, 1; [..., 2], on the device and
    in the dtype of `treasure_weight`."""
    directions = directions.to(treasure_weight)
    upper = (treasure_weight >= 0.5).long()
    share = (treasure_weight - 0.5 * upper) / 0.5
    return directions[upper] + share[..., None] * (directions[upper + 1] - directions[upper])


def projected_preferences(problem, treasure_weight: torch.Tensor, discount: float = 1.0):
    """w_p: the key preferences' solution directions (`key_directions`) interpolated
    piecewise-linearly in w_treasure; [..., 2] in (treasure, -time + 19)."""
    return interpolate_directions(key_directions(problem, discount), treasure_weight)


def action_score(
    q: torch.Tensor, weights: torch.Tensor, projected: torch.Tensor | None, shift: torch.Tensor
) -> torch.Tensor:
    """score_w(q) of Q-vectors q [..., 2] under preferences `weights` broadcast against them:
    w^T q when `projected` is None, else the paper's preference-driven score
    clip(cos(w_p, q + shift), 0, 0.9999) w^T q; [...]."""
    linear = (q * weights).sum(dim=-1)
    if projected is None:
        return linear
    cosine = torch.nn.functional.cosine_similarity(q + shift, projected, dim=-1)
    return cosine.clamp(*COSINE_CLIP) * linear


def greedy_returns(problem, policy: torch.Tensor) -> torch.Tensor:
    """(treasure, time) of greedy policies [S, P, states] (an action per state) rolled out from
    the start; (0, horizon) if it reaches no treasure; [S, P, 2] float64.

    The greedy policy is a map f: state -> next state (treasure cells absorbing); jumps
    f^(2^k) by repeated squaring find the first arrival in O(log horizon) steps.
    """
    prob = problem
    device = policy.device
    jump = torch.where(
        prob.terminal,
        torch.arange(prob.states, device=device),
        prob.successor[torch.arange(prob.states, device=device), policy],
    )
    jumps = [jump]
    while 2 ** len(jumps) <= prob.horizon:
        jumps.append(jumps[-1].gather(2, jumps[-1]))
    state = torch.full(policy.shape[:2], prob.start_state, device=device, dtype=torch.long)
    elapsed = torch.zeros(policy.shape[:2], device=device, dtype=torch.long)
    for level in reversed(range(len(jumps))):
        ahead = jumps[level].gather(2, state[..., None]).squeeze(-1)
        move = ~prob.terminal[ahead] & (elapsed + 2**level < prob.horizon)
        state = torch.where(move, ahead, state)
        elapsed = torch.where(move, elapsed + 2**level, elapsed)
    final = jump.gather(2, state[..., None]).squeeze(-1)
    arrived = prob.terminal[final]
    treasure = torch.where(arrived, prob.treasure[final].double(), 0.0)
    time = torch.where(arrived, elapsed + 1, prob.horizon).double()
    return torch.stack([treasure, time], dim=-1)


def front_points_found(problem, points: torch.Tensor) -> torch.Tensor:
    """How many distinct points of the exact front the returns `points` [S, P, 2] reach, per
    seed; [S].

    Rollouts pay the treasures in the run's dtype (0.7 is 0.69999999 in float32) and the
    front table is float64: a point counts as found within a few rounding errors of the
    run's dtype, far below the gaps between treasures."""
    exact = torch.tensor(problem.exact_front(), device=points.device, dtype=torch.float64)
    match_rtol = 4 * torch.finfo(problem.treasure.dtype).eps
    on_front = torch.isclose(points[:, :, None, :], exact[None, None], rtol=match_rtol, atol=0.0)
    return on_front.all(dim=-1).any(dim=1).sum(dim=1)
