from __future__ import annotations

import torch

from engine.labs.bandits.base import sample_categorical
from engine.labs.online.architecture_learner import ARCHITECTURE_METRICS, ArchitectureLearner

# Eigenvalues of the design's Gram matrix below this share of the largest count as zero: the
# matrix has integer entries, so its true null space (one direction per extra agent, plus the
# operations never tried) shows up at round-off level, far below this, and every nonzero
# eigenvalue far above it.
PSEUDO_INVERSE_RTOL = 1e-10


def least_squares_credit(gram: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
    """The minimum-norm solution of min_beta sum_s (L_s - beta^T Z_s)^2 from the design's Gram
    matrix sum_s Z_s Z_s^T [seeds, NK, NK] and sum_s L_s Z_s [seeds, NK]: beta = G^+ (sum L Z),
    what np.linalg.lstsq returns on the stacked rows (Z_s, L_s)."""
    pinv = torch.linalg.pinv(gram, hermitian=True, rtol=PSEUDO_INVERSE_RTOL)
    return (pinv @ moment.unsqueeze(-1)).squeeze(-1)


def zipf_probabilities(credit: torch.Tensor) -> torch.Tensor:
    """pi(k) = 1 / (rank(k) H_K) along the last axis, rank 1 the lowest estimated loss (ties to
    the lower index) and H_K = 1 + 1/2 + ... + 1/K."""
    k = credit.shape[-1]
    order = torch.argsort(credit, dim=-1, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(1, k + 1, device=credit.device).expand_as(order))
    harmonic = sum(1.0 / j for j in range(1, k + 1))
    return 1.0 / (ranks.to(credit.dtype) * harmonic)


class MANASLS(ArchitectureLearner):
    """MANAS-LS: least-squares credit assignment with Zipf sampling (paper: "MANAS: Multi-Agent
    Neural Architecture Search", Carlucci et al. 2019, Section 5.1).

    The loss is modelled as linear in the architecture's one-hot encoding Z_s in {0, 1}^{NK}
    (agent i's block has a 1 at its operation), L_s = beta_s^T Z_s, and after every evaluation the
    credit of all NK operations is re-fitted on every architecture evaluated so far:

        B_t = argmin_beta sum_{s<=t} (L_s - beta^T Z_s)^2            (paper's eq. 5; minimum norm)
        pi_{i,t+1}(k) = 1 / (rank_i(k) H_K),  rank_i by ascending B_t restricted to agent i's block
        a_i ~ pi_i independently (pi_1 uniform, Algorithm 1)

    Zipf sampling plays the m estimated best operations about uniformly for every m, so it
    keeps exploring (the best is played with probability 1 / H_K only) while the fit sharpens:
    it targets the simple regret of the recommendation, not the cumulative regret. The paper
    proves r_T = O(exp(-T / H)), H growing as the gaps between each agent's best and second-best
    summed credit shrink; no constant is stated, so no bound is drawn.

    Recorded besides the shared metrics: ``recommended_loss``, mu of the architecture made of
    every agent's lowest-credit operation (the mode of pi_{t+1}).

    Readings: the design never has full column rank (adding c to one agent's block and taking c
    from another's changes no prediction), so "solving via least squares" is read as the
    minimum-norm solution (what np.linalg.lstsq gives); ranks within an agent do not depend on
    that choice once each of its operations has been tried. Ties in rank go to the lower index.
    The loss is the known function of `bandits.architecture_search`, not a trained network.
    """

    id = "bandits.manas_ls"
    paper = "MANAS: Multi-Agent Neural Architecture Search"
    summary = "Least-squares credit for every operation, Zipf sampling by estimated rank: exponentially small simple regret."
    metrics = ARCHITECTURE_METRICS + ("recommended_loss",)

    def start(self, steps):
        prob = self.problem
        n, k = prob.decisions, prob.choices
        f64 = {"dtype": torch.float64, "device": self.device}
        self.gram = torch.zeros((self.seeds, n * k, n * k), **f64)
        self.moment = torch.zeros((self.seeds, n * k), **f64)
        self.credit = torch.zeros((self.seeds, n, k), **f64)
        self.probs = torch.full((self.seeds, n, k), 1.0 / k, **f64)
        self.offsets = torch.arange(n, device=self.device) * k

    def propose(self, t):
        s, n, k = self.probs.shape
        return sample_categorical(self.probs.reshape(s * n, k), self.gen).reshape(s, n)

    def update(self, arms, observed):
        s, n, k = self.probs.shape
        design = torch.zeros((s, n * k), dtype=torch.float64, device=self.device)
        design.scatter_(1, arms + self.offsets, 1.0)
        self.gram += design.unsqueeze(-1) * design.unsqueeze(-2)
        self.moment += observed.to(torch.float64).unsqueeze(-1) * design
        self.credit = least_squares_credit(self.gram, self.moment).reshape(s, n, k)
        self.probs = zipf_probabilities(self.credit)

    def extra_metrics(self, best):
        return {"recommended_loss": self.problem.expected_loss(self.credit.argmin(-1))}
