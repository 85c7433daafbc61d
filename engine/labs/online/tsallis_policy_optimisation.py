from __future__ import annotations

import math

import torch

from engine.labs.bandits.base import sample_categorical
from engine.labs.bandits.tsallis_inf import tsallis_weights
from engine.labs.online.episodic_mdp import deterministic_policy, state_occupancy
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


def dilated_bonus(
    bonus: torch.Tensor, transitions: torch.Tensor, policy: torch.Tensor
) -> torch.Tensor:
    """B_h(s, a) = b_h(s) + (1 + 1/H) sum_s' P_h(s'|s, a) sum_a' pi_{h+1}(a'|s') B_{h+1}(s', a'),
    B_{H-1}(s, a) = b_{H-1}(s): the dilated bonus [seeds, H, S, A] of per-state bonuses b [seeds, H, S]."""
    layers, actions = bonus.shape[1], policy.shape[-1]
    dilation = 1.0 + 1.0 / layers
    out = [bonus[:, -1].unsqueeze(-1).expand(-1, -1, actions)]
    for h in reversed(range(layers - 1)):
        ahead = (policy[:, h + 1] * out[-1]).sum(-1)
        out.append(
            bonus[:, h].unsqueeze(-1)
            + dilation * torch.einsum("nsat,nt->nsa", transitions[:, h], ahead)
        )
    return torch.stack(out[::-1], dim=1)


class TsallisPolicyOptimisation(Algorithm):
    """Policy optimisation with a 1/2-Tsallis regulariser in every state, importance-weighted
    loss-to-go estimates and a dilated exploration bonus, on an episodic MDP with known
    transitions (paper: "Best of Both Worlds Policy Optimization", Dann, Wei & Zimmert 2023).

    With C_t(s, .) = sum_{tau < t} (Qhat_tau(s, .) - B_tau(s, .)) (C_1 = 0), episode t:

        eta_t       = c / sqrt(t)
        pi_t(.|s)   = argmin_{p in simplex} <p, C_t(s, .)> - (4 / eta_t) sum_a sqrt(p_a)
                      (Tsallis-INF's weights in every state, Newton's method on x)
        mu_t,h(s)   = P(s_h = s | pi_t), exact from the known transitions
        play s_0, a_0, l_0, ..., s_{H-1}, a_{H-1}, l_{H-1} with a_h ~ pi_t(.|s_h)
        Qhat_t,h(s, a) = 1{(s_h, a_h) = (s, a)} L_h / (mu_t,h(s) pi_t(a|s)),  L_h = sum_{h' >= h} l_h'
        b_t,h(s)    = beta [ 4 (1/eta_t - 1/eta_{t-1}) (sum_a sqrt(pi_t(a|s)) - 1)
                             + (eta_t / 2) (H - h)^2 sum_a sqrt(pi_t(a|s)) (1 - pi_t(a|s)) / mu_t,h(s) ]
                      (1/eta_0 = 0)
        B_t         = dilated bonus of b_t (`dilated_bonus`: factor 1 + 1/H per layer ahead)
        C_{t+1}     = C_t + Qhat_t - B_t.

    Qhat is unbiased for Q^{pi_t}: E[Qhat_h(s, a)] = Q_h(s, a), in [0, H - h]. The regret
    decomposition the paper analyses (performance difference) is sum_s mu*(s) times the
    per-state FTRL regrets, so each state pays its FTRL bound where the comparator goes;
    b_t(s) is that bound: the penalty of the time-varying Tsallis regulariser,
    (1/eta_t - 1/eta_{t-1}) (psi(pi*) - psi(pi_t)) with psi = -4 sum sqrt, and the
    stability term (eta_t / 2) sum_a pi^{3/2} E[(Qhat - shift)^2], bounded by
    (eta_t / 2) (H - h)^2 sum_a sqrt(pi_a) (1 - pi_a) / mu(s). The dilated bonus (Luo, Wei
    & Lee 2021) turns these comparator-weighted terms into terms weighted by the learner's
    own occupancy. Both terms vanish as pi_t(.|s) concentrates on one action (they are at
    most a multiple of sum_{a != a*} sqrt(pi_t(a|s))): the self-bounding property behind
    the polylog(T) regret with stochastic losses, while against any loss sequence the
    regret stays O(sqrt(T)) up to factors polynomial in H, S, A.

    Departures. The paper gives the algorithm through its theorems; this is the algorithm
    its analysis runs (policy optimisation with the Tsallis regulariser, known
    transitions), with constants of our own: the learning rate is state-independent,
    eta_t = c / sqrt(t) with Tsallis-INF's c = 2 as default, where the paper tunes
    per-state rates; the bonus is the FTRL bound above with our constants, times `bonus`
    (0 removes the exploration bonus). The paper's bounds carry constants polynomial in
    H, S, A and are not drawn. The Shannon-entropy and log-barrier variants and the
    unknown-transition case are not implemented.

    Every tensor is float64 whatever the run's dtype (importance weights 1 / (mu pi) and
    the Newton solve need it).

    Recorded: cumulative_regret (the problem's: pseudo-regret against the optimal policy
    with stochastic losses, regret against the best fixed policy in hindsight with
    switching ones) and optimal_action_share, sum_{h,s} mu_t,h(s) pi_t(a*(s)|s) / H, the
    chance of the comparator's action at the states the learner reaches.
    """

    id = "bandits.tsallis_policy_optimisation"
    family = "bandits"
    paper = "Best of Both Worlds Policy Optimization"
    summary = "Tsallis-regularised policy optimisation, dilated bonus: polylog regret if stochastic, sqrt(T) if not."
    params = (
        Param(
            "learning_rate",
            "float",
            2.0,
            "Constant c of the rate eta_t = c / sqrt(t).",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param(
            "bonus",
            "float",
            1.0,
            "Multiplier beta of the exploration bonus b_t(s); 0 = no bonus.",
            low=0.0,
            high=100.0,
        ),
    )
    problems = ("bandits.episodic_mdp",)
    plot = "regret"
    metrics = ("cumulative_regret", "optimal_action_share")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self.gen = generator(device, seed, ALGORITHM_STREAM)
        prob = problem
        self.estimates = torch.zeros(
            (seeds, prob.layers, prob.states, prob.actions), dtype=torch.float64, device=device
        )  # C_t
        self.normaliser = None
        self.previous_inverse_rate = 0.0
        # (H - h)^2 bounds the square of a loss-to-go from layer h.
        self.to_go_range = (
            prob.layers - torch.arange(prob.layers, dtype=torch.float64, device=device)
        ).square()
        self.to_go_range = self.to_go_range.view(1, -1, 1)

    def rate(self, t: int) -> float:
        return self.p["learning_rate"] / math.sqrt(t)

    def policy(self, t: int) -> torch.Tensor:
        """pi_t [seeds, H, S, A], Tsallis-FTRL weights on C_t in every state."""
        pi, self.normaliser = tsallis_weights(self.estimates, self.rate(t), self.normaliser)
        return pi

    def play(self, pi: torch.Tensor, table: torch.Tensor):
        """One trajectory: states, actions [seeds, H] and losses-to-go L_h [seeds, H]."""
        prob, seeds = self.problem, torch.arange(self.seeds, device=self.device)
        states, actions, losses = [], [], []
        s = prob.start_states()
        for h in range(prob.layers):
            a = sample_categorical(pi[seeds, h, s], self.gen)
            states.append(s)
            actions.append(a)
            losses.append(table[seeds, h, s, a])
            if h < prob.layers - 1:
                s = prob.next_states(h, s, a)
        to_go = torch.stack(losses, dim=1).flip(1).cumsum(1).flip(1)
        return torch.stack(states, dim=1), torch.stack(actions, dim=1), to_go

    def update(
        self, t: int, pi: torch.Tensor, occupancy: torch.Tensor, states, actions, to_go
    ) -> None:
        prob = self.problem
        seeds = torch.arange(self.seeds, device=self.device).unsqueeze(1)
        layers = torch.arange(prob.layers, device=self.device).unsqueeze(0)
        reach = occupancy[seeds, layers, states] * pi[seeds, layers, states, actions]
        self.estimates[seeds, layers, states, actions] += to_go / reach
        if self.p["bonus"] > 0:
            eta = self.rate(t)
            roots = pi.sqrt()
            penalty = 4.0 * (1.0 / eta - self.previous_inverse_rate) * (roots.sum(-1) - 1.0)
            spread = (roots * (1.0 - pi)).sum(-1)
            stability = 0.5 * eta * self.to_go_range * spread / occupancy.clamp_min(1e-300)
            self.estimates -= dilated_bonus(
                self.p["bonus"] * (penalty + stability), prob.transitions, pi
            )
            self.previous_inverse_rate = 1.0 / eta

    def run(self, steps, rec):
        prob = self.problem
        for t in range(1, steps + 1):
            pi = self.policy(t)
            occupancy = state_occupancy(prob.initial, prob.transitions, pi)
            table = prob.losses()
            prob.charge(occupancy, pi, table)
            self.update(t, pi, occupancy, *self.play(pi, table))
            if rec.should_record(t):
                total, best_actions = prob.comparator()
                share = (
                    occupancy.unsqueeze(-1) * pi * deterministic_policy(best_actions, prob.actions)
                ).sum((1, 2, 3))
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": prob.learner_total - total,
                        "optimal_action_share": share / prob.layers,
                    },
                )
            rec.progress(t)
