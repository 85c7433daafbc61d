"""Deep Sea Treasure: the classic two-objective gridworld with an exactly known Pareto front."""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from engine.metrics import hypervolume, pareto_front
from engine.params import Param
from engine.registry import Problem

# The sea floor of Vamplew et al. (2011), "Empirical evaluation methods for multiobjective
# reinforcement learning algorithms": the row of the treasure in each of the 10 columns;
# the cells below it are rock.
FLOOR_ROWS = (1, 2, 3, 4, 4, 4, 7, 7, 9, 10)
ROWS, COLUMNS = 11, 10
# Up, down, left, right as (row, column) moves.
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
TREASURE_MAPS = {
    # Vamplew et al. (2011): the front is concave, so only its two ends are supported.
    "concave": (1.0, 2.0, 3.0, 5.0, 8.0, 16.0, 24.0, 50.0, 74.0, 124.0),
    # Yang et al. (2019), "A Generalized Algorithm for Multi-Objective Reinforcement Learning
    # and Policy Adaptation": the convex map PD-MORL is evaluated on and MO-Gymnasium's
    # deep-sea-treasure-v0 uses by default. Its marginal treasure per step falls 3.75, 1.65,
    # 1.25, 1.1, 1, 0.875, 0.7, 0.7, 0.65 along the front, so every point lies on the convex
    # hull, but (20.3, 14) lies on the edge from (19.6, 13) to (22.4, 17): it ties with both
    # at one weighting and is the unique optimum of no weighted sum.
    "convex": (0.7, 8.2, 11.5, 14.0, 15.1, 16.1, 19.6, 20.3, 22.4, 23.7),
}
REFERENCE_TIME = 25.0


class DeepSeaTreasure(Problem):
    """Deep Sea Treasure (Vamplew et al. 2011): a submarine starts at the top-left cell of an
    11 x 10 grid and moves up, down, left or right (a move into rock or off the grid leaves
    it in place). Every step costs one unit of time; reaching a treasure on the sea floor
    ends the episode and pays its value. The two objectives are the treasure (maximised)
    and the time taken (minimised); as a reward vector per step, (treasure on arrival, -1).

    The Pareto front is exact: the shortest time to each treasure (a breadth-first search
    of the grid, here equal to row + column) paired with its value, filtered for dominance.
    Both maps put a larger treasure farther away, so all ten treasures are on the front:

        time      1    3    5    7    8    9   13   14   17   19
        concave   1    2    3    5    8   16   24   50   74  124     (Vamplew et al. 2011)
        convex  0.7  8.2 11.5 14.0 15.1 16.1 19.6 20.3 22.4 23.7     (Yang et al. 2019)

    Its hypervolume against the reference point (treasure 0, time 25), the usual one in
    the literature, is 1155 for the concave map and 401.8 for the convex one.

    Episodes that reach no treasure end after ``horizon`` steps. Nothing here is random:
    seeds only change the learner's exploration. Tensors of the gridworld are indexed by
    state s = row * 10 + column.
    """

    id = "pareto.deep_sea_treasure"
    family = "pareto"
    title = "Deep Sea Treasure (Vamplew et al. 2011)"
    summary = (
        "Two-objective gridworld: treasure against time; the concave map of Vamplew et al. 2011 or the "
        "convex map of Yang et al. 2019, exact front."
    )
    params = (
        Param(
            "treasure_map",
            "choice",
            "concave",
            "concave: the classic values of Vamplew et al. 2011; convex: the values of Yang et al. 2019 "
            "(PD-MORL's and MO-Gymnasium's default), every front point on the convex hull.",
            choices=tuple(TREASURE_MAPS),
        ),
        Param(
            "horizon",
            "int",
            50,
            "Steps after which an episode that found no treasure is cut off "
            "(at least 19, the time to the farthest treasure).",
            low=19,
            high=10_000,
        ),
    )

    objective_names = ("treasure", "time")
    objective_directions = ("max", "min")
    states = ROWS * COLUMNS
    actions = len(MOVES)
    start_state = 0

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.horizon = params["horizon"]
        self.treasures = TREASURE_MAPS[params["treasure_map"]]
        treasure = np.zeros(self.states)
        terminal = np.zeros(self.states, dtype=bool)
        successor = np.zeros((self.states, self.actions), dtype=np.int64)
        for row in range(ROWS):
            for column in range(COLUMNS):
                state = row * COLUMNS + column
                if row == FLOOR_ROWS[column]:
                    treasure[state], terminal[state] = self.treasures[column], True
                for action, (dr, dc) in enumerate(MOVES):
                    r, c = row + dr, column + dc
                    inside = 0 <= r < ROWS and 0 <= c < COLUMNS and r <= FLOOR_ROWS[c]
                    successor[state, action] = r * COLUMNS + c if inside else state
        self.successor_table = successor
        self.terminal_table = terminal
        self.successor = torch.tensor(successor, device=device)  # next state [states, actions]
        self.treasure = torch.tensor(
            treasure, device=device, dtype=dtype
        )  # paid on arrival [states]
        self.terminal = torch.tensor(terminal, device=device)  # treasure cells [states]

    def shortest_times(self) -> dict[int, int]:
        """Fewest steps from the start to each treasure cell (breadth-first search; an episode
        ends at the first treasure it reaches, so paths may not pass through treasure cells)."""
        times = {self.start_state: 0}
        queue = deque([self.start_state])
        while queue:
            state = queue.popleft()
            if self.terminal_table[state]:
                continue
            for nxt in self.successor_table[state]:
                if int(nxt) not in times:
                    times[int(nxt)] = times[state] + 1
                    queue.append(int(nxt))
        return {s: t for s, t in times.items() if self.terminal_table[s]}

    def exact_front(self) -> np.ndarray:
        """The Pareto front as (treasure, time) rows, by increasing time; [points, 2]."""
        points = [(self.treasures[s % COLUMNS], float(t)) for s, t in self.shortest_times().items()]
        front, _ = pareto_front(np.array(points), list(self.objective_directions))
        return front[np.argsort(front[:, 1])]

    def reference_point(self) -> list[float]:
        """(treasure 0, time 25): dominated by every front point; a policy that finds no
        treasure scores treasure 0 and adds no hypervolume."""
        return [0.0, REFERENCE_TIME]

    def true_front_hypervolume(self, reference_point) -> np.ndarray:
        """The exact hypervolume of the exact front, the same for every seed; [seeds]."""
        volume = hypervolume(self.exact_front(), reference_point, list(self.objective_directions))
        return np.full(self.seeds, volume)
