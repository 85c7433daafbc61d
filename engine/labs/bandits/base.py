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

from engine.labs.bandits.problems import BernoulliBandit
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

REGRET_METRICS = ("cumulative_regret", "best_arm_fraction")
EXPERTS_METRICS = ("cumulative_regret", "best_expert_weight")
REGRET_PARAM = Param(
    "regret",
    "choice",
    "pseudo",
    "pseudo: expected regret given the plays (gaps of the arms played); "
    "realised: from the rewards actually collected (experts: of an expert drawn from the weights).",
    choices=("pseudo", "realised"),
)

ALL_BANDIT_PROBLEMS = (
    "bandits.bernoulli",
    "bandits.gaussian",
    "bandits.adversarial",
    "bandits.switching",
)
UNIT_INTERVAL_PROBLEMS = ("bandits.bernoulli", "bandits.adversarial", "bandits.switching")
EXPERTS_PROBLEMS = ("bandits.experts_oblivious", "bandits.experts_adaptive")

# Counts kept in the run's dtype are exact up to here (float32 has a 24-bit mantissa).
_EXACT_COUNTS = {torch.float32: 2**24, torch.float64: 2**53}


def _declares_regret(cls) -> None:
    if cls.id and all(p.name != "regret" for p in cls.params):
        cls.params = tuple(cls.params) + (REGRET_PARAM,)


def recorded_steps(rec) -> list[int]:
    """The recorder's checkpoints, ascending and without repeats."""
    return sorted({int(t) for t in np.asarray(rec.checkpoints).tolist()})


def _record_bounds(rec, upper, lower_constant: float) -> None:
    """The algorithm's upper bound where it has one, and the problem's Lai–Robbins curve
    c ln t, which bounds lim inf R(t) / ln t: an asymptotic rate that optimal learners
    approach from below, not a bound at every t."""
    steps = np.asarray(recorded_steps(rec), dtype=np.int64)
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


def first_argmax(values: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """argmax over the arms of values [seeds, K] (NaN-free): one index per seed, ties to
    the lowest arm, like torch.argmax(values, 1), into `out` if given.

    On a CPU torch's argmax runs a scalar loop over the K arms of each seed (~1.8 ns a
    value). For values stored arm by arm (values.t() contiguous), a max-pool over the arms
    in channels-last layout gives the same indices (the first maximum; NaN would differ)
    from vectorised kernels, about 4x faster at 1000 seeds (`KeptArgmax`, made for one call).
    """
    if out is None:
        out = torch.empty(values.shape[0], dtype=torch.long, device=values.device)
    return KeptArgmax(values, out)()


def arm_major_pool(values: torch.Tensor) -> torch.Tensor | None:
    """values [seeds, K] stored arm by arm, on a CPU, seen as [1, seeds, 1, K] in
    channels-last layout (the values as they lie), for the max-pool of `KeptArgmax`; else
    None."""
    seeds, k = values.shape
    if values.stride() != (1, seeds) or k < 2 or values.device.type != "cpu":
        return None
    return values.as_strided((1, seeds, 1, k), (seeds * k, 1, seeds * k, seeds))


class KeptArgmax:
    """`first_argmax` of one buffer values [seeds, K], kept for a run, into the kept index
    buffer out ([seeds], long, contiguous): a learner that reduces the same buffer every
    round makes one and calls it after writing values; it returns out.

    On a CPU, for values stored arm by arm, the max-pool's arguments are bound once and it
    writes the indices straight into out (its out= form, the maxima into a kept scratch
    buffer): ~4.5 us at 1000 seeds, where a fresh result and a copy took ~8. Otherwise
    torch.argmax.
    """

    def __init__(self, values: torch.Tensor, out: torch.Tensor):
        self.values, self.out = values, out
        self.pooled = arm_major_pool(values)
        if self.pooled is not None:
            seeds, k = values.shape
            maxima = torch.empty((1, seeds, 1, 1), dtype=values.dtype, device=values.device)
            self._args, self._outs = (self.pooled, (1, k)), (maxima, out.view(1, seeds, 1, 1))

    def __call__(self) -> torch.Tensor:
        if self.pooled is None:
            return torch.argmax(self.values, dim=1, out=self.out)
        _max_pool_with_indices(*self._args, out=self._outs)
        return self.out


# The op behind F.max_pool2d_with_indices, without its Python wrapper (~1 us a call).
_max_pool_with_indices = torch._C._nn.max_pool2d_with_indices


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
    float64; regret is read from them. Both are views of one tensor (`stats`), which one
    scatter-add updates each round; a learner that sets `arm_major` gets them stored arm
    by arm, for `first_best`. Learners that randomise draw from `self.gen`, the algorithm
    stream of the run's seed. On the Bernoulli bandit the loop draws the rewards as
    `BernoulliBandit.pull` does, into the scatter-add's buffer. Not registered itself
    (no id).
    """

    family = "bandits"
    problems = ALL_BANDIT_PROBLEMS
    plot = "regret"
    metrics = REGRET_METRICS
    arm_major = False

    def start(self, steps: int) -> None:
        """Fresh statistics for a run of `steps` rounds (learners tuned to the horizon read it)."""
        exact = steps <= _EXACT_COUNTS.get(self.dtype, 0)
        self.stat_dtype = self.dtype if exact else torch.float64
        seeds, k = self.seeds, self.problem.k
        # Counts and sums stacked, so that one scatter-add a round updates both; `counts`
        # and `sums` are [seeds, K] views of it. Learners that set `arm_major` get them
        # stored arm by arm ([2, K, seeds]), which `first_best` reduces 4x faster on a CPU.
        stacked = (2, k, seeds) if self.arm_major else (2, seeds, k)
        self.stats = torch.zeros(stacked, dtype=self.stat_dtype, device=self.device)
        self.counts, self.sums = (
            (self.stats[0].t(), self.stats[1].t()) if self.arm_major else self.stats
        )
        self._own_counts = self.counts  # a learner's buffers fit these, not counts set from outside
        # What the scatter-add adds at the played arm: 1 play and the reward.
        self._arm_dim = 1 if self.arm_major else 2
        increment = (2, 1, seeds) if self.arm_major else (2, seeds, 1)
        self._increment = torch.ones(increment, dtype=self.stat_dtype, device=self.device)
        self._reward = self._increment[1].view(seeds)
        self._arms = torch.zeros(seeds, dtype=torch.long, device=self.device)
        self._played = self._arms.view(increment[1:]).expand(increment)
        self._arm_means = torch.empty(seeds, dtype=self.dtype, device=self.device)

    def run(self, steps, rec):
        prob = self.problem
        self.start(steps)
        _record_bounds(
            rec, self.upper_bound, prob.lai_robbins_constant() if prob.stationary else 0.0
        )
        pull = self._bernoulli_pull if type(prob).pull is BernoulliBandit.pull else prob.pull
        marks = iter(recorded_steps(rec))
        mark = next(marks, 0)
        select, update, progress = (
            self.select,
            self.update,
            rec.progress,
        )  # the hot loop's lookups, once
        # No autograd here: inference mode spares every kernel its bookkeeping.
        with torch.inference_mode():
            for t in range(1, steps + 1):
                arms = select(t)
                update(arms, pull(arms))
                if t == mark:
                    rec.metrics(t, self.regret_metrics(t))
                    mark = next(marks, 0)
                progress(t)

    def _bernoulli_pull(self, arms: torch.Tensor) -> torch.Tensor:
        """BernoulliBandit.pull, draw for draw (its uniforms, the same comparison), written
        into the reward slot of the scatter-add: three kernels and no allocation."""
        prob = self.problem
        means = torch.index_select(prob.means, 0, arms, out=self._arm_means)
        return torch.lt(prob.draw_uniforms(), means, out=self._reward)

    def select(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def first_best(self, values: torch.Tensor) -> torch.Tensor:
        """`first_argmax` of values [seeds, K], written into the buffer that `update` reads
        without copying."""
        if values.shape[0] != self.seeds:
            return first_argmax(values)
        return first_argmax(values, out=self._arms)

    def update(self, arms: torch.Tensor, rewards: torch.Tensor) -> None:
        if arms is not self._arms:
            self._arms.copy_(arms)
        if rewards is not self._reward:
            self._reward.copy_(rewards)
        self.stats.scatter_add_(self._arm_dim, self._played, self._increment)

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
        return {
            "cumulative_regret": regret,
            "best_arm_fraction": prob.best_arm_plays(self.counts, t) / t,
        }

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
        marks = iter(recorded_steps(rec))
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
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": learner_loss - cumulative.gather(1, best).squeeze(1),
                        "best_expert_weight": p.gather(1, best).squeeze(1),
                    },
                )
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
