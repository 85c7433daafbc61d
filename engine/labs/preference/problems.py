"""Preference problems: comparisons between responses, labelled by a known reward."""

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


class TabularBradleyTerry(Problem):
    """One prompt, K responses with known rewards r, compared under the Bradley–Terry model.

    A comparison draws two distinct responses (y, y') from the reference policy π_ref and
    labels y preferred with probability σ(r_y − r_y'); with probability `label_flip` the
    label is then reversed, so y is preferred with probability

        p(y ≻ y') = (1 − ε) σ(r_y − r_y') + ε σ(r_y' − r_y).

    Identical pairs are never drawn: they carry no preference, and under any pairwise loss
    of a log-ratio difference they add a constant and no gradient.

    "population" mode is the exact expectation over comparisons: every ordered pair of
    distinct responses (y_w, y_l), weighted by the probability of drawing it as a labelled
    comparison. It is deterministic, so every seed sees the same loss. "sampled" mode
    draws a fresh minibatch of `pairs` comparisons per step and seed from the problem's
    own stream (common random numbers across algorithms run with the same seed).
    """

    id = "preference.tabular_bt"
    family = "preference"
    title = "Tabular Bradley–Terry preferences"
    summary = "One prompt, K responses with known rewards; pairs from π_ref labelled by Bradley–Terry."
    params = (
        Param("rewards", "floats", [1.0, 0.5, 0.0, -0.5], "True reward r of each response.",
              low=-100.0, high=100.0, min_len=2, max_len=1000),
        Param("reference", "floats", [], "Reference policy π_ref as positive weights, one per response, "
              "normalised to sum 1; empty = uniform.", low=0.0, low_open=True, high=1e6, min_len=0, max_len=1000),
        Param("mode", "choice", "population", "population: exact expectation over all pairs; "
              "sampled: a fresh minibatch of labelled pairs each step.", choices=("population", "sampled")),
        Param("pairs", "int", 64, "Comparisons drawn per step and seed (sampled mode).", low=1, high=1_000_000),
        Param("label_flip", "float", 0.0, "Probability ε that a label is reversed (noisy annotators).",
              low=0.0, high=0.5, high_open=True),
    )

    def __init__(self, params, seeds, device, dtype, seed):
        super().__init__(params, seeds, device, dtype, seed)
        rewards = params["rewards"]
        weights = params["reference"] or [1.0] * len(rewards)
        if len(weights) != len(rewards):
            raise ParamError("problem.reference",
                             f"needs as many values as rewards ({len(rewards)}), got {len(weights)}")
        self.k = len(rewards)
        self.mode = params["mode"]
        self.label_flip = params["label_flip"]
        self.rewards = torch.tensor(rewards, dtype=dtype, device=device)
        reference = torch.tensor(weights, dtype=torch.float64, device=device)
        reference = reference / reference.sum()
        self.reference = reference.to(dtype)
        self.log_reference = torch.log(reference).to(dtype)

        # Ordered pairs of distinct responses and their probability of being drawn.
        first, second = torch.nonzero(~torch.eye(self.k, dtype=torch.bool, device=device), as_tuple=True)
        draw = reference[first] * reference[second]
        self._first, self._second = first, second
        self._draw_probability = draw / draw.sum()
        self._first_preferred = self.preference_probability(self.rewards[first] - self.rewards[second])
        self._gen = generator(device, seed, PROBLEM_STREAM)

    def preference_probability(self, reward_gap: torch.Tensor) -> torch.Tensor:
        """p(y ≻ y') for reward gaps r_y − r_y', label flips included."""
        eps = self.label_flip
        return (1.0 - eps) * torch.sigmoid(reward_gap) + eps * torch.sigmoid(-reward_gap)

    def optimal_policy(self, beta: float) -> torch.Tensor:
        """π*(y) ∝ π_ref(y) exp(r_y / β), the maximiser of E_π[r] − β KL(π ‖ π_ref)."""
        return torch.softmax(self.log_reference + self.rewards / beta, dim=0)

    def preference_pairs(self) -> PreferencePairs:
        """This step's comparisons: the exact population, or a fresh minibatch per seed."""
        if self.mode == "population":
            return self._population()
        return self._sample()

    def _population(self) -> PreferencePairs:
        # (y, y') is drawn in either order and then labelled y ≻ y', so its weight as
        # (chosen, rejected) is twice the ordered draw probability times p(y ≻ y').
        weight = 2.0 * self._draw_probability * self._first_preferred
        n = weight.numel()
        return PreferencePairs(
            chosen=self._first.expand(self.seeds, n),
            rejected=self._second.expand(self.seeds, n),
            weight=weight.to(self.dtype).expand(self.seeds, n),
        )

    def _sample(self) -> PreferencePairs:
        s, n = self.seeds, self.p["pairs"]
        index = torch.multinomial(self._draw_probability, s * n, replacement=True, generator=self._gen).view(s, n)
        first, second = self._first[index], self._second[index]
        gap = (self.rewards[first] - self.rewards[second]).to(torch.float64)
        # The clean Bradley–Terry label and the flip are drawn separately, so runs that
        # differ only in label_flip share their clean labels.
        clean = torch.rand((s, n), generator=self._gen, device=self.device, dtype=torch.float64) < torch.sigmoid(gap)
        flipped = torch.rand((s, n), generator=self._gen, device=self.device, dtype=torch.float64) < self.label_flip
        first_wins = clean ^ flipped
        return PreferencePairs(
            chosen=torch.where(first_wins, first, second),
            rejected=torch.where(first_wins, second, first),
            weight=torch.full((s, n), 1.0 / n, dtype=self.dtype, device=self.device),
        )
