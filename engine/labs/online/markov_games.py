"""Small two-player general-sum episodic Markov games, the values of product policies by
backward induction, and the swap deviations that define correlated equilibria in them."""

from __future__ import annotations

import itertools

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# Per-state swap maps are enumerated to make the swap regret exact (the best map over a
# mixture of policies does not decompose state by state, see `swap_deviation_values`);
# this caps the number of maps a player can choose from.
MAX_SWAP_MAPS = 4096


def swap_maps(actions: int) -> torch.Tensor:
    """Every map phi: {0..N-1} -> {0..N-1} as rows of an [N^N, N] table (phi(a) in column a)."""
    return torch.tensor(list(itertools.product(range(actions), repeat=actions)), dtype=torch.long)


def swap_map_count(actions: int, states: int, horizon: int) -> int:
    """Number of per-state swap maps of one player: (N^N)^(1 + S (H - 1)) (the start state 0
    at step 0, every state after)."""
    return (actions**actions) ** (1 + states * (horizon - 1))


def product_values(reward_row, reward_column, transition, p_row, p_column):
    """Backward induction for the product policy (p_row, p_column):

        Q_i,h(x, a, b) = r_i,h(x, a, b) + sum_x' P_h(x' | x, a, b) V_i,h+1(x'),  V_i,H = 0
        V_i,h(x) = sum_{a,b} p_row,h(a|x) p_column,h(b|x) Q_i,h(x, a, b)

    Shapes: rewards [B, H, S, N, N], transition [B, H, S, N, N, S], policies [B, H, S, N].
    Returns (Q_row [B, H, S, N] = E_b Q_row,h(x, a, b), Q_column [B, H, S, N] = E_a Q_column,h,
    V_row [B], V_column [B]) with V at the start state 0 of step 0.
    """
    batch, horizon, states = reward_row.shape[:3]
    v_row = reward_row.new_zeros((batch, states))
    v_column = reward_row.new_zeros((batch, states))
    q_rows, q_columns = [], []
    for h in reversed(range(horizon)):
        joint_row = reward_row[:, h] + torch.einsum("bxacy,by->bxac", transition[:, h], v_row)
        joint_column = reward_column[:, h] + torch.einsum(
            "bxacy,by->bxac", transition[:, h], v_column
        )
        # Row's Q averages over the column player's action b, and the other way round.
        q_row = (joint_row @ p_column[:, h].unsqueeze(-1)).squeeze(-1)
        q_column = (p_row[:, h].unsqueeze(-2) @ joint_column).squeeze(-2)
        v_row = (p_row[:, h] * q_row).sum(-1)
        v_column = (p_column[:, h] * q_column).sum(-1)
        q_rows.append(q_row)
        q_columns.append(q_column)
    q_row = torch.stack(q_rows[::-1], dim=1)
    q_column = torch.stack(q_columns[::-1], dim=1)
    return q_row, q_column, v_row[:, 0], v_column[:, 0]


def swap_deviation_values(reward, transition, p_self, p_other):
    """The value at the start state of every per-state swap deviation of one player:

        V^phi_h(x) = sum_a p_self,h(a|x) sum_b p_other,h(b|x)
                     [ r_h(x, phi_h,x(a), b) + sum_x' P_h(x' | x, phi_h,x(a), b) V^phi_h+1(x') ],

    i.e. the player is told a ~ p_self and plays phi(a) while the other plays on. ``reward``
    [B, H, S, N_self, N_other] and ``transition`` [B, H, S, N_self, N_other, S] have the
    deviating player's action first. Returns [B, Phi] over all (N^N)^(1 + S(H-1)) maps,
    indexed by the maps' digits (step 0 least significant... step H-1 most; within a step,
    state 0 most significant), each digit an index into `swap_maps`.

    For a mixture of profiles sum_k w_k V^phi(pi_k) the best phi depends on all states at
    once (the reach of a later state depends on phi at earlier ones, differently for each
    profile), so the maximum is taken over this enumeration, not state by state. V^phi_h
    depends only on phi's maps at steps >= h, so step h is computed once per such suffix.
    """
    batch, horizon, states, n = reward.shape[:4]
    maps = swap_maps(n).to(reward.device)
    k = maps.shape[0]
    value = reward.new_zeros((batch, 1, states))  # [B, suffixes, S]
    for h in reversed(range(horizon)):
        live = states if h > 0 else 1  # step 0 starts in state 0
        future = torch.einsum("bxacy,bfy->bfxac", transition[:, h, :live], value)
        joint = reward[:, h, :live].unsqueeze(1) + future  # [B, F, live, N_self, N_other]
        q_dev = (joint * p_other[:, h, None, :live, None, :]).sum(-1)  # [B, F, live, N_self]
        # w[.., x, m] = sum_a p(a|x) Q_dev(x, map_m(a)): every swap map at every state.
        played = q_dev[..., maps]  # [B, F, live, K, N]
        w = (played * p_self[:, h, None, :live, None, :]).sum(-1)  # [B, F, live, K]
        suffixes = value.shape[1]
        # New index: suffix * K^live + (m_0, ..., m_live-1); state x takes its own map m_x.
        per_state = []
        for x in range(live):
            shape = [batch, suffixes] + [1] * live
            shape[2 + x] = k
            per_state.append(w[:, :, x, :].reshape(shape).expand(batch, suffixes, *[k] * live))
        value = torch.stack(per_state, dim=-1).reshape(batch, suffixes * k**live, live)
    return value[:, :, 0]


def column_view(reward_column, transition):
    """The column player's reward and transition with its own action first."""
    return reward_column.transpose(-1, -2), transition.transpose(-2, -3)


def correlated_gap(game, p_rows, p_columns, weights):
    """The correlated-equilibrium gap of the correlated policy that draws profile k with
    probability w_k at the start of an episode and has both players follow the product
    policy (p_row,k, p_column,k) for the whole episode:

        gap = max_i max_phi sum_k w_k ( V_i(phi o pi_i,k, pi_-i,k) - V_i(pi_k) )  >= 0,

    the best per-state swap deviation ("when told a at state x of step h, play phi_h,x(a)")
    of either player. It is 0 exactly at a correlated equilibrium (against per-state swaps).
    ``game`` = (reward_row, reward_column, transition) of one game ([H, S, N, N] ...),
    ``p_rows``, ``p_columns`` [K, H, S, N], ``weights`` [K] summing to 1.
    In a one-state game (H = S = 1) with pure profiles it is
    max_i sum_j max_k (gain of "told j, play k")^+ under D[r, c] = sum of w over (r, c).
    """
    reward_row, reward_column, transition = game
    k = p_rows.shape[0]
    batch = (x.expand(k, *x.shape) for x in (reward_row, reward_column, transition))
    rr, rc, tr = batch
    _, _, v_row, v_column = product_values(rr, rc, tr, p_rows, p_columns)
    dev_row = swap_deviation_values(rr, tr, p_rows, p_columns)
    rc_self, tr_column = column_view(rc, tr)
    dev_column = swap_deviation_values(rc_self, tr_column, p_columns, p_rows)
    gain_row = (weights[:, None] * (dev_row - v_row[:, None])).sum(0).amax()
    gain_column = (weights[:, None] * (dev_column - v_column[:, None])).sum(0).amax()
    return torch.maximum(gain_row, gain_column).clamp_min(0.0)


class MarkovGame(Problem):
    """A two-player general-sum episodic Markov game with H steps, S states per step and
    N actions per player: at step h in state x the players play (a, b), the row player earns
    r_row,h(x, a, b), the column player r_column,h(x, a, b) (both in [0, 1]), and the next
    state is drawn from P_h(. | x, a, b). Every episode starts in state 0.

    Each seed draws its own game from the problem's stream: rewards independent and uniform
    on [0, 1]; each P_h(. | x, a, b) uniform on the simplex (normalised exponentials, i.e.
    Dirichlet(1)). With ``states = 1`` and ``horizon = 1`` it is a random N x N matrix game.
    """

    id = "bandits.markov_game"
    family = "bandits"
    title = "General-sum episodic Markov game"
    summary = "Two-player general-sum episodic Markov games drawn from the seed (S states, H steps, N actions)."
    params = (
        Param("actions", "int", 2, "Actions per player N.", low=2, high=4),
        Param(
            "states",
            "int",
            2,
            "States per step S (step 0 always starts in state 0).",
            low=1,
            high=4,
        ),
        Param("horizon", "int", 3, "Steps per episode H.", low=1, high=8),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n, s, h = params["actions"], params["states"], params["horizon"]
        count = swap_map_count(n, s, h)
        if count > MAX_SWAP_MAPS:
            raise ParamError(
                "problem.horizon",
                f"a player has (N^N)^(1 + S (H - 1)) = {count} per-state swap maps; the exact "
                f"swap regret enumerates them and allows at most {MAX_SWAP_MAPS} "
                "(fewer actions, states or steps)",
            )
        self.actions, self.states, self.horizon = n, s, h
        gen = generator(device, seed, PROBLEM_STREAM)
        shape = (seeds, h, s, n, n)
        self.reward_row = torch.rand(shape, generator=gen, device=device, dtype=dtype)
        self.reward_column = torch.rand(shape, generator=gen, device=device, dtype=dtype)
        drawn = torch.rand((*shape, s), generator=gen, device=device, dtype=dtype)
        # -log U is Exp(1); normalised exponentials are uniform on the simplex.
        weights = -torch.log(drawn.clamp_min(torch.finfo(dtype).tiny))
        self.transition = weights / weights.sum(-1, keepdim=True)
