"""The loop and the metrics every preference-optimisation algorithm shares; each gives its loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.labs.preference.problems import PreferencePairs
from engine.params import Param
from engine.registry import Algorithm

PREFERENCE_METRICS = (
    "loss",
    "reward_margin",
    "chosen_logp",
    "rejected_logp",
    "kl_to_reference",
    "true_reward",
    "win_rate",
    "distance_to_optimum",
)
PREFERENCE_PROBLEMS = ("preference.tabular_bt", "preference.loglinear", "preference.token_mlp")

BETA = Param(
    "beta",
    "float",
    0.1,
    "β: strength of the KL penalty to π_ref; scales the implicit reward.",
    low=0.0,
    low_open=True,
    high=1000.0,
)
TRAINING_PARAMS = (
    Param(
        "lr",
        "float",
        0.1,
        "Learning rate on the policy parameters.",
        low=0.0,
        low_open=True,
        high=1e6,
    ),
    Param(
        "optimizer",
        "choice",
        "adam",
        "Optimizer on the policy parameters.",
        choices=("sgd", "adam"),
    ),
)


@dataclass(frozen=True)
class PreferenceBatch:
    """What a loss sees at one step, for every seed: the policy's log-probabilities and
    log-ratios log π_θ − log π_ref over all K responses [seeds, K], this step's labelled
    pairs, the log-ratios of their chosen and rejected responses [seeds, n], and the
    step t of `steps` (for schedules)."""

    log_policy: torch.Tensor
    log_ratio: torch.Tensor
    pairs: PreferencePairs
    chosen_logratio: torch.Tensor
    rejected_logratio: torch.Tensor
    step: int
    steps: int

    @classmethod
    def build(cls, log_policy, log_reference, pairs, step, steps) -> PreferenceBatch:
        log_ratio = log_policy - log_reference
        return cls(
            log_policy,
            log_ratio,
            pairs,
            log_ratio.gather(1, pairs.chosen),
            log_ratio.gather(1, pairs.rejected),
            step,
            steps,
        )

    def chosen_logp(self) -> torch.Tensor:
        """log π_θ(y_w) of every pair, [seeds, n]."""
        return self.log_policy.gather(1, self.pairs.chosen)

    def kl_to_reference(self) -> torch.Tensor:
        """KL(π_θ ‖ π_ref) exactly, [seeds]; a response of probability 0 adds 0."""
        policy = self.log_policy.exp()
        return torch.where(policy > 0, policy * self.log_ratio, torch.zeros_like(policy)).sum(1)


class PreferenceOptimisation(Algorithm):
    """Base of the DPO family: a policy from the problem, trained on labelled pairs.

    Each step draws this step's pairs from the problem, computes the loss the subclass
    defines on the log-ratios of the current policy, and takes one optimizer step on the
    policy parameters (tabular logits, θ of a log-linear policy, or the flat weights of
    the token MLP, as the problem says), which start at π_ref. Seeds are a batch: one
    loss summed over seeds, whose parameters never interact. A step's metrics describe
    the policy that step's loss was computed on, before its update, as a trainer logs a
    batch.

    Metrics: `reward_margin` is the weighted mean of the implicit reward margin
    β (log π(y_w)/π_ref(y_w) − log π(y_l)/π_ref(y_l)) (TRL's rewards/margins);
    `chosen_logp` / `rejected_logp` the weighted mean of log π(y_w) and log π(y_l), whose
    drift from their first value is the drift from the reference; `kl_to_reference` the
    exact KL(π ‖ π_ref); `true_reward` E_π[r]; `win_rate` the exact probability that
    y ~ π beats y' ~ π_ref under the clean Bradley–Terry model, Σ π(y) π_ref(y') σ(r_y − r_y');
    `distance_to_optimum` the total variation between π and `target_policy()`.

    Not registered itself (no id); subclasses give `pair_losses` (or `loss`).
    """

    family = "preference"
    problems = PREFERENCE_PROBLEMS
    plot = "curves"
    metrics = PREFERENCE_METRICS
    params = (BETA,) + TRAINING_PARAMS

    def pair_losses(self, batch: PreferenceBatch) -> torch.Tensor:
        """The loss of every pair, [seeds, n]."""
        raise NotImplementedError

    def loss(self, batch: PreferenceBatch) -> torch.Tensor:
        """The loss of every seed, [seeds]: the weighted mean of the pair losses."""
        return (batch.pairs.weight * self.pair_losses(batch)).sum(1)

    def target_policy(self) -> torch.Tensor:
        """The policy [K] that `distance_to_optimum` measures against: by default the
        KL-regularised optimum π_ref exp(r/β)/Z that the DPO family aims at."""
        return self.problem.optimal_policy(self.p["beta"])

    def run(self, steps, rec):
        prob = self.problem
        self.theta = prob.initial_parameters().requires_grad_(True)
        optimizer_cls = torch.optim.Adam if self.p["optimizer"] == "adam" else torch.optim.SGD
        optimizer = optimizer_cls([self.theta], lr=self.p["lr"])
        target = self.target_policy().to(device=self.device, dtype=self.dtype)
        # win_rate = Σ_y π(y) Σ_y' σ(r_y − r_y') π_ref(y'): the inner sum is fixed.
        win_against_reference = prob.win_probability() @ prob.reference
        for t in range(1, steps + 1):
            pairs = prob.preference_pairs()
            batch = PreferenceBatch.build(
                prob.log_policy(self.theta), prob.log_reference, pairs, t, steps
            )
            loss = self.loss(batch)
            optimizer.zero_grad()
            loss.sum().backward()
            if rec.should_record(t):
                with torch.no_grad():
                    rec.metrics(t, self.step_metrics(batch, loss, target, win_against_reference))
            optimizer.step()
            rec.progress(t)

    def step_metrics(self, batch: PreferenceBatch, loss, target, win_against_reference) -> dict:
        weight = batch.pairs.weight
        policy = batch.log_policy.exp()
        margin = self.p["beta"] * (batch.chosen_logratio - batch.rejected_logratio)
        return {
            "loss": loss,
            "reward_margin": (weight * margin).sum(1),
            "chosen_logp": (weight * batch.chosen_logp()).sum(1),
            "rejected_logp": (weight * batch.log_policy.gather(1, batch.pairs.rejected)).sum(1),
            "kl_to_reference": batch.kl_to_reference(),
            "true_reward": policy @ self.problem.rewards,
            "win_rate": policy @ win_against_reference,
            "distance_to_optimum": 0.5 * (policy - target).abs().sum(1),
        }

    @property
    def logits(self) -> torch.Tensor:
        """θᵀφ(y) [seeds, K] as the run left it (the logits themselves on a tabular problem)."""
        return self.problem.logits(self.theta.detach())

    def policy(self) -> torch.Tensor:
        """π_θ [seeds, K] as the run left it."""
        return torch.softmax(self.logits, dim=1)
