"""The learners of "Pareto Regret Analyses in Multi-objective Multi-armed Bandit" (Xu &
Klabjan 2023) for a setting known in advance: UCB1 (stochastic) and EXP3 (adversarial)
run on one objective, whose scalar regret bounds the Pareto regret."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

# The paper's pseudo-code was not available to this implementation; what the learners rest
# on is its Theorem 4.1 (quoted by later work: the Pareto regret is at most the regret in
# any one objective), which makes a single-objective learner on objective d a Pareto-regret
# learner with that learner's bound. Each docstring says so.


def ucb1_objective_bound(objective_gaps: torch.Tensor, steps) -> np.ndarray:
    """UCB1's expected regret bound in one objective (Auer, Cesa-Bianchi & Fischer 2002,
    Theorem 1) at each step n, which bounds the expected Pareto regret (Theorem 4.1 of the
    paper) and the sum of Pareto gaps (each arm's Pareto gap is at most its gap in d):

        sum_{i: Delta^d_i > 0} 8 ln n / Delta^d_i + (1 + pi^2 / 3) sum_i Delta^d_i.
    """
    g = objective_gaps[objective_gaps > 0].double().cpu().numpy()
    n = np.maximum(np.asarray(steps, dtype=float), 1.0)
    if g.size == 0:
        return np.zeros(len(n))
    return 8.0 * np.log(n) * np.sum(1.0 / g) + (1.0 + math.pi**2 / 3.0) * np.sum(g)


def exp3_gamma(arms: int, horizon: int) -> float:
    """EXP3's exploration rate for a known horizon T (Auer, Cesa-Bianchi, Freund &
    Schapire 2002, Corollary 3.2 with g = T): min(1, sqrt(K ln K / ((e - 1) T)))."""
    return min(1.0, math.sqrt(arms * math.log(arms) / ((math.e - 1.0) * horizon)))


def exp3_bound(arms: int, gamma: float, steps) -> np.ndarray:
    """EXP3's expected regret bound after t rounds against any oblivious sequence of
    rewards in [0, 1] (Theorem 3.1, G_max <= t): (e - 1) gamma t + K ln K / gamma, capped at
    t (no regret exceeds it). At t = T with the gamma above it is 2 sqrt(e - 1) sqrt(T K ln K)."""
    t = np.asarray(steps, dtype=float)
    return np.minimum(t, (math.e - 1.0) * gamma * t + arms * math.log(arms) / gamma)


def exp3_probabilities(log_weights: torch.Tensor, gamma: float) -> torch.Tensor:
    """p_i = (1 - gamma) w_i / sum_j w_j + gamma / K, from log-weights [..., K]."""
    k = log_weights.shape[-1]
    return (1.0 - gamma) * torch.softmax(log_weights, dim=-1) + gamma / k


def exp3_update(log_weights, arms, rewards, probabilities, gamma):
    """In place: the played arm's weight is multiplied by exp(gamma x_hat / K) with the
    importance-weighted reward x_hat = x / p_arm; the others keep theirs."""
    k = log_weights.shape[-1]
    rows = torch.arange(log_weights.shape[0], device=log_weights.device)
    log_weights[rows, arms] += gamma * rewards / probabilities[rows, arms] / k


def checked_objective(objective: int, problem) -> int:
    """The objective the learner runs on, refused with its key if the problem has fewer."""
    if objective >= problem.d:
        raise ParamError(
            "algorithm.objective",
            f"must be below the problem's objectives = {problem.d}, got {objective}",
        )
    return objective


OBJECTIVE = Param(
    "objective",
    "int",
    0,
    "The objective d (0-based) whose scalar regret the learner minimises; any d bounds the "
    "Pareto regret.",
    low=0,
    high=15,
)


class ParetoRegretUCB(Algorithm):
    """UCB1 on one objective, the paper's stochastic learner with prior information (paper:
    "Pareto Regret Analyses in Multi-objective Multi-armed Bandit", Xu & Klabjan 2023).

    Play each arm once; then, with n plays so far, n_i of arm i and x_id its mean reward in
    the chosen objective d, play argmax_i x_id + sqrt(2 ln n / n_i) (lowest index on ties).

    Pareto regret (the paper's): the smallest eps >= 0 such that the player's cumulative
    mean vector sum_t mu_{a_t}, lifted by eps in every objective, is dominated by no arm's
    n mu_i (`pareto_regret`), recorded as ``cumulative_regret``. It is at most the regret
    in objective d, sum_t (max_j mu_jd - mu_{a_t d}) (``objective_regret``), whose UCB1
    bound is overlaid (`ucb1_objective_bound`). ``pareto_gap_regret`` is Drugan & Nowé's
    sum of the Pareto gaps of the arms played, the regret `bandits.pareto_ucb` plots,
    which the same bound covers.

    Departures: the paper's text (its pseudo-code and constants) was not available here.
    The learner is the reduction its Theorem 4.1 licenses (Pareto regret <= the regret in
    any single objective), with UCB1 as the stochastic learner, the reading in which its
    stochastic bound is "nearly optimal up to a logarithmic factor". Which objective the
    paper uses is not known here; it is a parameter. The paper's learner without prior
    information of the setting (stochastic or adversarial) is not implemented.
    """

    id = "bandits.pareto_regret_ucb"
    family = "bandits"
    paper = "Pareto Regret Analyses in Multi-objective Multi-armed Bandit"
    summary = "UCB1 on one objective: its scalar regret bounds the Pareto regret (Theorem 4.1)."
    params = (OBJECTIVE,)
    problems = ("bandits.multiobjective_bernoulli",)
    plot = "regret"
    metrics = ("cumulative_regret", "objective_regret", "pareto_gap_regret")

    def run(self, steps, rec):
        prob = self.problem
        d = checked_objective(self.p["objective"], prob)
        s, k, dev = self.seeds, prob.k, self.device
        self.counts = counts = torch.zeros((s, k), dtype=torch.float64, device=dev)
        sums = torch.zeros((s, k), dtype=torch.float64, device=dev)
        rows = torch.arange(s, device=dev)
        gap_regret = torch.zeros(s, dtype=torch.float64, device=dev)
        rec.bound(
            "regret_upper_bound",
            rec.checkpoints,
            ucb1_objective_bound(prob.objective_gaps(d), rec.checkpoints),
        )
        for t in range(1, steps + 1):
            if t <= k:
                arms = torch.full((s,), t - 1, dtype=torch.long, device=dev)
            else:
                index = sums / counts + torch.sqrt(2.0 * math.log(t - 1) / counts)
                arms = torch.argmax(index, dim=1)
            rewards = prob.pull(arms)
            counts[rows, arms] += 1.0
            sums[rows, arms] += rewards[:, d]
            gap_regret += prob.gaps[arms]
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": prob.pareto_regret(),
                        "objective_regret": prob.objective_regret(d),
                        "pareto_gap_regret": gap_regret,
                    },
                )
            rec.progress(t)


class ParetoRegretEXP3(Algorithm):
    """EXP3 on one objective, the paper's adversarial learner with prior information
    (paper: "Pareto Regret Analyses in Multi-objective Multi-armed Bandit", Xu & Klabjan
    2023).

    With log-weights w (all 0 at first), each round play arm i with probability

        p_i = (1 - gamma) e^{w_i} / sum_j e^{w_j} + gamma / K,  gamma = min(1, sqrt(K ln K / ((e-1) T))),

    observe the played arm's reward x in objective d and add gamma x / (p_arm K) to its
    log-weight (Auer, Cesa-Bianchi, Freund & Schapire 2002). Draws come from the
    algorithm's stream: one uniform per seed and round, inverted through the cumulative
    probabilities.

    Pareto regret (the paper's, for the adversarial setting): the smallest eps >= 0 with
    the player's cumulative reward vector + eps dominated by no arm's cumulative vector
    (`pareto_regret`; realised rewards on `bandits.adversarial_multiobjective`, mean
    vectors on `bandits.multiobjective_bernoulli`), recorded as ``cumulative_regret``. It
    is at most the regret in objective d (``objective_regret``; Theorem 4.1), whose EXP3
    bound (e - 1) gamma t + K ln K / gamma is overlaid (`exp3_bound`), of order
    sqrt(T K ln K); the paper's lower bound for the adversarial Pareto regret is of order
    sqrt(K T), so the learner is optimal up to sqrt(ln K).

    Departures: as for `bandits.pareto_regret_ucb`, the paper's own pseudo-code was not
    available here; this is the reduction its Theorem 4.1 licenses, with EXP3 as the
    adversarial learner and the objective a parameter. The learner without prior
    information of the setting is not implemented.
    """

    id = "bandits.pareto_regret_exp3"
    family = "bandits"
    paper = "Pareto Regret Analyses in Multi-objective Multi-armed Bandit"
    summary = "EXP3 on one objective: its regret bounds the Pareto regret against any sequence."
    params = (OBJECTIVE,)
    problems = ("bandits.adversarial_multiobjective", "bandits.multiobjective_bernoulli")
    plot = "regret"
    metrics = ("cumulative_regret", "objective_regret")

    def run(self, steps, rec):
        prob = self.problem
        d = checked_objective(self.p["objective"], prob)
        s, k, dev = self.seeds, prob.k, self.device
        gen = generator(dev, self.seed, ALGORITHM_STREAM)
        self.gamma = gamma = exp3_gamma(k, steps)
        self.log_weights = log_w = torch.zeros((s, k), dtype=torch.float64, device=dev)
        self.counts = counts = torch.zeros((s, k), dtype=torch.float64, device=dev)
        rows = torch.arange(s, device=dev)
        rec.bound("regret_upper_bound", rec.checkpoints, exp3_bound(k, gamma, rec.checkpoints))
        for t in range(1, steps + 1):
            probs = exp3_probabilities(log_w, gamma)
            u = torch.rand((s, 1), generator=gen, device=dev, dtype=torch.float64)
            arms = (torch.cumsum(probs, dim=1) <= u).sum(dim=1).clamp_max(k - 1)
            rewards = prob.pull(arms)
            exp3_update(log_w, arms, rewards[:, d], probs, gamma)
            counts[rows, arms] += 1.0
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": prob.pareto_regret(),
                        "objective_regret": prob.objective_regret(d),
                    },
                )
            rec.progress(t)
