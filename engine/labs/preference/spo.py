"""SPO: self-play against one's own samples, rewarded by the win rate; reaches the minimax winner."""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

SPO_METRICS = (
    "exploitability",
    "last_exploitability",
    "distance_to_minimax",
    "last_distance_to_minimax",
    "self_play_regret",
    "win_rate",
    "kl_to_reference",
)


class SPO(Algorithm):
    """Self-Play Preference Optimization (Swamy, Dann, Kidambi, Wu & Agarwal,
    "A Minimaximalist Approach to Reinforcement Learning from Human Feedback", 2024).

    The minimax winner of a preference P is the Nash equilibrium of the symmetric
    zero-sum game between two policies; by the symmetry, one policy playing against
    itself suffices (the paper's Algorithm 1): at every round the reward of a response is
    its win rate against the current policy's own samples, and a no-regret learner
    updates the policy on that reward:

        r_t(y) = P(y ≻ π_t) = Σ_y' P[y, y'] π_t(y')       (exact), or
        r̂_t(y) = (1/N) Σ_j 1[y ≻ ξ_j],  ξ_j ~ π_t,  labels ~ Bernoulli(P[y, ξ_j])  (sampled)
        π_{t+1}(y) ∝ π_t(y) exp(η r_t(y))                   (Hedge / multiplicative weights)
        π̄_T = (1/T) Σ_t π_t.

    Since E_{π_t}[r_t] = π_tᵀ P π_t = 1/2, the learner's regret after T rounds is
    R_T = max_y Σ_t r_t(y) − T/2, and the exploitability of the average iterate is exactly
    max_y P(y ≻ π̄_T) − 1/2 = R_T / T (exact rewards): Hedge's bound
    R_T ≤ log(1/min π_1)/η + ηT/8 drives π̄_T to the minimax winner (the paper's
    Theorem: self-play with a no-regret algorithm gives an ε-minimax winner with
    ε = Regret/T). The last iterate need not converge (on rock–paper–scissors it cycles).

    Departures from the paper: one prompt with K responses and a tabular policy instead of
    trajectories and a neural policy; the no-regret learner is Hedge (the online learner
    the theorem analyses) instead of PPO/SAC; in sampled mode every response is compared
    with the N samples of π_t (a rater queried on the full table) so that Hedge gets an
    unbiased estimate of the whole reward vector, where the paper rewards only the sampled
    trajectories, by their wins against the other samples.

    Metrics: `exploitability` and `distance_to_minimax` (total variation to the exact
    minimax winner) of the average iterate π̄_t; `last_exploitability` and
    `last_distance_to_minimax` of π_t; `self_play_regret` R_t/t of the exact rewards;
    `win_rate` P(π̄_t ≻ π_ref); `kl_to_reference` KL(π_t ‖ π_ref). The policy starts at π_ref.
    """

    id = "preference.spo"
    family = "preference"
    paper = "A Minimaximalist Approach to Reinforcement Learning from Human Feedback"
    summary = "Self-play: reward = win rate against the policy's own samples; Hedge step; average → minimax winner."
    problems = ("preference.intransitive",)
    plot = "curves"
    metrics = SPO_METRICS
    params = (
        Param(
            "eta",
            "float",
            0.5,
            "η: Hedge step size on the win-rate reward.",
            low=0.0,
            low_open=True,
            high=1e4,
        ),
        Param(
            "mode",
            "choice",
            "population",
            "population: exact win rates against π_t; sampled: win rates "
            "against N samples of π_t with Bernoulli labels.",
            choices=("population", "sampled"),
        ),
        Param(
            "samples",
            "int",
            16,
            "Samples N of π_t per round and seed (sampled mode).",
            low=1,
            high=100_000,
        ),
    )

    def run(self, steps, rec):
        prob = self.problem
        eta, sampled, n = self.p["eta"], self.p["mode"] == "sampled", self.p["samples"]
        gen = generator(self.device, self.seed, ALGORITHM_STREAM)
        log_reference = prob.reference.log()
        logits = log_reference.expand(self.seeds, -1).clone()
        played_sum = torch.zeros_like(logits)
        cumulative_reward = torch.zeros_like(logits)
        for t in range(1, steps + 1):
            policy = torch.softmax(logits, dim=1)
            played_sum += policy
            exact = prob.win_rates(policy)
            cumulative_reward += exact
            reward = self._sampled_win_rates(policy, n, gen) if sampled else exact
            if rec.should_record(t):
                average = played_sum / t
                rec.metrics(
                    t,
                    {
                        "exploitability": prob.exploitability(average),
                        "last_exploitability": prob.exploitability(policy),
                        "distance_to_minimax": 0.5 * (average - prob.minimax_winner).abs().sum(1),
                        "last_distance_to_minimax": 0.5
                        * (policy - prob.minimax_winner).abs().sum(1),
                        "self_play_regret": cumulative_reward.max(dim=1).values / t - 0.5,
                        "win_rate": (average @ prob.preference) @ prob.reference,
                        "kl_to_reference": (
                            policy * (policy.clamp_min(1e-300).log() - log_reference)
                        ).sum(1),
                    },
                )
            logits = logits + eta * reward
            # Only differences of logits matter; recentring keeps them bounded over long runs.
            logits = logits - logits.max(dim=1, keepdim=True).values
            rec.progress(t)
        self.last_policy = torch.softmax(logits, dim=1)
        self.average_policy = played_sum / steps

    def _sampled_win_rates(self, policy, n, gen):
        """(1/N) Σ_j 1[y ≻ ξ_j] for every response y, ξ_j ~ π_t, [seeds, K]."""
        opponents = torch.multinomial(policy, n, replacement=True, generator=gen)
        win_probability = self.problem.preference[:, opponents].permute(1, 0, 2)
        wins = torch.rand(
            win_probability.shape, generator=gen, device=self.device, dtype=self.dtype
        )
        return (wins < win_probability).to(self.dtype).mean(dim=2)
