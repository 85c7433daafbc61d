from __future__ import annotations

import math

import torch

from engine.labs.online.blum_mansour import stationary_distribution
from engine.labs.online.markov_games import (
    column_view,
    product_values,
    swap_deviation_values,
    swap_map_count,
)
from engine.params import Param
from engine.registry import Algorithm


def swap_policy(moves: torch.Tensor, rate: float, exploration: float) -> torch.Tensor:
    """A Blum-Mansour learner's play from its move matrices M [..., N, N]: instance j proposes
    q_j = (1 - gamma) softmax(-eta M[j, :]) + gamma / N and the player plays p = p Q."""
    n = moves.shape[-1]
    proposals = (1.0 - exploration) * torch.softmax(-rate * moves, dim=-1) + exploration / n
    return stationary_distribution(proposals)


class SwapRegretPolicyOptimisation(Algorithm):
    """Both players of a general-sum episodic Markov game run policy optimisation by swap
    regret minimisation (paper: "Regret Minimization and Convergence to Equilibria in
    General-sum Markov Games", Erez, Lancewicki, Sherman, Koren & Mansour 2023, Algorithm 1).

    Every player keeps, at every step h and state x, its own Blum-Mansour swap-regret
    learner: N base instances with move matrix M_h,x [N, N]. In episode t:

        q_h,x,j = (1 - gamma) softmax(-eta M_h,x[j, :]) + gamma / N,   pi^t_h(. | x) = pi^t_h Q_h,x
        Q^t_h(x, a) = E_{b ~ pi^t_other,h(x)} [ r_h(x, a, b) + sum_x' P_h(x'|x, a, b) V^t_h+1(x') ]
        loss l^t_h,x(a) = (H - h) - Q^t_h(x, a),      M_h,x[j, :] += pi^t_h(j | x) l^t_h,x

    at every (h, x) (full-information feedback: each player is given its Q-function under
    the current joint policy, computed here by backward induction on the known game --
    the value backup). Both players update at once and never communicate. With one state
    and one step the update is `BlumMansourSelfPlay` with expected feedback, iterate for
    iterate (loss 1 - A p_column).

    Recorded each episode t (per seed), in the paper's terms:
    ``row_swap_regret`` and ``column_swap_regret`` = max_phi sum_{s<=t} V_i(phi o pi^s_i,
    pi^s_-i) - V_i(pi^s), phi ranging over the per-state swap maps phi_h,x: A -> A (the
    deviating player is told a ~ pi^s_h(x) and plays phi_h,x(a)); the maximum over phi is
    exact, by enumerating the (N^N)^(1 + S(H-1)) maps (`markov_games.swap_deviation_values`).
    ``cumulative_regret`` = the larger of the two. ``ce_gap`` = the correlated-equilibrium
    gap (`markov_games.correlated_gap`) of the empirical correlated policy, which draws one
    s <= t uniformly per episode and plays pi^s: the largest gain of a per-state swap
    deviation for either player, which is exactly max_i swap regret_i / t. Swap regret
    o(t) is convergence of the empirical play to the set of correlated equilibria.

    Departures and choices: the paper's base learner is online mirror descent with a
    regulariser R on the simplex mixed with gamma-uniform exploration, with eta and gamma
    tuned to T in its analysis; the exact tuned constants were not at hand, so R is the
    negative entropy (Hedge, as Blum & Mansour analyse it) and ``learning_rate`` = 0 takes
    eta = sqrt(8 N ln N / T) / H (the matrix-game rate for losses of range H), ``exploration``
    gamma is a parameter. Feedback is the exact Q-function (the full-information setting),
    not an estimate from sampled episodes.
    """

    id = "bandits.swap_regret_policy_optimisation"
    family = "bandits"
    paper = "Regret Minimization and Convergence to Equilibria in General-sum Markov Games"
    summary = (
        "Per-state Blum-Mansour swap-regret learners with a value backup, in self-play on a "
        "Markov game; swap regret and CE gap."
    )
    params = (
        Param(
            "learning_rate",
            "float",
            0.0,
            "Hedge rate eta of every instance; 0 = sqrt(8 N ln N / T) / H.",
            low=0.0,
            high=100.0,
        ),
        Param(
            "exploration",
            "float",
            0.0,
            "gamma: each instance's proposal is mixed with the uniform distribution by gamma.",
            low=0.0,
            high=1.0,
        ),
    )
    problems = ("bandits.markov_game",)
    plot = "regret"
    metrics = ("cumulative_regret", "row_swap_regret", "column_swap_regret", "ce_gap")

    def run(self, steps, rec):
        game = self.problem
        n, horizon = game.actions, game.horizon
        rate = self.p["learning_rate"] or math.sqrt(8.0 * n * math.log(n) / steps) / horizon
        exploration = self.p["exploration"]
        reward_row, reward_column, transition = game.reward_row, game.reward_column, game.transition
        column_reward, column_transition = column_view(reward_column, transition)
        # Loss range at step h is H - h (rewards in [0, 1] for the H - h steps left).
        loss_offset = torch.arange(horizon, 0, -1, device=reward_row.device, dtype=reward_row.dtype)
        loss_offset = loss_offset[None, :, None, None]
        self.row_moves = reward_row.new_zeros((self.seeds, horizon, game.states, n, n))
        self.column_moves = torch.zeros_like(self.row_moves)
        deviation_row = reward_row.new_zeros((self.seeds, swap_map_count(n, game.states, horizon)))
        deviation_column = torch.zeros_like(deviation_row)
        played_row = reward_row.new_zeros(self.seeds)
        played_column = torch.zeros_like(played_row)
        for t in range(steps):
            p_row = swap_policy(self.row_moves, rate, exploration)
            p_column = swap_policy(self.column_moves, rate, exploration)
            q_row, q_column, v_row, v_column = product_values(
                reward_row, reward_column, transition, p_row, p_column
            )
            played_row += v_row
            played_column += v_column
            deviation_row += swap_deviation_values(reward_row, transition, p_row, p_column)
            deviation_column += swap_deviation_values(
                column_reward, column_transition, p_column, p_row
            )
            self.row_moves += p_row.unsqueeze(-1) * (loss_offset - q_row).unsqueeze(-2)
            self.column_moves += p_column.unsqueeze(-1) * (loss_offset - q_column).unsqueeze(-2)
            if rec.should_record(t + 1):
                # The identity map is among the deviations, so both are >= 0 up to rounding.
                swap_row = (deviation_row.amax(-1) - played_row).clamp_min(0.0)
                swap_column = (deviation_column.amax(-1) - played_column).clamp_min(0.0)
                worst = torch.maximum(swap_row, swap_column)
                rec.metrics(
                    t + 1,
                    {
                        "cumulative_regret": worst,
                        "row_swap_regret": swap_row,
                        "column_swap_regret": swap_column,
                        "ce_gap": worst / (t + 1),
                    },
                )
            rec.progress(t + 1)
