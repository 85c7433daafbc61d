from __future__ import annotations

import torch

from engine.labs.bandits.base import sample_categorical
from engine.labs.bandits.exp3 import exp3_bound, tuned_gamma
from engine.labs.online.architecture_learner import ARCHITECTURE_METRICS, ArchitectureLearner
from engine.params import Param


class MANAS(ArchitectureLearner):
    """MANAS: one Exp3 agent per decision, all learning from the one shared reward (paper:
    "MANAS: Multi-Agent Neural Architecture Search", Carlucci et al. 2019).

    Agent i (decision i, K choices) keeps log-weights w_i. Each round every agent draws its
    choice independently, the architecture a_t = (a_1, ..., a_N) is evaluated once, and
    each agent updates with the shared reward x_t = 1 - loss_t, importance-weighted by its
    own probability of the choice it made:

        p_i(k) = (1 - gamma) w_i(k) / sum_j w_i(j) + gamma / K,   a_i ~ p_i
        xhat_i(a_i) = x_t / p_i(a_i)        (0 for the other choices)
        w_i(k) <- w_i(k) exp(gamma xhat_i(k) / K)

    i.e. each agent is `Exp3` (Auer et al. 2002) on its own K arms, the other agents' choices
    folded into the reward it sees. gamma = 0 tunes it per Corollary 3.2 for the horizon.

    Bound drawn (additive problems only): for mu(a) = sum_i l_i(a_i), the regret splits exactly
    into the agents' regrets against their own best choices, sum_t [l_i(a_i,t) - l_i(a_i*)], and
    agent i sees rewards in [0, 1] whose dependence on the others' simultaneous draws is
    independent of its own draw, so Exp3's Theorem 3.1 holds for each:
    E[R_T] <= N ((e - 1) gamma T + K ln K / gamma), O(N sqrt(T K ln K)) tuned -- the O(sqrt T)
    vanishing regret the paper proves. With interactions the decomposition fails and no bound
    is drawn.

    Recorded besides the shared metrics: ``recommended_loss``, mu of the architecture made of
    every agent's most probable choice (what the search would hand over at that point).

    Departures: the paper's objective comes from training the network on the sampled
    architecture; here the loss is the known function of `bandits.architecture_search`. The
    paper's pseudo-code was not at hand, so its agents' exact exponential-weights variant
    (loss- or reward-based, exploration mixing) is not reproduced: each agent here is Auer et
    al.'s Exp3 on reward = 1 - loss, with its gamma-uniform exploration, which is what the
    bound above needs.
    """

    id = "bandits.manas"
    paper = "MANAS: Multi-Agent Neural Architecture Search"
    summary = "Independent Exp3 agents, one per decision, on the shared reward: O(N sqrt(T K ln K)) regret."
    params = (
        Param(
            "gamma",
            "float",
            0.0,
            "Exploration rate gamma in (0, 1] of every agent; 0 = tuned for the horizon.",
            low=0.0,
            high=1.0,
        ),
    )
    metrics = ARCHITECTURE_METRICS + ("recommended_loss",)

    def start(self, steps):
        prob = self.problem
        k = prob.choices
        self.log_weights = torch.zeros(
            (self.seeds, prob.decisions, k), dtype=torch.float64, device=self.device
        )
        self.rate = self.p["gamma"] or tuned_gamma(steps, k)
        self.probs = self.probabilities()

    def probabilities(self) -> torch.Tensor:
        """p_i [seeds, N, K] of every agent."""
        k = self.problem.choices
        return torch.softmax(self.log_weights, dim=-1).mul_(1 - self.rate).add_(self.rate / k)

    def propose(self, t):
        self.probs = self.probabilities()
        s, n, k = self.probs.shape
        return sample_categorical(self.probs.reshape(s * n, k), self.gen).reshape(s, n)

    def update(self, arms, observed):
        chosen = arms.unsqueeze(-1)
        reward = (1.0 - observed.to(torch.float64))[:, None, None]
        estimate = reward / self.probs.gather(-1, chosen)
        self.log_weights.scatter_add_(-1, chosen, estimate.mul_(self.rate / self.problem.choices))

    def extra_metrics(self, best):
        return {"recommended_loss": self.problem.expected_loss(self.log_weights.argmax(-1))}

    def upper_bound(self, steps):
        prob = self.problem
        if not prob.additive:
            return None
        return prob.decisions * exp3_bound(self.rate, prob.choices, steps)
