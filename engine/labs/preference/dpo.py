from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.labs.preference.problems import PreferencePairs
from engine.params import Param
from engine.registry import Algorithm

DPO_METRICS = ("loss", "reward_margin", "chosen_logp", "rejected_logp", "kl_to_reference", "true_reward",
               "distance_to_optimum")


class DPO(Algorithm):
    """Direct Preference Optimization (Rafailov, Sharma, Mitchell, Ermon, Manning & Finn,
    "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", 2023).

    With the implicit reward r̂(y) = β log πθ(y)/π_ref(y), each labelled pair (y_w ≻ y_l)
    costs the Bradley–Terry negative log-likelihood of its label (the paper's Eq. 7):

        h(y_w, y_l) = log πθ(y_w)/π_ref(y_w) − log πθ(y_l)/π_ref(y_l)
        L(θ) = − E_(y_w, y_l) [ log σ(β h(y_w, y_l)) ]
        θ ← θ − lr · optimizer(∇θ L)

    L is the Bradley–Terry likelihood of the reward β log πθ/π_ref (Section 5), so with
    noiseless labels and every pair covered its minimiser is the KL-regularised optimum
    π*(y) ∝ π_ref(y) exp(r(y)/β) (Eq. 4). Flipped labels move the minimiser away from π*.

    Departures from the paper: the policy is tabular, πθ = softmax(θ) over the K responses
    of a single prompt, instead of a language model, initialised at θ = log π_ref (the SFT
    model of the paper); in population mode the expectation over pairs is computed
    exactly instead of over a finite dataset. Seeds are a batch: one loss summed over
    seeds, whose parameters never interact. A step's metrics describe the policy that
    step's loss was computed on, before its update, as a trainer logs a batch.

    Metrics: `reward_margin` is the weighted mean of r̂(y_w) − r̂(y_l) (TRL's
    rewards/margins); `chosen_logp` / `rejected_logp` the weighted mean of log πθ(y_w) and
    log πθ(y_l); `kl_to_reference` the exact KL(πθ ‖ π_ref); `true_reward` E_πθ[r];
    `distance_to_optimum` the total variation between πθ and π*.
    """

    id = "preference.dpo"
    family = "preference"
    paper = "Direct Preference Optimization: Your Language Model is Secretly a Reward Model"
    summary = "Logistic loss on the implicit reward β log π/π_ref of chosen minus rejected."
    problems = ("preference.tabular_bt",)
    plot = "curves"
    metrics = DPO_METRICS
    params = (
        Param("beta", "float", 0.1, "β: strength of the KL penalty to π_ref; scales the implicit reward.",
              low=0.0, low_open=True, high=1000.0),
        Param("lr", "float", 0.1, "Learning rate on the policy logits.", low=0.0, low_open=True, high=1e6),
        Param("optimizer", "choice", "adam", "Optimizer on the policy logits.", choices=("sgd", "adam")),
    )

    def run(self, steps, rec):
        prob = self.problem
        beta = self.p["beta"]
        log_reference = prob.log_reference.to(device=self.device, dtype=self.dtype)
        rewards = prob.rewards.to(device=self.device, dtype=self.dtype)
        optimum = prob.optimal_policy(beta).to(device=self.device, dtype=self.dtype)
        self.logits = log_reference.expand(self.seeds, -1).clone().requires_grad_(True)
        optimizer_cls = torch.optim.Adam if self.p["optimizer"] == "adam" else torch.optim.SGD
        optimizer = optimizer_cls([self.logits], lr=self.p["lr"])
        for t in range(1, steps + 1):
            pairs = prob.preference_pairs()
            log_policy = torch.log_softmax(self.logits, dim=1)
            log_ratio = log_policy - log_reference
            loss, margin = dpo_loss(log_ratio, pairs, beta)
            optimizer.zero_grad()
            loss.sum().backward()
            if rec.should_record(t):
                with torch.no_grad():
                    rec.metrics(t, {
                        "loss": loss,
                        "reward_margin": (pairs.weight * margin).sum(1),
                        "chosen_logp": (pairs.weight * log_policy.gather(1, pairs.chosen)).sum(1),
                        "rejected_logp": (pairs.weight * log_policy.gather(1, pairs.rejected)).sum(1),
                        **policy_metrics(log_policy, log_reference, rewards, optimum),
                    })
            optimizer.step()
            rec.progress(t)

    def policy(self) -> torch.Tensor:
        """πθ [seeds, K] as the run left it."""
        return torch.softmax(self.logits.detach(), dim=1)


def dpo_loss(log_ratio: torch.Tensor, pairs: PreferencePairs, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-seed DPO loss [seeds] and each pair's implicit reward margin β h [seeds, n].

    log_ratio [seeds, K] is log πθ − log π_ref for every response.
    """
    margin = beta * (log_ratio.gather(1, pairs.chosen) - log_ratio.gather(1, pairs.rejected))
    # logsigmoid stays finite where σ(β h) underflows.
    loss = -(pairs.weight * F.logsigmoid(margin)).sum(1)
    return loss, margin


def policy_metrics(log_policy: torch.Tensor, log_reference: torch.Tensor, rewards: torch.Tensor,
                   optimum: torch.Tensor) -> dict[str, torch.Tensor]:
    """Exact functionals of a tabular policy [seeds, K]: KL to π_ref, E_π[r], TV to π*."""
    policy = log_policy.exp()
    return {
        "kl_to_reference": (policy * (log_policy - log_reference)).sum(1),
        "true_reward": policy @ rewards,
        "distance_to_optimum": 0.5 * (policy - optimum).abs().sum(1),
    }
