"""The loops every bandit and experts learner shares: select, play, update, record regret.

Seeds are the batch dimension throughout: per-arm statistics are [seeds, K] tensors and
one call chooses an arm (or a weight vector) for every seed.

Regret comes in two kinds, chosen by the `regret` parameter, declared once here and
appended to the parameters of every learner built on these bases:

- ``pseudo`` (the default): the expected regret given the plays. For a bandit, the
  comparator's expected total minus the means of the arms played; for stationary arms,
  the sum of the gaps of the arms played. For experts, the learner's loss is its mixture
  loss sum_t <p_t, loss_t>.
- ``realised``: the comparator's expected total minus the rewards actually collected;
  for experts, the loss of an expert drawn from p_t each round. Its expectation equals
  the pseudo-regret; it adds the reward (or the learner's own) noise.

The comparator is the best fixed arm (expert) in hindsight, except on the switching
bandit, where it is the best arm of each round (see adversarial.py).

Regret and the best-arm share are computed from the counts at the recorded checkpoints
only; nothing per step is kept, so memory does not grow with the number of steps.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

REGRET_METRICS = ("cumulative_regret", "best_arm_fraction")
EXPERTS_METRICS = ("cumulative_regret", "best_expert_weight")
REGRET_PARAM = Param(
    "regret", "choice", "pseudo",
    "pseudo: expected regret given the plays (gaps of the arms played); "
    "realised: from the rewards actually collected (experts: of an expert drawn from the weights).",
    choices=("pseudo", "realised"))

ALL_BANDIT_PROBLEMS = ("bandits.bernoulli", "bandits.gaussian", "bandits.adversarial", "bandits.switching")
UNIT_INTERVAL_PROBLEMS = ("bandits.bernoulli", "bandits.adversarial", "bandits.switching")
EXPERTS_PROBLEMS = ("bandits.experts_oblivious", "bandits.experts_adaptive")

# Counts kept in the run's dtype are exact up to here (float32 has a 24-bit mantissa).
_EXACT_COUNTS = {torch.float32: 2**24, torch.float64: 2**53}


def _declares_regret(cls) -> None:
    if cls.id and all(p.name != "regret" for p in cls.params):
        cls.params = tuple(cls.params) + (REGRET_PARAM,)


def _checkpoints(rec) -> list[int]:
    return sorted({int(t) for t in np.asarray(rec.checkpoints).tolist()})


def _record_bounds(rec, upper, lower_constant: float) -> None:
    """The algorithm's upper bound where it has one, and the problem's Lai–Robbins curve
    c ln t, which bounds lim inf R(t) / ln t: an asymptotic rate that optimal learners
    approach from below, not a bound at every t."""
    steps = np.asarray(_checkpoints(rec), dtype=np.int64)
    values = upper(steps)
    if values is not None:
        rec.bound("regret_upper_bound", steps, values)
    if lower_constant > 0:
        rec.bound("regret_lower_bound", steps, lower_constant * np.log(np.maximum(steps, 1)))


def sample_categorical(probs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One index per row of probs [seeds, K], by inverting the cumulative sum at a uniform."""
    u = torch.rand((probs.shape[0], 1), generator=gen, device=probs.device, dtype=probs.dtype)
    index = (probs.cumsum(1) < u).sum(1)
    return index.clamp_max_(probs.shape[1] - 1)  # round-off can leave the last cumsum below u


class RegretLearner(Algorithm):
    """What every Lab 1 learner shares: the `regret` parameter, declared once for all
    subclasses, and `self.gen`, the algorithm stream of the run's seed; `start(steps)` is
    called with 1 on construction and again with the horizon when a run begins.
    Not registered itself (no id)."""

    def __init_subclass__(cls, **kwargs):
        _declares_regret(cls)
        super().__init_subclass__(**kwargs)

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self.gen = generator(device, seed, ALGORITHM_STREAM)
        self.start(1)

    def start(self, steps: int) -> None:
        """Fresh state for a run of `steps` rounds (learners tuned to the horizon read it)."""


class IndexBandit(RegretLearner):
    """Base for K-armed bandit learners; subclasses give `select` and may extend `update`.

    The base keeps the play counts and reward sums as [seeds, K] tensors (`counts`,
    `sums`), in the run's dtype while it counts exactly (float32: up to 2^24 steps), else
    float64; regret is read from them. Learners that randomise draw from `self.gen`, the
    algorithm stream of the run's seed. Not registered itself (no id).
    """

    family = "bandits"
    problems = ALL_BANDIT_PROBLEMS
    plot = "regret"
    metrics = REGRET_METRICS

    def start(self, steps: int) -> None:
        """Fresh statistics for a run of `steps` rounds (learners tuned to the horizon read it)."""
        exact = steps <= _EXACT_COUNTS.get(self.dtype, 0)
        self.stat_dtype = self.dtype if exact else torch.float64
        shape = (self.seeds, self.problem.k)
        self.counts = torch.zeros(shape, dtype=self.stat_dtype, device=self.device)
        self.sums = torch.zeros(shape, dtype=self.stat_dtype, device=self.device)
        self._ones = torch.ones((self.seeds, 1), dtype=self.stat_dtype, device=self.device)

    def run(self, steps, rec):
        prob = self.problem
        self.start(steps)
        _record_bounds(rec, self.upper_bound, prob.lai_robbins_constant() if prob.stationary else 0.0)
        marks = iter(_checkpoints(rec))
        mark = next(marks, 0)
        for t in range(1, steps + 1):
            arms = self.select(t)
            self.update(arms, prob.pull(arms))
            if t == mark:
                rec.metrics(t, self.regret_metrics(t))
                mark = next(marks, 0)
            rec.progress(t)

    def select(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def update(self, arms: torch.Tensor, rewards: torch.Tensor) -> None:
        played = arms.unsqueeze(1)
        self.counts.scatter_add_(1, played, self._ones)
        self.sums.scatter_add_(1, played, rewards.to(self.stat_dtype).unsqueeze(1))

    def initial_round_robin(self, t: int) -> torch.Tensor | None:
        """Rounds 1..K play arm t-1 for every seed; afterwards None."""
        if t <= self.problem.k:
            return torch.full((self.seeds,), t - 1, dtype=torch.long, device=self.device)
        return None

    def regret_metrics(self, t: int) -> dict:
        prob = self.problem
        if self.p.get("regret", "pseudo") == "realised":
            regret = prob.best_total(t) - self.sums.to(torch.float64).sum(1)
        else:
            regret = prob.pseudo_regret(self.counts, t)
        return {"cumulative_regret": regret, "best_arm_fraction": prob.best_arm_plays(self.counts, t) / t}

    # -- theory overlays ------------------------------------------------------------
    def upper_bound(self, steps: np.ndarray) -> np.ndarray | None:
        """Expected-regret upper bound at each step, where a theorem gives one."""
        return None

    def stationary_unit_interval(self) -> bool:
        """The hypotheses of the classic finite-time bounds: fixed means, rewards in [0, 1]."""
        return self.problem.stationary and self.problem.unit_interval_rewards


class ExpertsLearner(RegretLearner):
    """Base for full-information learners (prediction with expert advice).

    Each round the learner gives weights p_t [seeds, N] (a distribution over the experts),
    the adversary answers with losses [seeds, N] in [0, 1] (it may look at p_t and at the
    past), and the learner sees every expert's loss. Regret against the best expert in
    hindsight, min_i L_i(t), which the problem keeps exactly. Subclasses give `weights`
    and `update`. Not registered itself (no id).
    """

    family = "bandits"
    problems = EXPERTS_PROBLEMS
    plot = "regret"
    metrics = EXPERTS_METRICS

    def run(self, steps, rec):
        prob = self.problem
        self.start(steps)
        _record_bounds(rec, self.upper_bound, 0.0)
        realised = self.p.get("regret", "pseudo") == "realised"
        learner_loss = torch.zeros(self.seeds, dtype=torch.float64, device=self.device)
        marks = iter(_checkpoints(rec))
        mark = next(marks, 0)
        for t in range(1, steps + 1):
            p = self.weights(t)
            losses = prob.losses(p)
            if realised:
                drawn = sample_categorical(p, self.gen).unsqueeze(1)
                learner_loss += losses.gather(1, drawn).squeeze(1)
            else:
                learner_loss += (p * losses).sum(1)
            self.update(t, losses)
            if t == mark:
                cumulative = prob.cumulative_losses
                best = cumulative.argmin(1, keepdim=True)
                rec.metrics(t, {"cumulative_regret": learner_loss - cumulative.gather(1, best).squeeze(1),
                                "best_expert_weight": p.gather(1, best).squeeze(1)})
                mark = next(marks, 0)
            rec.progress(t)

    def weights(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def update(self, t: int, losses: torch.Tensor) -> None:
        raise NotImplementedError

    def upper_bound(self, steps: np.ndarray) -> np.ndarray | None:
        return None


def ucb1_bound(gaps: torch.Tensor, steps: np.ndarray) -> np.ndarray:
    """Auer, Cesa-Bianchi & Fischer (2002), Theorem 1:
    E[R_n] <= sum_{i: gap>0} 8 ln n / gap_i + (1 + pi^2 / 3) sum_i gap_i."""
    g = gaps[gaps > 0].double().cpu().numpy()
    if g.size == 0:
        return np.zeros(len(steps))
    return 8.0 * np.log(np.maximum(steps, 1)) * np.sum(1.0 / g) + (1 + math.pi**2 / 3) * np.sum(g)
