from __future__ import annotations

import math

import numpy as np
import torch

from engine.labs.bandits.base import sample_categorical
from engine.labs.online.architecture_learner import ARCHITECTURE_METRICS, ArchitectureLearner
from engine.params import Param


def tuned_temperature(horizon: int, k: int) -> float:
    """eta = sqrt(2 ln K / (T K)), the rate that minimises ln K / eta + eta T K / 2."""
    return math.sqrt(2.0 * math.log(k) / (horizon * k))


def exp3_loss_bound(eta: float, k: int, steps: np.ndarray) -> np.ndarray:
    """Exp3 on losses in [0, 1] with a constant eta (Bubeck & Cesa-Bianchi 2012, Theorem 3.1):
    pseudo-regret <= ln K / eta + eta t K / 2 at every t; sqrt(2 T K ln K) at the tuned eta."""
    return math.log(k) / eta + eta * np.asarray(steps, dtype=np.float64) * k / 2.0


class MANAS(ArchitectureLearner):
    """MANAS: one Exp3 agent per decision, all crediting their choices with the one shared loss
    (paper: "MANAS: Multi-Agent Neural Architecture Search", Carlucci et al. 2019, Section 5.2).

    Agent i (decision i, K operations) keeps the importance-weighted cumulative loss B_i of its
    operations. Each round every agent draws its operation independently from a softmax with
    temperature eta, the architecture a_t = (a_1, ..., a_N) is evaluated once, and each agent
    credits the shared loss L_t to the operation it played, divided by its own probability:

        pi_i(k) = exp(-eta B_i(k)) / sum_j exp(-eta B_i(j)),   a_i ~ pi_i      (B_i = 0: uniform)
        B_i(k) <- B_i(k) + L_t 1{a_i = k} / pi_i(k)                               (paper's eq. 6)

    i.e. each agent runs Exp3 on losses (Bubeck & Cesa-Bianchi 2012) on its own K arms, the
    other agents' choices folded into the loss it sees; no uniform exploration is mixed in.
    eta = 0 tunes it for the horizon, eta = sqrt(2 ln K / (T K)).

    Bound drawn (additive problems only): for mu(a) = sum_i l_i(a_i), the regret splits exactly
    into the agents' regrets against their own best operations (the paper's decomposition), and
    agent i sees losses in [0, 1] whose dependence on the others' simultaneous draws is
    independent of its own draw, so each has Exp3's ln K / eta + eta t K / 2: in all
    N (ln K / eta + eta t K / 2), N sqrt(2 T K ln K) tuned -- the paper's O(N sqrt(T K log K)).
    With interactions the decomposition fails and no bound is drawn.

    Recorded besides the shared metrics: ``recommended_loss``, mu of the architecture made of
    every agent's most probable operation (the mode of pi_{t+1}, Algorithm 1's recommendation).

    Departures and readings: the paper's objective comes from training the network on the
    sampled architecture; here the loss is the known function of `bandits.architecture_search`.
    The paper prints the softmax as exp(+eta B); B accumulates losses and the text's aim is
    "to always pull the best operation", so the sign is read as exp(-eta B), Exp3 on losses.
    Its temperature is not given in the main text (its Appendix D.2 was not at hand): the
    horizon-tuned eta above is the one whose bound is the stated O(sqrt(T K log K)) per agent.
    """

    id = "bandits.manas"
    paper = "MANAS: Multi-Agent Neural Architecture Search"
    summary = (
        "Independent Exp3 agents, one per decision, on the shared loss: O(N sqrt(T K ln K)) regret."
    )
    params = (
        Param(
            "eta",
            "float",
            0.0,
            "Softmax temperature eta of every agent; 0 = tuned for the horizon, sqrt(2 ln K / (T K)).",
            low=0.0,
            high=100.0,
        ),
    )
    metrics = ARCHITECTURE_METRICS + ("recommended_loss",)

    def start(self, steps):
        prob = self.problem
        self.credit = torch.zeros(
            (self.seeds, prob.decisions, prob.choices), dtype=torch.float64, device=self.device
        )
        self.temperature = self.p["eta"] or tuned_temperature(steps, prob.choices)
        self.probs = self.probabilities()

    def probabilities(self) -> torch.Tensor:
        """pi_i [seeds, N, K] of every agent."""
        return torch.softmax(-self.temperature * self.credit, dim=-1)

    def propose(self, t):
        self.probs = self.probabilities()
        s, n, k = self.probs.shape
        return sample_categorical(self.probs.reshape(s * n, k), self.gen).reshape(s, n)

    def update(self, arms, observed):
        chosen = arms.unsqueeze(-1)
        loss = observed.to(torch.float64)[:, None, None]
        self.credit.scatter_add_(-1, chosen, loss / self.probs.gather(-1, chosen))

    def extra_metrics(self, best):
        return {"recommended_loss": self.problem.expected_loss(self.credit.argmin(-1))}

    def upper_bound(self, steps):
        prob = self.problem
        if not prob.additive:
            return None
        return prob.decisions * exp3_loss_bound(self.temperature, prob.choices, steps)
