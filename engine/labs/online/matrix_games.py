"""Small two-player general-sum matrix games, and the correlated-equilibrium gap of a joint
distribution of play."""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# Shapley's game: each player's best response cycles, so fictitious play never settles;
# its only Nash equilibrium is uniform, and it has correlated equilibria far from it.
SHAPLEY_ROW = ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0))
SHAPLEY_COLUMN = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
# Chicken (actions: dare, yield), payoffs (0,0) (7,2) / (2,7) (6,6) divided by 7: the
# classic game whose correlated equilibria beat every Nash equilibrium's welfare.
CHICKEN_ROW = ((0.0, 1.0), (2 / 7, 6 / 7))
CHICKEN_COLUMN = ((0.0, 2 / 7), (1.0, 6 / 7))


def ce_gap(
    joint: torch.Tensor, row_payoff: torch.Tensor, column_payoff: torch.Tensor
) -> torch.Tensor:
    """The largest violation of the correlated-equilibrium constraints by a joint
    distribution D over action pairs, per seed ([seeds, N, M] each):

        max( max_{j,k} sum_c D[j,c] (A[k,c] - A[j,c]),  max_{j,k} sum_r D[r,j] (B[r,k] - B[r,j]),  0 ),

    the gain of the best deviation "when told j, play k" for either player; D is a
    correlated equilibrium exactly when this is 0.
    """
    # Row: told j (D's row j), gain of k over j is sum_c D[j,c] A[k,c] - sum_c D[j,c] A[j,c].
    row_play = joint @ row_payoff.transpose(1, 2)  # [s, j, k] = sum_c D[j,c] A[k,c]
    row_gain = row_play - torch.diagonal(row_play, dim1=1, dim2=2).unsqueeze(2)
    column_play = joint.transpose(1, 2) @ column_payoff  # [s, j, k] = sum_r D[r,j] B[r,k]
    column_gain = column_play - torch.diagonal(column_play, dim1=1, dim2=2).unsqueeze(2)
    worst = torch.maximum(row_gain.flatten(1).amax(1), column_gain.flatten(1).amax(1))
    return worst.clamp_min(0.0)


class MatrixGame(Problem):
    """A two-player general-sum game in normal form with payoffs in [0, 1]: the row player
    earns A[r, c] and the column player B[r, c] when they play (r, c).

    ``game = "random"``: every seed draws its own N x N game, A and B independent and
    uniform on [0, 1], from the problem's stream. ``"shapley"`` and ``"chicken"`` are the
    fixed games above (``actions`` is then ignored).
    """

    id = "bandits.matrix_game"
    family = "bandits"
    title = "General-sum matrix game"
    summary = "Two-player general-sum matrix games (random from the seed, Shapley's game, chicken) for self-play."
    params = (
        Param("game", "choice", "random", "Which game.", choices=("random", "shapley", "chicken")),
        Param("actions", "int", 3, "Actions per player N of a random game.", low=2, high=12),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        game = params["game"]
        if game == "random":
            n = params["actions"]
            gen = generator(device, seed, PROBLEM_STREAM)
            drawn = torch.rand((2, seeds, n, n), generator=gen, device=device, dtype=dtype)
            self.row_payoff, self.column_payoff = drawn[0], drawn[1]
        else:
            row, column = (
                (SHAPLEY_ROW, SHAPLEY_COLUMN)
                if game == "shapley"
                else (CHICKEN_ROW, CHICKEN_COLUMN)
            )
            self.row_payoff = (
                torch.tensor(row, device=device, dtype=dtype).expand(seeds, -1, -1).clone()
            )
            self.column_payoff = (
                torch.tensor(column, device=device, dtype=dtype).expand(seeds, -1, -1).clone()
            )
        self.actions = self.row_payoff.shape[1]
