"""Preference problems: comparisons between responses, labelled by a known reward.

Every problem here has one prompt, K responses with known rewards r, a reference policy
π_ref and a policy family π_θ that contains π_ref. The problem owns the parametrisation
(tabular logits, or θ with shared features) so that every loss runs on every problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.params import Param, ParamError
from engine.registry import Problem
from engine.seeding import PROBLEM_STREAM, generator


@dataclass(frozen=True)
class PreferencePairs:
    """Labelled comparisons for every seed: indices of the preferred (chosen, y_w) and
    dispreferred (rejected, y_l) responses, [seeds, n] each, and each comparison's weight
    in the loss, [seeds, n], summing to 1 over a seed's row."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    weight: torch.Tensor


@dataclass(frozen=True)
class UnpairedExamples:
    """Single responses marked desirable or undesirable, [seeds, m] each, with weights
    summing to 1 over a seed's row."""

    response: torch.Tensor
    desirable: torch.Tensor
    weight: torch.Tensor

    @classmethod
    def from_pairs(cls, pairs: PreferencePairs) -> UnpairedExamples:
        """Each comparison y_w ≻ y_l becomes two examples, y_w desirable and y_l
        undesirable, each with half the comparison's weight (how paired data is turned
        into binary feedback when only pairs exist)."""
        return cls(
            response=torch.cat([pairs.chosen, pairs.rejected], dim=1),
            desirable=torch.cat(
                [
                    torch.ones_like(pairs.chosen, dtype=torch.bool),
                    torch.zeros_like(pairs.rejected, dtype=torch.bool),
                ],
                dim=1,
            ),
            weight=0.5 * torch.cat([pairs.weight, pairs.weight], dim=1),
        )


COMPARISON_PARAMS = (
    Param(
        "mode",
        "choice",
        "population",
        "population: exact expectation over all pairs; "
        "sampled: a fresh minibatch of labelled pairs each step.",
        choices=("population", "sampled"),
    ),
    Param(
        "pairs",
        "int",
        64,
        "Comparisons drawn per step and seed (sampled mode).",
        low=1,
        high=1_000_000,
    ),
    Param(
        "label_flip",
        "float",
        0.0,
        "Probability ε that a label is reversed (noisy annotators).",
        low=0.0,
        high=0.5,
        high_open=True,
    ),
    Param(
        "data_responses",
        "int",
        0,
        "Only the first M responses are ever compared; the rest lie outside the data. 0 = all.",
        low=0,
        high=1000,
    ),
)


class PreferenceProblem(Problem):
    """What every preference problem provides; subclasses call `_define` in __init__.

    A comparison draws two distinct responses (y, y') from π_ref restricted to the
    responses in the data, and labels y preferred with probability σ(r_y − r_y'); with
    probability `label_flip` the label is then reversed, so y is preferred with probability

        p(y ≻ y') = (1 − ε) σ(r_y − r_y') + ε σ(r_y' − r_y).

    Identical pairs are never drawn: they carry no preference, and under any pairwise loss
    of a log-ratio difference they add a constant and no gradient.

    "population" mode is the exact expectation over comparisons: every ordered pair of
    distinct responses (y_w, y_l), weighted by the probability of drawing it as a labelled
    comparison. It is deterministic, so every seed sees the same loss. "sampled" mode
    draws a fresh minibatch of `pairs` comparisons per step and seed from the problem's
    own stream (common random numbers across algorithms run with the same seed).

    The policy is π_θ(y) ∝ exp(θᵀφ(y)) with features φ [K, P] (the identity for tabular
    logits); θ_ref gives π_ref, and θ for every seed starts there.
    """

    family = "preference"

    def _define(
        self,
        rewards: torch.Tensor,
        reference_parameters: torch.Tensor,
        features: torch.Tensor | None,
    ):
        """Fix the problem from float64 tensors: rewards [K], θ_ref [P], φ [K, P] (None = tabular)."""
        device, dtype = self.device, self.dtype
        self.k = rewards.numel()
        self.mode = self.p["mode"]
        self.label_flip = self.p["label_flip"]
        in_data = self.p["data_responses"] or self.k
        if in_data < 2 or in_data > self.k:
            raise ParamError(
                "problem.data_responses",
                f"must be 0 (all) or between 2 and the number of responses ({self.k}), got {in_data}",
            )
        self.features64 = torch.eye(self.k, dtype=torch.float64) if features is None else features
        self.tabular = features is None
        self.reference_parameters64 = reference_parameters
        self.rewards64 = rewards
        self.log_reference64 = torch.log_softmax(self.features64 @ reference_parameters, dim=0)
        self.rewards = rewards.to(device=device, dtype=dtype)
        self.features = self.features64.to(device=device, dtype=dtype)
        # Computed as the policy is, so that every log-ratio is exactly 0 at θ = θ_ref.
        self.log_reference = self.log_policy(self.initial_parameters()[:1])[0]
        self.reference = self.log_reference.exp()

        # Ordered pairs of distinct responses in the data and their probability of being drawn.
        first, second = torch.nonzero(~torch.eye(in_data, dtype=torch.bool), as_tuple=True)
        reference = self.log_reference64.exp()
        draw = reference[first] * reference[second]
        self._draw_probability64 = draw / draw.sum()
        gap = rewards[first] - rewards[second]
        self._first_preferred64 = (1.0 - self.label_flip) * torch.sigmoid(
            gap
        ) + self.label_flip * torch.sigmoid(-gap)
        self._first, self._second = first.to(device), second.to(device)
        self._rewards_on_device64 = rewards.to(device)
        self._draw_probability = self._draw_probability64.to(device)
        self._gen = generator(device, self.seed, PROBLEM_STREAM)
        self._population_pairs = None

    # -- the policy family ------------------------------------------------------------
    def initial_parameters(self) -> torch.Tensor:
        """θ_ref for every seed, [seeds, P]: the policy starts at π_ref."""
        theta = self.reference_parameters64.to(device=self.device, dtype=self.dtype)
        return theta.expand(self.seeds, -1).clone()

    def logits(self, parameters: torch.Tensor) -> torch.Tensor:
        """θᵀφ(y) for every seed and response, [seeds, K]."""
        if self.tabular:
            return parameters
        return parameters @ self.features.T

    def log_policy(self, parameters: torch.Tensor) -> torch.Tensor:
        """log π_θ(y) for every seed and response, [seeds, K]."""
        return torch.log_softmax(self.logits(parameters), dim=1)

    # -- what is known about the problem ----------------------------------------------
    def preference_probability(self, reward_gap: torch.Tensor) -> torch.Tensor:
        """p(y ≻ y') for reward gaps r_y − r_y', label flips included."""
        eps = self.label_flip
        return (1.0 - eps) * torch.sigmoid(reward_gap) + eps * torch.sigmoid(-reward_gap)

    def optimal_policy(self, beta: float) -> torch.Tensor:
        """π*(y) ∝ π_ref(y) exp(r_y / β), the maximiser of E_π[r] − β KL(π ‖ π_ref)."""
        return torch.softmax(self.log_reference + self.rewards / beta, dim=0)

    def win_probability(self) -> torch.Tensor:
        """[K, K]: the clean Bradley–Terry probability σ(r_y − r_y') that y beats y'."""
        return torch.sigmoid(self.rewards[:, None] - self.rewards[None, :])

    def population_comparisons(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The exact comparison distribution in float64 on the CPU: chosen [n], rejected [n]
        and the probability of each ordered (chosen, rejected) pair [n]."""
        # (y, y') is drawn in either order and then labelled y ≻ y', so its weight as
        # (chosen, rejected) is twice the ordered draw probability times p(y ≻ y').
        weight = 2.0 * self._draw_probability64 * self._first_preferred64
        return self._first.cpu(), self._second.cpu(), weight

    # -- the data ---------------------------------------------------------------------
    def preference_pairs(self) -> PreferencePairs:
        """This step's comparisons: the exact population, or a fresh minibatch per seed."""
        if self.mode == "population":
            return self._population()
        return self._sample()

    def _population(self) -> PreferencePairs:
        # The same every step: built once.
        if self._population_pairs is None:
            _, _, weight = self.population_comparisons()
            n = weight.numel()
            self._population_pairs = PreferencePairs(
                chosen=self._first.expand(self.seeds, n),
                rejected=self._second.expand(self.seeds, n),
                weight=weight.to(device=self.device, dtype=self.dtype).expand(self.seeds, n),
            )
        return self._population_pairs

    def _sample(self) -> PreferencePairs:
        s, n = self.seeds, self.p["pairs"]
        index = torch.multinomial(
            self._draw_probability, s * n, replacement=True, generator=self._gen
        ).view(s, n)
        first, second = self._first[index], self._second[index]
        gap = self._rewards_on_device64[first] - self._rewards_on_device64[second]
        # The clean Bradley–Terry label and the flip are drawn separately, so runs that
        # differ only in label_flip share their clean labels.
        clean = torch.rand(
            (s, n), generator=self._gen, device=self.device, dtype=torch.float64
        ) < torch.sigmoid(gap)
        flipped = (
            torch.rand((s, n), generator=self._gen, device=self.device, dtype=torch.float64)
            < self.label_flip
        )
        first_wins = clean ^ flipped
        return PreferencePairs(
            chosen=torch.where(first_wins, first, second),
            rejected=torch.where(first_wins, second, first),
            weight=torch.full((s, n), 1.0 / n, dtype=self.dtype, device=self.device),
        )


class TabularBradleyTerry(PreferenceProblem):
    """One prompt, K responses with known rewards r, compared under the Bradley–Terry model.

    The policy is tabular: one free logit per response, πθ = softmax(θ), starting at
    θ = log π_ref. Responses share nothing, so raising one logit never moves another
    response's log-ratio except through the normaliser.
    """

    id = "preference.tabular_bt"
    title = "Tabular Bradley–Terry preferences"
    summary = (
        "One prompt, K responses with known rewards; pairs from π_ref labelled by Bradley–Terry."
    )
    params = (
        Param(
            "rewards",
            "floats",
            [1.0, 0.5, 0.0, -0.5],
            "True reward r of each response.",
            low=-100.0,
            high=100.0,
            min_len=2,
            max_len=1000,
        ),
        Param(
            "reference",
            "floats",
            [],
            "Reference policy π_ref as positive weights, one per response, "
            "normalised to sum 1; empty = uniform.",
            low=0.0,
            low_open=True,
            high=1e6,
            min_len=0,
            max_len=1000,
        ),
    ) + COMPARISON_PARAMS

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        rewards = params["rewards"]
        weights = params["reference"] or [1.0] * len(rewards)
        if len(weights) != len(rewards):
            raise ParamError(
                "problem.reference",
                f"needs as many values as rewards ({len(rewards)}), got {len(weights)}",
            )
        weights = torch.tensor(weights, dtype=torch.float64)
        self._define(
            torch.tensor(rewards, dtype=torch.float64), torch.log(weights / weights.sum()), None
        )
