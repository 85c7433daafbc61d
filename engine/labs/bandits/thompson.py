from __future__ import annotations

import torch

from engine.labs.bandits.base import IndexBandit
from engine.params import Param


class BetaThompsonSampling(IndexBandit):
    """Thompson sampling with Beta priors for Bernoulli rewards (Agrawal & Goyal,
    "Analysis of Thompson Sampling for the Multi-armed Bandit Problem", 2012).

    Each arm i keeps S_i successes and F_i failures. Every round, for every seed:

        theta_i ~ Beta(S_i + a, F_i + b)  independently,   play argmax_i theta_i,

    then S or F of the played arm grows by one. The paper's prior is a = b = 1.
    Posterior draws use torch's global generator, seeded with the run's seed by the
    runner; the rewards come from the problem's own stream.

    No explicit finite-time upper bound is drawn: the paper's bounds carry unspecified
    constants. The Lai–Robbins lower bound, which Thompson sampling attains
    asymptotically (Kaufmann, Korda & Munos 2012), is drawn instead.
    """

    id = "bandits.thompson_beta"
    paper = "Analysis of Thompson Sampling for the Multi-armed Bandit Problem"
    summary = "Sample a mean for each arm from its Beta posterior; play the best sample."
    params = (
        Param("prior_a", "float", 1.0, "Beta prior successes a (1 = uniform prior).", low=0.0, low_open=True, high=1e6),
        Param("prior_b", "float", 1.0, "Beta prior failures b (1 = uniform prior).", low=0.0, low_open=True, high=1e6),
    )

    def select(self, t):
        successes = self.sums
        failures = self.counts - self.sums
        # Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b): the sampler behind
        # torch.distributions.Beta without its per-call distribution object overhead.
        x = torch._standard_gamma(successes + self.p["prior_a"])
        y = torch._standard_gamma(failures + self.p["prior_b"])
        return torch.argmax(x / (x + y), dim=1)
