"""A contextual bandit made from a classification problem, with exact policy values."""

from __future__ import annotations

import torch

from engine.labs.rl_offpolicy.estimators import policy_value
from engine.params import Param
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator

# Logged rounds are drawn from a stream of their own, so the problem's structure (contexts,
# labels, logging policy) does not change when the number of logged rounds does.
LOGGING_STREAM = 11


def softmax_policy(logits: torch.Tensor, temperature: float, uniform_mix: float) -> torch.Tensor:
    """π(a|x) = (1 − ε) softmax(logits / temperature) + ε / K over the last axis."""
    k = logits.shape[-1]
    return (1 - uniform_mix) * torch.softmax(logits / temperature, -1) + uniform_mix / k


class ClassificationBandit(Problem):
    """The supervised-to-bandit conversion: K classes become K actions.

    N contexts x_j ∈ R^d, each with a label y_j (classes in turn, y_j = j mod K), drawn as
    x_j = μ_{y_j} + ε_j with class means μ_c ~ N(0, s² I) and ε_j ~ N(0, I). A round draws
    a context uniformly from this finite set, an action a ~ π0(·|x), and the reward
    r(x, a) = 1[a = y] (exact, no noise). Every policy is a table π [N, K] over the
    context set, so its true value is exact:

        V(π) = (1/N) Σ_j π(y_j | x_j).

    The logging policy is a softened nearest-mean classifier,
    π0 = (1 − ε) softmax(ℓ / τ0) + ε/K with ℓ_a(x) = x·μ_a − |μ_a|²/2; ε > 0 keeps every
    propensity positive. Features given to learners are φ(x) = (x, 1).

    The structure comes from the run's seed; each seed of the batch logs its own rounds
    (`log`), from a stream of its own, so two algorithms with the same seed see the same
    logged data. Everything is drawn in float64 and then cast to the run's dtype.
    """

    id = "rl.classification_bandit"
    family = "rl"
    title = "Contextual bandit from a classification problem"
    summary = "K-class Gaussian blobs as a K-armed contextual bandit; policy values exact over the context set."
    params = (
        Param("contexts", "int", 200, "Size N of the finite context set.", low=2, high=100_000),
        Param("features", "int", 5, "Dimension d of a context.", low=1, high=1000),
        Param("actions", "int", 5, "Classes K, one action each.", low=2, high=100),
        Param(
            "separation",
            "float",
            1.0,
            "Standard deviation s of the class means (larger: easier classes).",
            low=0.0,
            high=100.0,
        ),
        Param("logged_rounds", "int", 100, "Rounds n each seed logs.", low=1, high=1_000_000),
        Param(
            "logging_temperature",
            "float",
            0.5,
            "τ0 of the logging policy's softmax (larger: closer to uniform).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "logging_uniform",
            "float",
            0.02,
            "ε mixed uniformly into the logging policy (keeps propensities > 0).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        n, d, k = params["contexts"], params["features"], params["actions"]
        g = generator("cpu", seed, PROBLEM_STREAM)
        means = params["separation"] * torch.randn(k, d, generator=g, dtype=torch.float64)
        labels = torch.arange(n) % k
        contexts = means[labels] + torch.randn(n, d, generator=g, dtype=torch.float64)
        logits = contexts @ means.T - 0.5 * (means * means).sum(-1)
        self.k, self.n_contexts = k, n
        self.labels = labels.to(device)
        self.reward = torch.nn.functional.one_hot(labels, k).to(
            device=device, dtype=dtype
        )  # r(x_j, a) [N, K]
        self.features = torch.cat([contexts, torch.ones(n, 1, dtype=torch.float64)], 1).to(
            device=device, dtype=dtype
        )
        self.class_logits = logits.to(device=device, dtype=dtype)  # ℓ [N, K]
        self.logging = softmax_policy(
            logits, params["logging_temperature"], params["logging_uniform"]
        ).to(device=device, dtype=dtype)  # π0 [N, K]
        self.rounds = params["logged_rounds"]

    def value(self, policy: torch.Tensor) -> torch.Tensor:
        """Exact V(π) for a policy table [..., N, K]."""
        return policy_value(policy, self.reward)

    def log(self, seeds: int | None = None) -> dict[str, torch.Tensor]:
        """Each seed's logged rounds: `context` index j_i, `action` a_i, `reward` r_i and
        `propensity` π0(a_i|x_i), each [seeds, n]."""
        seeds = self.seeds if seeds is None else seeds
        g = generator("cpu", self.seed, LOGGING_STREAM)
        n = self.rounds
        context = torch.randint(self.n_contexts, (seeds, n), generator=g)
        logging = self.logging.to("cpu", torch.float64)
        action = torch.multinomial(logging[context.reshape(-1)], 1, generator=g).reshape(seeds, n)
        context, action = context.to(self.device), action.to(self.device)
        return {
            "context": context,
            "action": action,
            "reward": self.reward[context, action],
            "propensity": self.logging[context, action],
        }
