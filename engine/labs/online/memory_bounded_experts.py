from __future__ import annotations

import math

import numpy as np
import torch

from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


def hedge_pool_bound(t: np.ndarray, epoch: int, memory: int) -> np.ndarray:
    """Hedge over M experts with eta = sqrt(8 ln M / B), restarted every B rounds: its loss
    exceeds the best pool member's in each epoch by at most ln M / eta + eta tau / 8 after
    tau rounds of it (Cesa-Bianchi & Lugosi 2006, Theorem 2.2, losses in [0, 1], any
    sequence), sqrt(B ln M / 2) for a whole epoch."""
    t = np.asarray(t, dtype=float)
    if memory <= 1:
        return np.zeros_like(t)
    eta = math.sqrt(8.0 * math.log(memory) / epoch)
    whole, tau = np.floor(t / epoch), np.mod(t, epoch)
    partial = np.where(tau > 0, math.log(memory) / eta + eta * tau / 8.0, 0.0)
    return whole * math.sqrt(epoch * math.log(memory) / 2.0) + partial


def paper_regret_rate(t: np.ndarray, experts: int, memory: int) -> np.ndarray:
    """The memory-regret rate the paper's oblivious-adversary algorithm attains, as a
    reference curve: sqrt(n t / M), the order of Srinivas, Woodruff, Xu & Zhou's (2022)
    lower bound, which the paper matches up to logarithmic factors. Constants and
    logarithmic factors are dropped (constant 1): a rate, not a bound."""
    return np.sqrt(experts * np.asarray(t, dtype=float) / memory)


class MemoryBoundedExperts(Algorithm):
    """Learning with experts in M << n memory, the pool-with-restarts baseline: Hedge over
    a pool of sampled experts, restarted each epoch, keeping the better half. It is listed
    under "Near Optimal Memory-Regret Tradeoff for Online Learning" (Peng & Rubinstein
    2023), whose near-optimal algorithm it is not: a baseline of the kind the paper
    improves on.

    The learner stores at most M experts. Time is cut into epochs of B rounds; in each
    epoch it runs Hedge over its pool P (|P| = M), restarted from uniform weights,

        p_t(i) ∝ exp(-eta sum_{s in epoch, s < t} l_s(i)),  i in P,   eta = sqrt(8 ln M / B),

    and suffers the mixture's loss <p_t, l_t> (the expected loss of following an expert
    drawn from p_t). At the end of an epoch the floor(M/2) pool members with the lowest
    loss over the epoch stay; the other slots are refilled with experts drawn uniformly,
    without repetition, from those not kept (the algorithm's stream). An expert's record
    leaves memory with it. With M >= n the pool is every expert and no sampling happens.

    Regret is against the best expert in hindsight, sum_t <p_t, l_t> - min_i sum_t l_t(i)
    (``cumulative_regret``). ``pool_regret`` compares with the best pool member of each
    epoch instead; it obeys the Hedge bound on every sequence (`hedge_pool_bound`), which
    is drawn as the regret bound when M >= n (then it bounds the regret itself).
    ``planted_in_pool`` says whether the problem's planted expert is in memory.

    The default epoch is B = (T M / n)^(2/3) (B = T when M >= n): it balances the
    restart cost T sqrt(ln M / 2B) against the B n / M rounds it takes to sample a given
    expert into the pool, for a regret of order T^(2/3) (n / M)^(1/3) on instances like
    the planted one, falling as the memory grows.

    Overlay: ``paper_regret_rate``, sqrt(n t / M) (`paper_regret_rate`), the order of the
    memory lower bound of Srinivas, Woodruff, Xu & Zhou (2022), which the paper's
    algorithm matches up to logarithmic factors; constants and logarithms dropped, so it
    is a reference rate, not a bound on this learner (whose T^(2/3) (n/M)^(1/3) exceeds it
    for long horizons).

    Departures: the paper's own algorithm (its schedule of sampling, keeping and evicting
    experts) is not implemented: its text was not available to this implementation. This
    is the plain pool-with-restarts scheme (fixed epochs, "keep the better half").
    """

    id = "bandits.memory_bounded_experts"
    family = "bandits"
    paper = "Near Optimal Memory-Regret Tradeoff for Online Learning"
    summary = (
        "Baseline: Hedge over a small pool of sampled experts, restarted each epoch; keep the "
        "better half."
    )
    params = (
        Param(
            "memory", "int", 10, "Memory budget M: experts held in the pool.", low=1, high=1_000_000
        ),
        Param(
            "epoch",
            "int",
            0,
            "Epoch length B; 0 = (T M / n)^(2/3), or T when M >= n.",
            low=0,
            high=100_000_000,
        ),
    )
    problems = ("bandits.planted_experts",)
    plot = "regret"
    metrics = ("cumulative_regret", "pool_regret", "planted_in_pool")

    def run(self, steps, rec):
        prob = self.problem
        s, n, dev, f64 = self.seeds, prob.n, self.device, torch.float64
        memory = min(self.p["memory"], n)
        epoch = self.p["epoch"] or (
            steps if memory >= n else math.ceil((steps * memory / n) ** (2.0 / 3.0))
        )
        epoch = max(1, min(epoch, steps))
        self.epoch, self.memory = epoch, memory
        eta = math.sqrt(8.0 * math.log(memory) / epoch)
        keep = memory // 2
        self._gen = generator(dev, self.seed, ALGORITHM_STREAM)
        pool = self.sample_pool(torch.empty((s, 0), dtype=torch.long, device=dev), memory)
        log_w = torch.zeros((s, memory), dtype=f64, device=dev)
        epoch_loss = torch.zeros((s, memory), dtype=f64, device=dev)
        learner_epoch_loss = torch.zeros(s, dtype=f64, device=dev)
        learner_loss = torch.zeros(s, dtype=f64, device=dev)
        closed_pool_regret = torch.zeros(s, dtype=f64, device=dev)
        rec.bound(
            "paper_regret_rate", rec.checkpoints, paper_regret_rate(rec.checkpoints, n, memory)
        )
        if memory >= n:
            rec.bound(
                "regret_upper_bound",
                rec.checkpoints,
                hedge_pool_bound(rec.checkpoints, epoch, memory),
            )
        for t in range(1, steps + 1):
            pool_loss = prob.losses(t).gather(1, pool)
            mixture = (torch.softmax(log_w, dim=1) * pool_loss).sum(dim=1)
            learner_loss += mixture
            learner_epoch_loss += mixture
            log_w -= eta * pool_loss
            epoch_loss += pool_loss
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": learner_loss - prob.best_in_hindsight(),
                        "pool_regret": closed_pool_regret
                        + learner_epoch_loss
                        - epoch_loss.min(dim=1).values,
                        "planted_in_pool": (pool == prob.planted.unsqueeze(1)).any(dim=1).to(f64),
                    },
                )
            if t % epoch == 0 and t < steps:
                closed_pool_regret += learner_epoch_loss - epoch_loss.min(dim=1).values
                if memory < n:
                    best = torch.topk(epoch_loss, keep, dim=1, largest=False).indices
                    pool = self.sample_pool(pool.gather(1, best), memory - keep)
                log_w.zero_()
                epoch_loss.zero_()
                learner_epoch_loss.zero_()
            rec.progress(t)

    def sample_pool(self, kept: torch.Tensor, fresh: int) -> torch.Tensor:
        """kept [seeds, j] followed by `fresh` experts drawn uniformly without repetition
        from the others: the smallest of one uniform key per expert, kept ones excluded."""
        keys = torch.rand((self.seeds, self.problem.n), generator=self._gen, device=self.device)
        keys.scatter_(1, kept, 2.0)
        drawn = torch.topk(keys, fresh, dim=1, largest=False).indices
        return torch.cat([kept, drawn], dim=1)
