"""Theory only: the regret rates of two papers on adversarial (linear) MDPs, as curves over
the number of episodes K. Nothing is learned or simulated."""

from __future__ import annotations

import numpy as np

from engine.labs.bandits.base import recorded_steps
from engine.registry import Algorithm, Problem

# (curve name, exponent of K): each curve is 1 * K^exponent. Dai et al.'s simulator rate
# and Liu et al.'s inefficient rate are both K^(1/2): one curve, named for both.
RATES = (
    ("dai2023_linear_q_simulator_and_liu2023_inefficient_1*K^(1/2)", 1 / 2),
    ("luo2021_linear_q_simulator_previous_1*K^(2/3)", 2 / 3),
    ("dai2023_linear_mdp_no_simulator_1*K^(8/9)", 8 / 9),
    ("luo2021_linear_mdp_no_simulator_previous_1*K^(14/15)", 14 / 15),
    ("liu2023_policy_optimisation_1*K^(3/4)", 3 / 4),
    ("kong2023_previous_1*K^(4/5)", 4 / 5),
    ("sherman2023_previous_1*K^(6/7)", 6 / 7),
)


def rate_curves(episodes) -> dict[str, np.ndarray]:
    """Every curve of RATES at the given episode counts K."""
    k = np.asarray(episodes, dtype=np.float64)
    return {name: k**exponent for name, exponent in RATES}


class AdversarialMDPEpisodes(Problem):
    """Theory only: K episodes of an adversarial MDP (the run's steps are the episodes).
    Nothing is generated; the entry exists so that the rate panel has a problem to name."""

    id = "bandits.adversarial_mdp_episodes"
    family = "bandits"
    title = "Adversarial MDP episodes (theory only)"
    summary = "Theory only: no environment is simulated; the run's steps are the episodes K."


class AdversarialMDPRates(Algorithm):
    """THEORY ONLY -- no algorithm runs. A reference panel of the regret rates in
    "Refined Regret for Adversarial MDPs with Linear Function Approximation" (Dai, Luo, Wei &
    Zimmert 2023) and "Towards Optimal Regret in Adversarial Linear MDPs with Bandit
    Feedback" (Liu, Wei & Zimmert 2023), drawn as bound curves over the number of episodes K.

    Every rate is stated in the papers as O~(K^a), with the dependence on the horizon H, the
    feature dimension d and the number of actions A, and the logarithmic factors, hidden in
    the O~; each curve is therefore drawn as 1 * K^a (constant 1, no log factors, no H, d or A),
    and the "1*K^(a)" in its name says so. They compare rates, not values: a measured regret
    is not meant to lie below them. Curves (the rates the abstracts give):

    - Dai et al., linear-Q MDP with a simulator: K^(1/2) (both algorithms: FTRL with a
      log-barrier regulariser, and the magnitude-reduced estimator that removes the
      polynomial dependence on A); the previous best there (Luo et al. 2021b): K^(2/3).
    - Dai et al., simulator-free linear MDP: K^(8/9); the previous best: K^(14/15).
    - Liu et al., linear MDP with bandit feedback and unknown transitions: the computationally
      inefficient algorithm K^(1/2), the policy-optimisation algorithm K^(3/4); the previous
      best: Kong et al. 2023, K^(4/5) (plus a poly(1 / lambda_min) term not drawn, lambda_min a
      problem constant), and Sherman et al. 2023b, K^(6/7).

    Departure: the papers' bounds carry polynomial factors in H, d and A; the exponents in
    these were not reproduced here, so no such parameter is offered rather than a guessed
    dependence. The state count does not enter: both papers allow arbitrarily many states.
    """

    id = "bandits.adversarial_mdp_rates"
    family = "bandits"
    paper = (
        "Refined Regret for Adversarial MDPs with Linear Function Approximation; "
        "Towards Optimal Regret in Adversarial Linear MDPs with Bandit Feedback"
    )
    summary = (
        "THEORY ONLY (nothing runs): the papers' regret rates K^(1/2) ... K^(14/15) over episodes K, "
        "constant 1, as a reference panel."
    )
    problems = ("bandits.adversarial_mdp_episodes",)
    plot = "regret"
    metrics = ()
    deterministic = True  # curves of K alone: nothing is drawn

    def run(self, steps, rec):
        episodes = recorded_steps(rec)
        for name, values in rate_curves(episodes).items():
            rec.bound(name, episodes, values)
        rec.progress(steps)
