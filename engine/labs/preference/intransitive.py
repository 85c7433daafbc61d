"""A general preference over K responses, possibly intransitive: the game self-play solves."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from engine.params import Param, ParamError
from engine.registry import Problem

MAX_RESPONSES = 12


class IntransitivePreferences(Problem):
    """One prompt, K responses and a preference matrix P[y, y'] = P(y ≻ y'), P + Pᵀ = 1,
    with no reward behind it, so that it may cycle (rock beats scissors beats paper beats
    rock) and no response beats every other (no Condorcet winner).

    Unless given, P is built from a reward, a cycle and skew-symmetric noise:

        P[y, y'] = σ(r_y − r_y' + γ C[y, y'] + Z[y, y']),

    where C[y, y+1 mod K] = 1 = −C[y+1 mod K, y] (each response beats the next one, the
    last beats the first), γ = `cycle_strength`, and Z = −Zᵀ has entries `noise`·N(0, 1)
    drawn once from `instance`. γ = noise = 0 is the transitive Bradley–Terry preference.

    The solution concept is the minimax (von Neumann) winner of the symmetric zero-sum
    game A = P − 1/2: a policy π with P(π ≻ y') ≥ 1/2 for every y'. Its exploitability
    max_y' P(y' ≻ π) − 1/2 is 0 exactly there and positive elsewhere. `minimax_winner`
    finds it exactly by support enumeration (K ≤ 12).
    """

    id = "preference.intransitive"
    family = "preference"
    title = "Intransitive preferences (rock–paper–scissors-like)"
    summary = (
        "K responses under a general preference matrix P(y ≻ y'); may cycle, no Condorcet winner."
    )
    params = (
        Param("responses", "int", 3, "Number of responses K.", low=3, high=MAX_RESPONSES),
        Param(
            "rewards",
            "floats",
            [],
            "Transitive part r of the preference, one per response; empty = 0.",
            low=-100.0,
            high=100.0,
            min_len=0,
            max_len=MAX_RESPONSES,
        ),
        Param(
            "cycle_strength",
            "float",
            1.0,
            "γ: each response beats the next one in the cycle by σ(γ).",
            low=-100.0,
            high=100.0,
        ),
        Param("noise", "float", 0.0, "Scale of the skew-symmetric noise Z.", low=0.0, high=100.0),
        Param("instance", "int", 0, "Seed of the noise Z.", low=0, high=2**62),
        Param(
            "preference",
            "floats",
            [],
            "P itself, K × K numbers row by row with P + Pᵀ = 1; "
            "empty = built from rewards, cycle and noise.",
            low=0.0,
            high=1.0,
            min_len=0,
            max_len=MAX_RESPONSES**2,
        ),
        Param(
            "reference",
            "floats",
            [],
            "Reference (initial) policy π_ref as positive weights; empty = uniform.",
            low=0.0,
            low_open=True,
            high=1e6,
            min_len=0,
            max_len=MAX_RESPONSES,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        k = params["responses"]
        self.k = k
        if params["preference"]:
            preference = _given_preference(params["preference"], k)
        else:
            rewards = torch.zeros(k, dtype=torch.float64)
            if params["rewards"]:
                if len(params["rewards"]) != k:
                    raise ParamError(
                        "problem.rewards",
                        f"needs one value per response ({k}), got {len(params['rewards'])}",
                    )
                rewards = torch.tensor(params["rewards"], dtype=torch.float64)
            cycle = torch.zeros((k, k), dtype=torch.float64)
            index = torch.arange(k)
            cycle[index, (index + 1) % k] = 1.0
            cycle[(index + 1) % k, index] = -1.0
            draw = torch.Generator().manual_seed(params["instance"])
            noise = torch.triu(torch.randn((k, k), generator=draw, dtype=torch.float64), diagonal=1)
            noise = params["noise"] * (noise - noise.T)
            preference = torch.sigmoid(
                rewards[:, None] - rewards[None, :] + params["cycle_strength"] * cycle + noise
            )
        weights = params["reference"] or [1.0] * k
        if len(weights) != k:
            raise ParamError(
                "problem.reference", f"needs one weight per response ({k}), got {len(weights)}"
            )
        weights = torch.tensor(weights, dtype=torch.float64)
        self.preference64 = preference
        self.reference64 = weights / weights.sum()
        self.preference = preference.to(device=device, dtype=dtype)
        self.reference = self.reference64.to(device=device, dtype=dtype)
        self.minimax_winner64 = minimax_winner(preference)
        self.minimax_winner = self.minimax_winner64.to(device=device, dtype=dtype)

    def win_rates(self, policy: torch.Tensor) -> torch.Tensor:
        """P(y ≻ π) for every seed and response, [seeds, K]: the win rate of y against a
        response drawn from π [seeds, K]."""
        return policy @ self.preference.T

    def exploitability(self, policy: torch.Tensor) -> torch.Tensor:
        """max_y' P(y' ≻ π) − 1/2 for every seed, [seeds]."""
        return exploitability(self.preference, policy)


def exploitability(preference: torch.Tensor, policy: torch.Tensor) -> torch.Tensor:
    """max_y' P(y' ≻ π) − 1/2 of a policy [..., K] under P [K, K]."""
    return (policy @ preference.T).max(dim=-1).values - 0.5


def minimax_winner(preference: torch.Tensor, tolerance: float = 1e-10) -> torch.Tensor:
    """A minimax winner of the symmetric game A = P − 1/2, [K] in float64.

    Support enumeration, smallest supports first: on a support S the winner x makes every
    response of S tie with it, A_Sᵀ x_S = 0 and Σ x_S = 1; it is a winner when x ≥ 0 and
    no response at all beats it, xᵀA ≥ 0. A game always has one (von Neumann), and a
    generic skew-symmetric game exactly one, of odd support.
    """
    game = preference.to(torch.float64) - 0.5
    k = game.shape[0]
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            s = list(support)
            system = torch.cat([game[s][:, s].T, torch.ones((1, size), dtype=torch.float64)])
            target = torch.zeros(size + 1, dtype=torch.float64)
            target[-1] = 1.0
            # numpy's LAPACK, not torch's: MKL's lstsq differs in the last bits from call to
            # call (with the memory alignment of its inputs), which broke same-seed replays
            solution = torch.from_numpy(
                np.linalg.lstsq(system.numpy(), target.numpy(), rcond=None)[0]
            )
            if (system @ solution - target).abs().max() > 1e-9 or solution.min() < -tolerance:
                continue
            winner = torch.zeros(k, dtype=torch.float64)
            winner[s] = solution.clamp(min=0.0)
            winner = winner / winner.sum()
            if (winner @ game).min() >= -1e-9:
                return winner
    raise ValueError("no minimax winner found: the preference matrix is not a valid game")


def _given_preference(values: list, k: int) -> torch.Tensor:
    if len(values) != k * k:
        raise ParamError(
            "problem.preference", f"needs responses × responses = {k * k} values, got {len(values)}"
        )
    preference = torch.tensor(values, dtype=torch.float64).view(k, k)
    asymmetry = (preference + preference.T - 1.0).abs().max().item()
    if asymmetry > 1e-9:
        raise ParamError(
            "problem.preference",
            f"must satisfy P[y, y'] + P[y', y] = 1 (off by {asymmetry:.3g}); the diagonal is 1/2",
        )
    return preference
