from __future__ import annotations

import math

import numpy as np
import torch

from engine.params import Param
from engine.registry import Algorithm

PAPER = "Weighted Tallying Bandits: Overcoming Intractability via Repeated Exposure Optimality"


class TallyingLearner(Algorithm):
    """The loop shared by learners on a weighted tallying bandit: select, play, update, and
    record the complete policy regret (CPR),

        CPR(t) = sum_{s<=t} f_{a_s}(y_s) - min_a sum_{s<=t} f_a(y_s^(a forever)),

    the expected losses of the arms played (with the tallies the learner's own plays
    produced) against the best single arm played in every round from the first. Not
    registered itself (no id).
    """

    family = "bandits"
    problems = ("bandits.weighted_tallying",)
    plot = "regret"
    metrics = ("cumulative_regret", "best_arm_fraction")

    def run(self, steps, rec):
        prob = self.problem
        dev = self.device
        self.rows = torch.arange(self.seeds, device=dev)
        self.start(steps, rec)
        incurred = torch.zeros(self.seeds, dtype=torch.float64, device=dev)
        forever = torch.zeros(prob.k, dtype=torch.float64, device=dev)
        best_arm = int(torch.argmin(prob.saturated))
        best_plays = torch.zeros(self.seeds, dtype=torch.float64, device=dev)
        for t in range(1, steps + 1):
            arms = self.select(t)
            observed, expected = prob.play(arms)
            self.update(t, arms, observed)
            incurred += expected
            forever += prob.forever_losses(t)
            best_plays += (arms == best_arm).to(torch.float64)
            if rec.should_record(t):
                values = {
                    "cumulative_regret": incurred - forever.min(),
                    "best_arm_fraction": best_plays / t,
                }
                values.update(self.extra_metrics())
                rec.metrics(t, values)
            rec.progress(t)

    def start(self, steps: int, rec) -> None:
        pass

    def select(self, t: int) -> torch.Tensor:
        raise NotImplementedError

    def update(self, t: int, arms: torch.Tensor, losses: torch.Tensor) -> None:
        raise NotImplementedError

    def extra_metrics(self) -> dict:
        return {}


class TallyingSuccessiveElimination(TallyingLearner):
    """Successive elimination for weighted tallying bandits under repeated exposure
    optimality (paper: "Weighted Tallying Bandits: Overcoming Intractability via Repeated
    Exposure Optimality", Malik, Igoe, Li & Singh 2023).

    Only an upper bound M >= m on the window is known. Phases r = 1, 2, ...: each arm
    still active is played in one block of M + n_r consecutive rounds, n_r = n_0 2^(r-1),
    in index order. The first M rounds of a block are burn-in: after them the arm's last
    m plays are all its own, its tally is the full W, and the next n_r losses are
    independent samples of its repeated-exposure loss f_a(W). At the end of a phase, with
    N samples per active arm, mean loss L_a and radius r = sqrt(2 ln T / N), arm a is
    eliminated when

        L_a - r > min_{b active} (L_b + r).

    When one arm is left it is played for the rest of the horizon.

    Under REO, the arm with the lowest f_a(W) is the best arm to play forever, and
    every round costs at most its loss minus f* = min_a f_a(W) of CPR, which gives the
    overlaid bound (the paper's Theorem has the form O~(sqrt(KT) + (m + M)K) with
    unspecified constants; the explicit bound drawn is re-derived for this schedule):

        CPR(t) <= sum_{a: Delta_a > 0} Delta_a min(t, 64 ln T / Delta_a^2 + n_0)
                  + c M K (floor(log2(t / n_0 + 1)) + 1) + 2K / T^2,

    with Delta_a = f_a(W) - f* and c the largest loss minus f*: an arm with gap Delta_a
    is eliminated once 4r < Delta_a, i.e. after at most 64 ln T / Delta_a^2 + n_0
    samples (the doubling overshoots at most twice), at most log2(t / n_0 + 1) + 1 phases
    have begun by round t, each with at most K burn-ins of M rounds, and the confidence
    intervals all hold but with probability 2K / T^3. It is drawn only when REO holds
    and M >= m, the conditions of the argument.

    Choice of this implementation: the doubling schedule n_r = n_0 2^(r-1) with n_0 = M
    by default (the paper's phase lengths may differ).
    """

    id = "bandits.tallying_elimination"
    paper = PAPER
    summary = (
        "Play each surviving arm in long blocks, learn from the rounds after burn-in, eliminate."
    )
    params = (
        Param(
            "memory_bound",
            "int",
            20,
            "Upper bound M on the window m of the tallies.",
            low=0,
            high=100_000,
        ),
        Param(
            "first_phase_samples",
            "int",
            0,
            "Samples n_0 per arm in the first phase; 0 = M.",
            low=0,
            high=100_000_000,
        ),
    )
    metrics = ("cumulative_regret", "best_arm_fraction", "active_arms")

    def start(self, steps, rec):
        prob = self.problem
        s, k, dev = self.seeds, prob.k, self.device
        self.m_bound = self.p["memory_bound"]
        self.n0 = self.p["first_phase_samples"] or max(1, self.m_bound)
        self.log_horizon = math.log(max(steps, 2))
        self.active = torch.ones((s, k), dtype=torch.bool, device=dev)
        self.current = torch.zeros(s, dtype=torch.long, device=dev)
        self.run_length = torch.zeros(s, dtype=torch.float64, device=dev)
        self.phase_samples = torch.full((s,), float(self.n0), dtype=torch.float64, device=dev)
        self.block_length = self.m_bound + self.phase_samples.clone()
        self.samples = torch.zeros((s, k), dtype=torch.float64, device=dev)
        self.sums = torch.zeros((s, k), dtype=torch.float64, device=dev)
        self.arm_index = torch.arange(k, device=dev)
        if prob.reo_holds and self.m_bound >= prob.m:
            rec.bound(
                "regret_upper_bound", rec.checkpoints, self.upper_bound(rec.checkpoints, steps)
            )

    def upper_bound(self, t: np.ndarray, horizon: int) -> np.ndarray:
        prob = self.problem
        t = np.asarray(t, dtype=float)
        f_star = prob.best_saturated
        gaps = (prob.saturated - f_star).cpu().numpy()
        worst = float(torch.maximum(prob.fresh, prob.saturated).max()) - f_star
        log_t = math.log(max(horizon, 2))
        bound = np.zeros_like(t)
        for gap in gaps[gaps > 0]:
            bound += gap * np.minimum(t, 64 * log_t / gap**2 + self.n0)
        phases = np.floor(np.log2(t / self.n0 + 1)) + 1
        bound += worst * self.m_bound * prob.k * phases + 2 * prob.k / max(horizon, 2) ** 2
        return np.minimum(bound, worst * t)

    def select(self, t):
        return self.current

    def update(self, t, arms, losses):
        sampled = (self.run_length >= self.m_bound).to(torch.float64).unsqueeze(1)
        column = arms.unsqueeze(1)
        self.samples.scatter_add_(1, column, sampled)
        self.sums.scatter_add_(1, column, losses.unsqueeze(1) * sampled)
        self.run_length += 1.0
        done = self.run_length >= self.block_length
        if not bool(done.any()):
            return
        later = self.active & (self.arm_index > self.current.unsqueeze(1))
        has_next = later.any(dim=1)
        phase_end = done & ~has_next
        if bool(phase_end.any()):
            self._eliminate(phase_end)
        first_active = self.active.to(torch.int8).argmax(dim=1)
        following = torch.where(has_next, later.to(torch.int8).argmax(dim=1), first_active)
        self.current = torch.where(done, following, self.current)
        self.run_length = torch.where(done, torch.zeros_like(self.run_length), self.run_length)
        block = self.m_bound + self.phase_samples
        # One arm left: its block lasts for the rest of the horizon.
        block = torch.where(self.active.sum(dim=1) == 1, torch.full_like(block, math.inf), block)
        self.block_length = torch.where(done, block, self.block_length)

    def _eliminate(self, phase_end: torch.Tensor) -> None:
        n = self.samples.clamp_min(1.0)
        mean = self.sums / n
        radius = torch.sqrt(2.0 * self.log_horizon / n)
        upper = torch.where(self.active, mean + radius, torch.full_like(mean, math.inf))
        best_upper = upper.min(dim=1, keepdim=True).values
        drop = self.active & (mean - radius > best_upper) & phase_end.unsqueeze(1)
        self.active = self.active & ~drop
        self.phase_samples = torch.where(phase_end, 2.0 * self.phase_samples, self.phase_samples)

    def extra_metrics(self):
        return {"active_arms": self.active.sum(dim=1)}
