"""A small layered episodic MDP with known transitions, and its dynamic programmes.

States come in H layers of S states each; an episode visits one state per layer,
s_0 ~ rho, a_h ~ pi(.|s_h), s_{h+1} ~ P_h(.|s_h, a_h), and ends after layer H - 1. All
tensors carry the seeds as their first dimension: rho [seeds, S], P [seeds, H - 1, S, A, S],
policies and loss tables [seeds, H, S, A], occupancies [seeds, H, S].
"""

from __future__ import annotations

import torch

from engine.labs.bandits.base import sample_categorical
from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


def state_occupancy(
    initial: torch.Tensor, transitions: torch.Tensor, policy: torch.Tensor
) -> torch.Tensor:
    """mu_h(s) = P(s_h = s) under the policy: mu_0 = rho,
    mu_{h+1}(s') = sum_{s, a} mu_h(s) pi_h(a|s) P_h(s'|s, a)."""
    layers = [initial]
    for h in range(transitions.shape[1]):
        flow = layers[-1].unsqueeze(-1) * policy[:, h]
        layers.append(torch.einsum("nsa,nsat->nt", flow, transitions[:, h]))
    return torch.stack(layers, dim=1)


def policy_loss(
    occupancy: torch.Tensor, policy: torch.Tensor, losses: torch.Tensor
) -> torch.Tensor:
    """The expected loss of an episode, sum_{h, s, a} mu_h(s) pi_h(a|s) l_h(s, a), [seeds]."""
    return (occupancy.unsqueeze(-1) * policy * losses).sum(dim=(1, 2, 3))


def best_policy(initial: torch.Tensor, transitions: torch.Tensor, losses: torch.Tensor):
    """The deterministic policy of least expected loss on the table l [seeds, H, S, A], by
    backward induction: V_H = 0, Q_h(s, a) = l_h(s, a) + sum_s' P_h(s'|s, a) V_{h+1}(s'),
    V_h(s) = min_a Q_h(s, a). Returns (sum_s rho(s) V_0(s) [seeds], argmin actions [seeds, H, S]).

    Because an episode's expected loss is linear in the loss table, the best fixed policy
    in hindsight over episodes 1..t is this policy on the cumulative table sum_t l_t."""
    layers = losses.shape[1]
    value = torch.zeros(initial.shape, dtype=losses.dtype, device=losses.device)
    actions = []
    for h in reversed(range(layers)):
        q = losses[:, h].clone()
        if h < layers - 1:
            q += torch.einsum("nsat,nt->nsa", transitions[:, h], value)
        value, chosen = q.min(dim=-1)
        actions.append(chosen)
    return (initial * value).sum(-1), torch.stack(actions[::-1], dim=1)


def deterministic_policy(actions: torch.Tensor, count: int) -> torch.Tensor:
    """The one-hot policy [seeds, H, S, A] of actions [seeds, H, S]."""
    return torch.nn.functional.one_hot(actions, count).to(torch.float64)


class EpisodicMDP(Problem):
    """A layered episodic MDP drawn from the seed, with stochastic losses or losses that
    switch between two regimes.

    Per seed (problem stream): rho and every P_h(.|s, a) are drawn uniformly from the
    simplex (normalised exponentials: Dirichlet(1)), and one best action per state; the
    mean-loss table is m_h(s, a) = 1/2 - gap/2 for the best action and 1/2 + gap/2 for the
    others. Every state's best action then costs the same, so V* is the same from every
    state of a layer and every other action's Q-gap is exactly `gap`, whatever the
    transitions. Each episode draws a whole loss table l_t in {0, 1},
    l_t,h(s, a) = 1{u < mean}, one uniform per seed and entry, independently of the
    learner (an oblivious adversary); a learner sees only the entries on its trajectory.
    Start and next states are drawn from the problem's stream too, so learners run on the
    same seed share every draw of the environment.

    - stochastic: mean = m in every episode. Regret is the pseudo-regret against the
      optimal policy, sum_t (V^{pi_t}(m) - V*(m)), V* by dynamic programming.
    - adversarial: every `period` episodes a coin (probability `bias`) picks regime A
      (mean m) or regime B (mean 1 - m: the best actions become the worst). Regret is
      against the best fixed policy in hindsight on the realised tables,
      sum_t V^{pi_t}(l_t) - min_pi sum_t V^pi(l_t), the minimum by dynamic programming on
      the cumulative table (`best_policy`). Each episode swings the gaps by the full
      `gap` while the best policy's expected edge per step is only (2 bias - 1) gap; with
      bias = 1/2 no policy is better in expectation and the comparator wins only what
      the noise hands it.

    Transitions are known to the learner (`initial`, `transitions`). The problem keeps
    the cumulative realised table and the learner's expected losses (`charge`), so the
    regret at any checkpoint is exact.
    """

    id = "bandits.episodic_mdp"
    family = "bandits"
    title = "Layered episodic MDP with known transitions: stochastic or regime-switching losses"
    summary = "H layers of S states, A actions, drawn per seed; Bernoulli losses, fixed or switching regimes."
    params = (
        Param("layers", "int", 3, "Number of layers H (steps per episode).", low=1, high=50),
        Param("states", "int", 2, "States per layer S.", low=1, high=50),
        Param("actions", "int", 2, "Actions per state A.", low=2, high=50),
        Param(
            "losses",
            "choice",
            "stochastic",
            "stochastic: Bernoulli losses with fixed means m; adversarial: means m or 1 - m, "
            "drawn by a coin every `period` episodes.",
            choices=("stochastic", "adversarial"),
        ),
        Param(
            "gap",
            "float",
            0.8,
            "Mean loss of every non-best action minus that of the best one.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "period", "int", 5, "adversarial: episodes per regime draw.", low=1, high=100_000_000
        ),
        Param(
            "bias",
            "float",
            0.6,
            "adversarial: probability that a draw picks regime A (means m), not B (1 - m).",
            low=0.0,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        self.layers, self.states, self.actions = (
            params["layers"],
            params["states"],
            params["actions"],
        )
        self.adversarial = params["losses"] == "adversarial"
        self.period = params["period"]
        f64 = torch.float64
        self._gen = generator(device, seed, PROBLEM_STREAM)
        shape = (seeds, self.layers, self.states, self.actions)
        self.initial = self._simplex((seeds, self.states))
        self.transitions = self._simplex(
            (seeds, self.layers - 1, self.states, self.actions, self.states)
        )
        best = torch.rand(shape, generator=self._gen, device=device, dtype=f64).argmax(
            -1, keepdim=True
        )
        gap = params["gap"]
        self.means = torch.full(shape, 0.5 + gap / 2, dtype=f64, device=device)
        self.means.scatter_(-1, best, 0.5 - gap / 2)
        self.cumulative = torch.zeros(shape, dtype=f64, device=device)
        self.learner_total = torch.zeros(seeds, dtype=f64, device=device)
        self.episodes = 0
        self.regime_b = torch.zeros((seeds, 1, 1, 1), dtype=torch.bool, device=device)

    def _simplex(self, shape) -> torch.Tensor:
        u = torch.rand(shape, generator=self._gen, device=self.device, dtype=torch.float64)
        e = u.clamp_min_(1e-300).log_().neg_()
        return e / e.sum(-1, keepdim=True)

    def current_means(self) -> torch.Tensor:
        return torch.where(self.regime_b, 1.0 - self.means, self.means)

    def losses(self) -> torch.Tensor:
        """The next episode's realised loss table [seeds, H, S, A] (added to the ledger)."""
        self.episodes += 1
        if self.adversarial and (self.episodes - 1) % self.period == 0:
            coin = torch.rand(
                (self.seeds, 1, 1, 1), generator=self._gen, device=self.device, dtype=torch.float64
            )
            self.regime_b = coin >= self.p["bias"]
        u = torch.rand(
            self.means.shape, generator=self._gen, device=self.device, dtype=torch.float64
        )
        table = (u < self.current_means()).to(torch.float64)
        self.cumulative += table
        return table

    def charge(self, occupancy: torch.Tensor, policy: torch.Tensor, table: torch.Tensor) -> None:
        """Adds the learner's expected loss of this episode: on the realised table when the
        comparator is the best policy in hindsight, on the means when it is the optimal policy."""
        self.learner_total += policy_loss(
            occupancy, policy, table if self.adversarial else self.means
        )

    def comparator(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(total loss [seeds], actions [seeds, H, S]) of the comparator over the episodes so far."""
        if self.adversarial:
            return best_policy(self.initial, self.transitions, self.cumulative)
        value, actions = best_policy(self.initial, self.transitions, self.means)
        return value * self.episodes, actions

    def regret(self) -> torch.Tensor:
        return self.learner_total - self.comparator()[0]

    def start_states(self) -> torch.Tensor:
        """s_0 ~ rho for every seed [seeds], from the problem's stream: one uniform per seed
        whatever the learner does, so learners on the same seed share these draws."""
        return sample_categorical(self.initial, self._gen)

    def next_states(self, h: int, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """s_{h+1} ~ P_h(.|s_h, a_h) [seeds], from the problem's stream."""
        seeds = torch.arange(self.seeds, device=self.device)
        return sample_categorical(self.transitions[seeds, h, states, actions], self._gen)
