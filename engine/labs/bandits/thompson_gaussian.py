from __future__ import annotations

import torch

from engine.labs.bandits.base import IndexBandit
from engine.params import Param


class GaussianThompsonSampling(IndexBandit):
    """Thompson sampling with Gaussian priors (Agrawal & Goyal, "Further Optimal Regret
    Bounds for Thompson Sampling", AISTATS 2013, Algorithm 2).

    A baseline: one of the classic learners every lab is compared with; its paper is not
    among those of docs/papers.txt.

    The paper's rule: with k_i plays of arm i and reward sum S_i, sample
    theta_i ~ N(S_i / (k_i + 1), 1 / (k_i + 1)) and play argmax_i theta_i. That is the
    posterior of a N(0, 1) prior under unit-variance Gaussian likelihoods. Here the prior
    N(m0, s0^2) and the likelihood's noise sigma are parameters (the paper's choice,
    m0 = 0, s0 = sigma = 1, is the default):

        precision_i = 1 / s0^2 + k_i / sigma^2
        mean_i      = (m0 / s0^2 + S_i / sigma^2) / precision_i
        theta_i     ~ N(mean_i, 1 / precision_i).

    Draws come from the algorithm stream of the run's seed. The paper's bounds carry
    unspecified constants, so no upper bound is drawn; on Gaussian arms whose noise equals
    sigma the posterior is exact and the Lai–Robbins lower bound (drawn) is the
    asymptotic rate.
    """

    id = "bandits.thompson_gaussian"
    paper = "Further Optimal Regret Bounds for Thompson Sampling"
    summary = "Sample a mean for each arm from its Gaussian posterior; play the best sample."
    params = (
        Param("prior_mean", "float", 0.0, "Prior mean m0 of every arm's mean.", low=-1e6, high=1e6),
        Param(
            "prior_sd",
            "float",
            1.0,
            "Prior standard deviation s0.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "noise_sd",
            "float",
            1.0,
            "Reward noise sigma the likelihood assumes (the paper's: 1).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
    )

    def posterior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and variance of every arm's mean, [seeds, K] each."""
        prior_precision = 1.0 / self.p["prior_sd"] ** 2
        noise_precision = 1.0 / self.p["noise_sd"] ** 2
        precision = self.counts * noise_precision + prior_precision
        mean = (self.sums * noise_precision + self.p["prior_mean"] * prior_precision) / precision
        return mean, precision.reciprocal()

    def select(self, t):
        mean, variance = self.posterior()
        z = torch.randn(mean.shape, generator=self.gen, device=mean.device, dtype=mean.dtype)
        return torch.argmax(z.mul_(variance.sqrt_()).add_(mean), dim=1)
