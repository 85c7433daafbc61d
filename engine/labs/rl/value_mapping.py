"""Q-learning, log Q-learning and orchestrated value mappings over reward channels."""

from __future__ import annotations

import torch

from engine.labs.bandits.base import sample_categorical
from engine.labs.rl.gridworld import epsilon_greedy
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

MAPPINGS = ("identity", "log", "mixed")


def log_map(q: torch.Tensor, c: float, d: float) -> torch.Tensor:
    """f(x) = c log x + d."""
    return c * torch.log(q) + d


def log_unmap(q_tilde: torch.Tensor, c: float, d: float) -> torch.Tensor:
    """f⁻¹(y) = exp((y − d)/c)."""
    return torch.exp((q_tilde - d) / c)


def mapped_update(
    q_tilde: torch.Tensor,
    q_tilde_next: torch.Tensor,
    reward: torch.Tensor,
    discount: torch.Tensor,
    is_log: torch.Tensor,
    beta_reg: float,
    beta_f: float,
    c: float,
    d: float,
    floor: float,
):
    """One orchestrated update per channel, on mapped values [..., J] (one per channel).

    Q_j = f_j⁻¹(Q̃_j(s, a)), U_j = r_j + γ f_j⁻¹(Q̃_j(s', ã)), Û_j = Q_j + β_reg (U_j − Q_j)
    (floored at `floor` on log channels), Q̃_j(s, a) ← Q̃_j(s, a) + β_f (f_j(Û_j) − Q̃_j(s, a)).
    `discount` is γ, or 0 where s' is terminal; returns the new Q̃_j(s, a).
    """
    unmap = lambda y: torch.where(is_log, log_unmap(y, c, d), y)  # noqa: E731
    q = unmap(q_tilde)
    target = reward + discount * unmap(q_tilde_next)
    averaged = q + beta_reg * (target - q)
    averaged = torch.where(is_log, averaged.clamp_min(floor), averaged)
    mapped = torch.where(is_log, log_map(averaged.clamp_min(floor), c, d), averaged)
    return q_tilde + beta_f * (mapped - q_tilde)


class ValueMapping(Algorithm):
    """Q-learning on mapped values over reward channels: Q-learning, log Q-learning, or a
    mixed map with the reward split into channels by scale.

    Paper: "Orchestrated Value Mapping for Reinforcement Learning". The reward is split
    into channels, r = Σ_j λ_j r_j; channel j keeps a table Q̃_j in the space of its map
    f_j, and Q = Σ_j λ_j f_j⁻¹(Q̃_j). On a transition (s, a, r, s') with ã = argmax_a Q(s', a):

        U_j = r_j + γ f_j⁻¹(Q̃_j(s', ã))                       (target, regular space)
        Û_j = f_j⁻¹(Q̃_j(s, a)) + β_reg (U_j − f_j⁻¹(Q̃_j(s, a)))  (averaged in regular space)
        Q̃_j(s, a) ← Q̃_j(s, a) + β_f (f_j(Û_j) − Q̃_j(s, a))    (moved in mapped space)

    mapping = identity: one channel, f = id: Q-learning with step β_reg β_f.
    mapping = log: two channels r⁺ = max(r, 0), r⁻ = max(−r, 0) with λ = (1, −1) and
    f(x) = c log x + d (log Q-learning, van Seijen et al.'s polar decomposition).
    mapping = mixed: four channels, the small-scale reward's r⁺, r⁻ with the log map and
    the large-scale reward's r⁺, r⁻ with the identity (the problem reports the two
    rewards apart, as sources the designer knows).

    Departures: Û_j of a log channel is floored at `log_floor` before f (the authors' code
    floors at 0.01687 ≈ 0.96^100) — a channel whose true value is below the floor is
    learned as the floor; the tables start at Q_j = 0 (f_j⁻¹ of f_j(log_floor) on log
    channels); the behaviour is ε-greedy on Q; tabular, no networks or replay.
    """

    id = "rl.value_mapping"
    family = "rl"
    paper = "Orchestrated Value Mapping for Reinforcement Learning"
    summary = "Q-learning vs log Q-learning vs a mixed log/identity map over reward channels; error to Q*, return."
    params = (
        Param(
            "mapping",
            "choice",
            "log",
            "identity: Q-learning; log: log Q-learning on r⁺, r⁻; "
            "mixed: log on the small rewards' channels, identity on the large ones'.",
            choices=MAPPINGS,
        ),
        Param(
            "beta_reg",
            "float",
            0.5,
            "Step β_reg of the average in regular space.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "beta_f",
            "float",
            0.2,
            "Step β_f of the move in mapped space.",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param(
            "c",
            "float",
            0.5,
            "Scale c of the log map c log x + d.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param("d", "float", 0.0, "Offset d of the log map.", low=-100.0, high=100.0),
        Param(
            "log_floor",
            "float",
            1e-4,
            "Floor of Û on log channels (keeps log finite).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param("epsilon", "float", 0.2, "ε of the ε-greedy behaviour on Q.", low=0.0, high=1.0),
    )
    problems = ("rl.reward_scales",)
    plot = "curves"
    metrics = ("q_error", "greedy_return", "return_gap", "average_reward")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self._gen = generator(device, seed, ALGORITHM_STREAM)
        mapping = params["mapping"]
        if mapping == "identity":
            weights, logs = [1.0], [False]
        elif mapping == "log":
            weights, logs = [1.0, -1.0], [True, True]
        else:
            weights, logs = [1.0, -1.0, 1.0, -1.0], [True, True, False, False]
        self.weights = torch.tensor(weights, dtype=dtype, device=device)
        self.is_log = torch.tensor(logs, device=device)
        start = torch.where(
            self.is_log,
            log_map(torch.tensor(params["log_floor"], dtype=dtype), params["c"], params["d"]),
            torch.zeros((), dtype=dtype),
        ).to(device)
        # Q̃ [seeds, S, A, J]
        self.q_tilde = start.expand(seeds, problem.states, problem.actions, len(weights)).clone()

    def channel_rewards(self, small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
        """r_j per seed [seeds, J], with Σ_j λ_j r_j = small + large."""
        mapping = self.p["mapping"]
        if mapping == "identity":
            return (small + large).unsqueeze(1)
        if mapping == "log":
            r = small + large
            return torch.stack([r.clamp_min(0), (-r).clamp_min(0)], 1)
        return torch.stack(
            [small.clamp_min(0), (-small).clamp_min(0), large.clamp_min(0), (-large).clamp_min(0)],
            1,
        )

    def q_values(self) -> torch.Tensor:
        """Q = Σ_j λ_j f_j⁻¹(Q̃_j), [seeds, S, A]."""
        p = self.p
        regular = torch.where(self.is_log, log_unmap(self.q_tilde, p["c"], p["d"]), self.q_tilde)
        return (regular * self.weights).sum(-1)

    def run(self, steps: int, rec) -> None:
        prob, p = self.problem, self.p
        rows = torch.arange(self.seeds, device=self.device)
        state = prob.reset(self.seeds)
        total_reward = torch.zeros(self.seeds, dtype=self.dtype, device=self.device)
        gamma = torch.tensor(prob.discount, dtype=self.dtype, device=self.device)
        for t in range(1, steps + 1):
            q = self.q_values()
            action = sample_categorical(epsilon_greedy(q[rows, state], p["epsilon"]), self._gen)
            nxt, small, large, go_on = prob.step(state, action)
            greedy_next = q[rows, nxt].argmax(-1)
            self.q_tilde[rows, state, action] = mapped_update(
                self.q_tilde[rows, state, action],
                self.q_tilde[rows, nxt, greedy_next],
                self.channel_rewards(small, large),
                gamma,
                self.is_log,
                p["beta_reg"],
                p["beta_f"],
                p["c"],
                p["d"],
                p["log_floor"],
            )
            total_reward += small + large
            state = go_on
            if rec.should_record(t):
                q = self.q_values()
                greedy = torch.nn.functional.one_hot(q.argmax(-1).cpu(), prob.actions)
                value = prob.policy_return(greedy).to(device=self.device, dtype=self.dtype)
                optimal = prob.optimal_return.to(device=self.device, dtype=self.dtype)
                rec.metrics(
                    t,
                    {
                        "q_error": (q - prob.q_star).pow(2).mean((1, 2)).sqrt(),
                        "greedy_return": value,
                        "return_gap": optimal - value,
                        "average_reward": total_reward / t,
                    },
                )
            rec.progress(t)
