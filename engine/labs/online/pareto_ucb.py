from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.online.multiobjective import dominates
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


def pareto_ucb_bound(gaps: torch.Tensor, objectives: int, steps: np.ndarray) -> np.ndarray:
    """Expected Pareto regret of Pareto UCB1 with the radius below, at each step n:

        sum_{i: Delta_i > 0} [ 8 ln(n (D K)^{1/4}) / Delta_i + (1 + pi^2 / (3K)) Delta_i ].

    The UCB1 proof (Auer et al. 2002, Theorem 1) with a union bound over the D objectives,
    as Drugan & Nowé (2013) argue for Pareto UCB1: arm i is played at most
    8 ln(n (DK)^{1/4}) / Delta_i^2 + 1 + pi^2 / (3K) times in expectation, because once
    its radius is below Delta_i / 2 it can be played only if, in some objective, the
    index of the arm that beats it by Delta_i everywhere is below its mean, or its own
    index lies above its mean by the radius; each of these 2D events has probability
    exp(-2 s r^2) = (t (DK)^{1/4})^{-4}, which sums over s, s_i <= t and t to pi^2 / (3K).
    """
    g = gaps[gaps > 0].double().cpu().numpy()
    k = gaps.numel()
    n = np.maximum(np.asarray(steps, dtype=float), 1.0)
    if g.size == 0:
        return np.zeros(len(n))
    log_term = np.log(n * (objectives * k) ** 0.25)
    return 8.0 * log_term * np.sum(1.0 / g) + (1 + math.pi**2 / (3 * k)) * np.sum(g)


class ParetoUCB(Algorithm):
    """Pareto UCB1 of Drugan & Nowé (2013, "Designing multi-objective multi-armed bandits
    algorithms: a study"), kept as a baseline beside the learners of the paper it is listed
    under ("Pareto Regret Analyses in Multi-objective Multi-armed Bandit", Xu & Klabjan
    2023; those are `bandits.pareto_regret_ucb` and `bandits.pareto_regret_exp3`).

    Play each arm once. Then at round t, with n_i plays of arm i and empirical mean vector
    x_i in [0, 1]^D, form the index vectors

        U_i = x_i + sqrt( 2 ln(t (D K)^{1/4}) / n_i ) * 1,

    find the arms whose index vector no other index vector Pareto-dominates, and play one
    of them uniformly at random (draws from the algorithm's stream).

    ``cumulative_regret`` is Drugan & Nowé's Pareto regret, the sum over rounds of the
    Pareto gap of the arm played, Delta_i = the smallest eps with mu_i + eps not dominated;
    ``pareto_optimal_fraction`` is the share of plays on Pareto-optimal arms, and
    ``pareto_regret`` is Xu & Klabjan's Pareto regret on the mean vectors (the smallest eps
    with sum_t mu_{a_t} + eps dominated by no n mu_i), the regret the paper's learners plot,
    for comparison; the overlay does not cover it (playing only Pareto-optimal arms can
    leave the player's average dominated).

    Departures: Drugan & Nowé's radius uses |A*|, the size of the Pareto set, which a
    learner does not know; K >= |A*| stands in for it (a slightly wider radius), and the
    overlaid bound is re-derived for that radius (see `pareto_ucb_bound`).
    """

    id = "bandits.pareto_ucb"
    family = "bandits"
    paper = "Pareto Regret Analyses in Multi-objective Multi-armed Bandit"
    summary = (
        "Baseline (Drugan & Nowé): play at random among arms whose UCB vectors are non-dominated."
    )
    params = ()
    problems = ("bandits.multiobjective_bernoulli",)
    plot = "regret"
    metrics = ("cumulative_regret", "pareto_optimal_fraction", "pareto_regret")

    def run(self, steps, rec):
        prob = self.problem
        s, k, d = self.seeds, prob.k, prob.d
        dev = self.device
        gen = generator(dev, self.seed, ALGORITHM_STREAM)
        self.counts = counts = torch.zeros((s, k), dtype=torch.float64, device=dev)
        sums = torch.zeros((s, k, d), dtype=torch.float64, device=dev)
        rows = torch.arange(s, device=dev)
        regret = torch.zeros(s, dtype=torch.float64, device=dev)
        optimal_plays = torch.zeros(s, dtype=torch.float64, device=dev)
        rec.bound(
            "regret_upper_bound", rec.checkpoints, pareto_ucb_bound(prob.gaps, d, rec.checkpoints)
        )
        log_scale = 0.25 * math.log(d * k)
        for t in range(1, steps + 1):
            if t <= k:
                arms = torch.full((s,), t - 1, dtype=torch.long, device=dev)
            else:
                radius = torch.sqrt(2.0 * (math.log(t) + log_scale) / counts)
                index = sums / counts.unsqueeze(2) + radius.unsqueeze(2)  # [s, k, d]
                beaten = dominates(index.unsqueeze(1), index.unsqueeze(2)).any(dim=2)  # [s, i]
                keys = torch.rand((s, k), generator=gen, device=dev, dtype=self.dtype)
                arms = torch.argmax(keys.masked_fill(beaten, -1.0), dim=1)
            rewards = prob.pull(arms)
            counts[rows, arms] += 1.0
            sums[rows, arms] += rewards
            regret += prob.gaps[arms]
            optimal_plays += prob.optimal[arms].to(torch.float64)
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": regret,
                        "pareto_optimal_fraction": optimal_plays / t,
                        "pareto_regret": prob.pareto_regret(),
                    },
                )
            rec.progress(t)
