from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.online.matrix_games import ce_gap
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


def stationary_distribution(q: torch.Tensor) -> torch.Tensor:
    """p with p = p Q and sum p = 1, for row-stochastic Q [..., N, N] with positive entries
    (unique by Perron-Frobenius): solve (Q^T - I) p = 0 with one equation replaced by sum p = 1."""
    n = q.shape[-1]
    system = q.transpose(-1, -2) - torch.eye(n, dtype=q.dtype, device=q.device)
    system[..., -1, :] = 1.0
    rhs = torch.zeros(q.shape[:-1], dtype=q.dtype, device=q.device)
    rhs[..., -1] = 1.0
    return torch.linalg.solve(system, rhs.unsqueeze(-1)).squeeze(-1)


def swap_regret(moves: torch.Tensor) -> torch.Tensor:
    """Swap regret from M[j, k] = sum_t p_t(j) l_t(k) ([..., N, N]):
    sum_j ( M[j, j] - min_k M[j, k] ), the loss saved by the best map j -> phi(j)."""
    return (torch.diagonal(moves, dim1=-2, dim2=-1) - moves.amin(-1)).sum(-1)


def external_regret(moves: torch.Tensor) -> torch.Tensor:
    """External regret from the same M: sum_t p_t . l_t - min_k sum_t l_t(k) = trace M - min_k sum_j M[j, k]."""
    return torch.diagonal(moves, dim1=-2, dim2=-1).sum(-1) - moves.sum(-2).amin(-1)


def blum_mansour_bound(steps, actions: int, rate: float) -> np.ndarray:
    """Swap regret of Blum-Mansour over N Hedge instances with rate eta, on every sequence:

        R_swap(t) <= N ln N / eta + eta t / 8,

    since instance j sees losses p_t(j) l_t in a range of width p_t(j), Hedge's bound is
    ln N / eta + eta sum_t p_t(j)^2 / 8 (Hoeffding's lemma), swap regret is at most the sum
    of the N instances' regrets, and sum_j p_t(j)^2 <= 1. With eta = sqrt(8 N ln N / T) it is
    sqrt(T N ln N / 2) at T: the O(sqrt(T N log N)) of Blum & Mansour.
    """
    t = np.asarray(steps, dtype=float)
    return actions * math.log(actions) / rate + rate * t / 8.0


class BlumMansourSelfPlay(Algorithm):
    """Both players of a general-sum matrix game learn with Blum-Mansour swap-regret
    minimisers (paper: "Regret Minimization and Convergence to Equilibria in General-sum
    Markov Games", Erez, Lancewicki, Sherman, Koren & Mansour 2023; its one-state case).

    Each player keeps N Hedge instances, one per action j. Instance j's cumulative loss
    vector is row j of M[j, k] = sum_s p_s(j) l_s(k), so it proposes
    q_j = softmax(-eta M[j, :]). The player plays the stationary distribution of the
    matrix Q with rows q_j,

        p_t = p_t Q_t,

    observes the loss vector of all its actions and hands instance j the scaled loss
    p_t(j) l_t: M[j, :] += p_t(j) l_t. Both players update at once. With
    ``feedback = "sampled"`` each player draws its action r_t ~ p_row,t, c_t ~ p_col,t (from
    the algorithm's stream) and l_row = 1 - A[:, c_t], l_col = 1 - B[r_t, :]; with
    ``"expected"`` the losses are against the other's mixed strategy, l_row = 1 - A p_col,
    l_col = 1 - B^T p_row (deterministic; a symmetric game started at the uniform
    equilibrium then stays there, so Shapley's game needs sampled play to move).

    Recorded: ``cumulative_regret`` = the larger of the two players' swap regrets,
    ``external_regret`` (the larger of the two), ``ce_gap`` = the largest violation of the
    correlated-equilibrium constraints by the empirical joint distribution of play (the
    frequencies of the sampled pairs (r_s, c_s); with expected feedback
    (1/t) sum_s p_row,s (x) p_col,s). With expected feedback the row player's gain from
    "told j, play k" is exactly (M[j,j] - M[j,k]) / t, so ce_gap <= max swap regret / t
    (with sampled play up to a martingale of order sqrt(1/t)): swap regret o(T) is
    convergence to the set of correlated equilibria. The bound `blum_mansour_bound` holds
    for the swap regret of the mixed strategies on every loss sequence, so in both modes.

    Departures: the paper's algorithm is policy optimisation in Markov games, whose
    per-state learners face losses weighted by the (controlled) path length of the
    policies; in a one-state game the weights are 1 and it reduces to this self-play of
    swap-regret minimisers, which is what is implemented (the proof's learner, with
    Hedge as the external-regret subroutine as Blum & Mansour analyse it). The Markov-game
    algorithm itself is `bandits.swap_regret_policy_optimisation`; this one is its
    matrix-game baseline.
    """

    id = "bandits.blum_mansour"
    family = "bandits"
    paper = "Regret Minimization and Convergence to Equilibria in General-sum Markov Games"
    summary = "Blum-Mansour swap-regret learners (N Hedge instances, stationary play) in self-play; CE gap."
    params = (
        Param(
            "learning_rate",
            "float",
            0.0,
            "Hedge rate eta of every instance; 0 = sqrt(8 N ln N / T).",
            low=0.0,
            high=100.0,
        ),
        Param(
            "feedback",
            "choice",
            "sampled",
            "sampled: losses against the other's drawn action; "
            "expected: against its mixed strategy.",
            choices=("sampled", "expected"),
        ),
    )
    problems = ("bandits.matrix_game",)
    plot = "regret"
    metrics = ("cumulative_regret", "external_regret", "ce_gap")

    def run(self, steps, rec):
        prob = self.problem
        a, b = prob.row_payoff, prob.column_payoff
        n = prob.actions
        rate = self.p["learning_rate"] or math.sqrt(8.0 * n * math.log(n) / steps)
        rec.bound(
            "regret_upper_bound", rec.checkpoints, blum_mansour_bound(rec.checkpoints, n, rate)
        )
        row_moves = torch.zeros_like(a)
        column_moves = torch.zeros_like(b)
        joint = torch.zeros_like(a)
        sampled = self.p["feedback"] == "sampled"
        gen = generator(self.device, self.seed, ALGORITHM_STREAM)
        seeds = torch.arange(self.seeds, device=self.device)
        for t in range(steps):
            p_row = stationary_distribution(torch.softmax(-rate * row_moves, dim=-1))
            p_column = stationary_distribution(torch.softmax(-rate * column_moves, dim=-1))
            if sampled:
                r = torch.multinomial(p_row.clamp_min(0.0), 1, generator=gen).squeeze(1)
                c = torch.multinomial(p_column.clamp_min(0.0), 1, generator=gen).squeeze(1)
                loss_row = 1.0 - a[seeds, :, c]
                loss_column = 1.0 - b[seeds, r, :]
                joint[seeds, r, c] += 1.0
            else:
                loss_row = 1.0 - (a @ p_column.unsqueeze(-1)).squeeze(-1)
                loss_column = 1.0 - (p_row.unsqueeze(-2) @ b).squeeze(-2)
                joint += p_row.unsqueeze(-1) * p_column.unsqueeze(-2)
            row_moves += p_row.unsqueeze(-1) * loss_row.unsqueeze(-2)
            column_moves += p_column.unsqueeze(-1) * loss_column.unsqueeze(-2)
            if rec.should_record(t + 1):
                rec.metrics(
                    t + 1,
                    {
                        "cumulative_regret": torch.maximum(
                            swap_regret(row_moves), swap_regret(column_moves)
                        ),
                        "external_regret": torch.maximum(
                            external_regret(row_moves), external_regret(column_moves)
                        ),
                        "ce_gap": ce_gap(joint / (t + 1), a, b),
                    },
                )
            rec.progress(t + 1)
