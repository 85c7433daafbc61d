"""Memory-bounded experts (pool with restarts) against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.online.memory_bounded_experts import (
    MemoryBoundedExperts,
    hedge_pool_bound,
)
from engine.labs.online.planted_experts import PlantedExperts
from tests.labs.online.recorder import CPU, FakeRecorder, run


class FixedExperts:
    """An oblivious loss table given in full, [T, n], the same for every seed."""

    def __init__(self, table, seeds):
        self.table = torch.tensor(table, dtype=torch.float64)
        self.n, self.seeds = self.table.shape[1], seeds
        self.planted = torch.zeros(seeds, dtype=torch.long)
        self.cumulative = torch.zeros((seeds, self.n), dtype=torch.float64)

    def losses(self, t):
        loss = self.table[t - 1].expand(self.seeds, self.n)
        self.cumulative += loss
        return loss

    def best_in_hindsight(self):
        return self.cumulative.min(dim=1).values


def restarted_hedge_regret(table, epoch):
    """Hedge with eta = sqrt(8 ln n / B), restarted every B rounds, by hand (pure Python)."""
    n = len(table[0])
    eta = math.sqrt(8 * math.log(n) / epoch)
    learner, totals, out = 0.0, [0.0] * n, {}
    for t, row in enumerate(table, start=1):
        if (t - 1) % epoch == 0:
            epoch_loss = [0.0] * n
        w = [math.exp(-eta * x) for x in epoch_loss]
        learner += sum(wi * li for wi, li in zip(w, row)) / sum(w)
        epoch_loss = [a + b for a, b in zip(epoch_loss, row)]
        totals = [a + b for a, b in zip(totals, row)]
        out[t] = learner - min(totals)
    return out


def run_fixed(table, params, seeds=2):
    problem = FixedExperts(table, seeds)
    alg = MemoryBoundedExperts(params, problem, seeds, CPU, torch.float64, 0)
    rec = FakeRecorder(range(1, len(table) + 1))
    alg.run(len(table), rec)
    return rec


def test_full_memory_is_hedge_restarted_every_epoch_by_hand():
    """Two experts, B = 2, eta = sqrt(8 ln 2 / 2) = 1.6651. Round 1 mixes uniformly (0.5);
    round 2 puts 1 / (1 + e^eta) = 0.15908 on expert 0, which lost round 1 (loss 0.15908);
    the restart makes round 3 uniform again (0.5) and round 4 mirrors round 2. After four
    rounds the learner has lost 1.31815, each expert 2: regret -0.68185."""
    table = [[1, 0], [1, 0], [0, 1], [0, 1]]
    rec = run_fixed(table, {"memory": 2, "epoch": 2})
    p = 1 / (1 + math.exp(math.sqrt(4 * math.log(2))))
    assert p == pytest.approx(0.15908, abs=1e-5)
    expected = {1: 0.5 - 0, 2: 0.5 + p - 0, 3: 1 + p - 1, 4: 1 + 2 * p - 2}
    for t, value in expected.items():
        assert torch.allclose(
            rec.values[t]["cumulative_regret"], torch.tensor(value, dtype=torch.float64)
        )
    assert expected[4] == pytest.approx(-0.68185, abs=1e-5)


@pytest.mark.parametrize("epoch", [1, 3, 7])
def test_full_memory_matches_the_reference_hedge_on_a_longer_table(epoch):
    """Any epoch length: with M >= n no expert is ever sampled, so the learner is exactly
    Hedge restarted every B rounds."""
    rng = np.random.default_rng(3)
    table = rng.integers(0, 2, size=(30, 4)).tolist()
    rec = run_fixed(table, {"memory": 9, "epoch": epoch})
    expected = restarted_hedge_regret(table, epoch)
    for t in (1, 5, 13, 30):
        assert rec.values[t]["cumulative_regret"][0].item() == pytest.approx(expected[t], abs=1e-12)


def test_pool_regret_obeys_the_hedge_bound_on_every_seed():
    """Cesa-Bianchi & Lugosi (2006), Thm 2.2: in every epoch the mixture loses at most
    ln M / eta + eta tau / 8 to the epoch's best pool member, whatever the losses. Checked
    seed by seed at every checkpoint, with M < n (sampling and eviction active)."""
    checkpoints = list(range(50, 3001, 50))
    alg, _, rec = run(
        MemoryBoundedExperts,
        PlantedExperts,
        {"memory": 8, "epoch": 0},
        {"experts": 40, "gap": 0.1, "decoys": 3, "decoy_until": 500},
        seeds=16,
        checkpoints=checkpoints,
    )
    assert alg.epoch == math.ceil((3000 * 8 / 40) ** (2 / 3))
    bound = hedge_pool_bound(np.array(checkpoints), alg.epoch, 8)
    pool = rec.series("pool_regret").numpy()
    assert np.all(pool <= bound[:, None] + 1e-9)
    # The bound is not loose by orders of magnitude: the worst seed uses a visible part of it.
    assert pool.max(axis=1)[-1] > 0.1 * bound[-1]


def test_full_memory_draws_the_hedge_regret_bound_and_stays_under_it():
    """With M >= n the pool is every expert and B = T: the regret is Hedge's, at most
    sqrt(T ln n / 8) + t sqrt(8 ln n / T) / 8 at round t, on every seed."""
    checkpoints = [10, 100, 500, 1000]
    alg, _, rec = run(
        MemoryBoundedExperts,
        PlantedExperts,
        {"memory": 20, "epoch": 0},
        {"experts": 20, "gap": 0.1, "decoys": 2, "decoy_until": 300},
        seeds=8,
        checkpoints=checkpoints,
    )
    assert alg.epoch == 1000
    t = np.array(checkpoints, dtype=float)
    expected = math.sqrt(1000 * math.log(20) / 8) + t * math.sqrt(8 * math.log(20) / 1000) / 8
    np.testing.assert_allclose(rec.bounds["regret_upper_bound"], expected)
    assert np.all(rec.series("cumulative_regret").numpy() <= expected[:, None])


def test_fresh_experts_are_uniform_among_those_not_kept():
    """Refilling draws without repetition, uniformly from the n - j experts not kept: each
    appears with probability fresh / (n - j) (here 3/8), never a kept one, never twice."""
    seeds, n = 20_000, 10
    problem = PlantedExperts(
        {"experts": n, "gap": 0.1, "decoys": 0, "decoy_until": 0}, seeds, CPU, torch.float64, 0
    )
    alg = MemoryBoundedExperts({"memory": 5, "epoch": 0}, problem, seeds, CPU, torch.float64, 0)
    alg._gen = torch.Generator().manual_seed(5)
    kept = torch.tensor([[2, 7]]).expand(seeds, 2)
    pool = alg.sample_pool(kept, 3)
    assert torch.equal(pool[:, :2], kept)
    assert all(len(set(row)) == 5 for row in pool[:200].tolist())
    counts = torch.bincount(pool[:, 2:].reshape(-1), minlength=n).double() / seeds
    assert counts[2] == 0 and counts[7] == 0
    others = counts[[0, 1, 3, 4, 5, 6, 8, 9]]
    sd = math.sqrt(3 / 8 * 5 / 8 / seeds)
    assert torch.all((others - 3 / 8).abs() < 5 * sd)


def test_regret_falls_as_the_memory_budget_grows():
    """The paper's trade-off: less memory, more regret. On 60 planted experts (T = 3000,
    24 seeds, common random numbers) the mean regret must fall at each step of M = 1, 15,
    60; measured 301, 191, 48 (standard errors 8, 7, 0.1)."""
    problem = {"experts": 60, "gap": 0.1, "decoys": 4, "decoy_until": 600}
    regret = {}
    for memory in (1, 15, 60):
        _, _, rec = run(
            MemoryBoundedExperts,
            PlantedExperts,
            {"memory": memory, "epoch": 0},
            problem,
            seeds=24,
            checkpoints=[3000],
        )
        regret[memory] = rec.values[3000]["cumulative_regret"].mean().item()
    assert regret[15] < 0.8 * regret[1]
    assert regret[60] < 0.5 * regret[15]


def test_the_paper_rate_is_drawn_as_a_reference_curve_not_as_a_bound():
    """With M = 15 of n = 60 experts the overlay is sqrt(n t / M) = 2 sqrt(t) at every
    checkpoint (t = 4: 4, t = 900: 60), and no regret upper bound is drawn (Hedge over a
    sampled pool bounds only the pool regret); with M = n both are drawn."""
    problem = {"experts": 60, "gap": 0.1, "decoys": 4, "decoy_until": 600}
    checkpoints = [4, 100, 900]
    _, _, rec = run(
        MemoryBoundedExperts,
        PlantedExperts,
        {"memory": 15, "epoch": 0},
        problem,
        seeds=2,
        checkpoints=checkpoints,
    )
    np.testing.assert_allclose(rec.bounds["paper_regret_rate"], [4.0, 20.0, 60.0])
    assert "regret_upper_bound" not in rec.bounds
    _, _, rec = run(
        MemoryBoundedExperts,
        PlantedExperts,
        {"memory": 60, "epoch": 0},
        problem,
        seeds=2,
        checkpoints=checkpoints,
    )
    np.testing.assert_allclose(rec.bounds["paper_regret_rate"], np.sqrt(checkpoints))
    assert "regret_upper_bound" in rec.bounds
