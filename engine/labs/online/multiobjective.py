"""Multi-objective Bernoulli bandits: the Pareto-optimal arms and each arm's Pareto gap, exactly."""

from __future__ import annotations

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def dominates(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pareto dominance for maximisation along the last axis: a >= b everywhere and > somewhere."""
    return (a >= b).all(dim=-1) & (a > b).any(dim=-1)


def pareto_optimal(means: torch.Tensor) -> torch.Tensor:
    """Which arms no other arm dominates: means [K, D] -> bool [K]."""
    dominated_by = dominates(means.unsqueeze(0), means.unsqueeze(1))  # [i, j]: j dominates i
    return ~dominated_by.any(dim=1)


def pareto_gaps(means: torch.Tensor) -> torch.Tensor:
    """The Pareto suboptimality gap of every arm, exactly: means [K, D] -> [K].

    Delta_i = inf { eps >= 0 : mu_i + eps * 1 is dominated by no arm } (Drugan & Nowé 2013).
    mu_i + eps is dominated by arm j for every eps < min_d (mu_jd - mu_id) and by no arm j
    for eps above it, so

        Delta_i = max(0, max_j min_d (mu_jd - mu_id)).

    An arm that is only weakly dominated (equal in some objective) has gap 0 although it
    is not Pareto optimal: any eps > 0 lifts it off its dominator.
    """
    margin = (means.unsqueeze(0) - means.unsqueeze(1)).min(dim=2).values  # [i, j]
    return margin.max(dim=1).values.clamp_min(0.0)


def pareto_regret(arm_totals: torch.Tensor, player_total: torch.Tensor) -> torch.Tensor:
    """Pareto regret in the sense of Xu & Klabjan (2023), exactly: arm_totals [..., K, D]
    (what each arm would have earned), player_total [..., D] (what the player earned) ->
    [...].

        PR = inf { eps >= 0 : player_total + eps * 1 is dominated by no arm's total }
           = max(0, max_i min_d (arm_totals_id - player_total_d)),

    the same closed form as `pareto_gaps` with the player's cumulative reward vector in
    place of an arm's mean. It is at most the regret in any single objective d,
    max_i arm_totals_id - player_total_d (the paper's Theorem 4.1), since the minimum over
    objectives is at most the value in objective d.
    """
    margin = (arm_totals - player_total.unsqueeze(-2)).min(dim=-1).values  # [..., K]
    return margin.max(dim=-1).values.clamp_min(0.0)


class MultiObjectiveBernoulli(Problem):
    """K arms with D objectives; objective d of arm i pays 1 with probability mu_id, else 0.

    The mean vectors are either given (``means``, K rows of D values, row after row) or,
    with ``random_arms`` > 0, drawn uniformly from [0, 1]^D by the problem's stream of the
    run's base seed (the same instance for every seed). Each round draws one uniform per
    seed, arm and objective, u[s, i, d], and objective d of arm i pays 1 when u < mu_id:
    every arm's reward vector is drawn whether or not it is played (common random numbers).
    """

    id = "bandits.multiobjective_bernoulli"
    family = "bandits"
    title = "Multi-objective Bernoulli bandit"
    summary = (
        "K arms, each paying a vector of D Bernoulli rewards; Pareto set and gaps computed exactly."
    )
    params = (
        Param("objectives", "int", 2, "Number D of objectives per arm.", low=1, high=16),
        Param(
            "means",
            "floats",
            [0.8, 0.2, 0.5, 0.5, 0.2, 0.8, 0.4, 0.4, 0.3, 0.3],
            "Mean reward vectors, row after row: K rows of D values (ignored when random_arms > 0).",
            low=0.0,
            high=1.0,
            min_len=0,
            max_len=16_000,
        ),
        Param(
            "random_arms",
            "int",
            0,
            "If > 0: this many arms with means drawn uniformly from [0, 1]^D.",
            low=0,
            high=1000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        d = params["objectives"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        if params["random_arms"] > 0:
            k = params["random_arms"]
            if k < 2:
                raise ParamError("problem.random_arms", "needs at least 2 arms")
            means = torch.rand((k, d), generator=self._gen, device=device, dtype=torch.float64)
        else:
            flat = params["means"]
            if len(flat) < 2 * d or len(flat) % d:
                raise ParamError(
                    "problem.means",
                    f"needs K rows of objectives = {d} values with K >= 2, got {len(flat)} values",
                )
            means = torch.tensor(flat, dtype=torch.float64, device=device).reshape(-1, d)
        self.means = means
        self.k, self.d = means.shape
        self.gaps = pareto_gaps(means)
        self.optimal = pareto_optimal(means)
        self.rounds = 0
        self.player_means = torch.zeros((seeds, self.d), dtype=torch.float64, device=device)

    def pull(self, arms: torch.Tensor) -> torch.Tensor:
        """Reward vectors [seeds, D] for the arms [seeds] played this round."""
        u = torch.rand(
            (self.seeds, self.k, self.d), generator=self._gen, device=self.device, dtype=self.dtype
        )
        rows = torch.arange(self.seeds, device=self.device)
        self.rounds += 1
        self.player_means += self.means[arms]
        return (u[rows, arms] < self.means[arms]).to(torch.float64)

    def pareto_regret(self) -> torch.Tensor:
        """Xu & Klabjan's Pareto regret of the plays so far, [seeds], on the mean vectors
        (pseudo-regret): `pareto_regret` of the arms' totals n * mu_i against the sum of
        the mean vectors of the arms played."""
        return pareto_regret(self.rounds * self.means, self.player_means)

    def objective_gaps(self, objective: int) -> torch.Tensor:
        """Scalar gaps in one objective, max_j mu_jd - mu_id, [K]."""
        column = self.means[:, objective]
        return column.max() - column

    def objective_regret(self, objective: int) -> torch.Tensor:
        """Pseudo-regret in one objective, n max_j mu_jd - sum of mu_{a_t d}, [seeds]."""
        return self.rounds * self.means[:, objective].max() - self.player_means[:, objective]


class AdversarialMultiObjective(Problem):
    """An oblivious adversary for the multi-objective bandit: a table of reward vectors in
    {0, 1}^D, fixed in advance from the run's base seed and the same for every seed.

    Time is cut into phases of ``phase`` rounds; at the start of each the adversary draws a
    fresh K x D matrix of means uniformly from [0, 1] and in each round of the phase
    objective d of arm i pays 1 when a fresh uniform is below the mean (all from the
    problem's stream). Which arms are Pareto optimal in hindsight changes from phase to
    phase; the front of the cumulative reward vectors is known exactly at every round,
    since every arm's total is kept (`arm_totals`, [K, D]).
    """

    id = "bandits.adversarial_multiobjective"
    family = "bandits"
    title = "Adversarial multi-objective bandit (oblivious)"
    summary = "K arms, D objectives, 0/1 reward vectors fixed in advance; phases of fresh means."
    params = (
        Param("arms", "int", 5, "Number K of arms.", low=2, high=1000),
        Param("objectives", "int", 2, "Number D of objectives per arm.", low=1, high=16),
        Param(
            "phase",
            "int",
            1000,
            "Rounds between the adversary's fresh draws of the mean matrix.",
            low=1,
            high=100_000_000,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.k, self.d, self.phase = params["arms"], params["objectives"], params["phase"]
        self._gen = generator(device, seed, PROBLEM_STREAM)
        self.rounds = 0
        self.means = None
        self.arm_totals = torch.zeros((self.k, self.d), dtype=torch.float64, device=device)
        self.player_totals = torch.zeros((seeds, self.d), dtype=torch.float64, device=device)

    def table(self) -> torch.Tensor:
        """The next round's reward vectors of every arm, [K, D]; advances the round and
        adds them to the arms' totals. The learner sees only its own arm's row."""
        if self.rounds % self.phase == 0:
            self.means = torch.rand(
                (self.k, self.d), generator=self._gen, device=self.device, dtype=torch.float64
            )
        u = torch.rand((self.k, self.d), generator=self._gen, device=self.device, dtype=self.dtype)
        self.rounds += 1
        rewards = (u < self.means).to(torch.float64)
        self.arm_totals += rewards
        return rewards

    def pull(self, arms: torch.Tensor) -> torch.Tensor:
        """Reward vectors [seeds, D] of the arms [seeds] played this round."""
        rewards = self.table()[arms]
        self.player_totals += rewards
        return rewards

    def pareto_regret(self) -> torch.Tensor:
        """Xu & Klabjan's Pareto regret of the realised rewards so far, [seeds]."""
        return pareto_regret(self.arm_totals, self.player_totals)

    def objective_regret(self, objective: int) -> torch.Tensor:
        """Regret in one objective against the best arm in hindsight, [seeds]."""
        return self.arm_totals[:, objective].max() - self.player_totals[:, objective]
