"""UCB1 and Beta Thompson sampling against reference values.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.base import KeptArgmax, arm_major_pool, first_argmax, ucb1_bound
from engine.labs.bandits.problems import BernoulliBandit, bernoulli_kl
from engine.labs.bandits.thompson import BetaThompsonSampling
from engine.labs.bandits.ucb1 import UCB1
from tests.labs.bandits.recorder import CPU
from tests.labs.bandits.recorder import run as run_spec


def run(cls, params, means, seeds, checkpoints, seed=0):
    return run_spec(cls, params, BernoulliBandit, {"means": means}, seeds, checkpoints, seed)


def ucb1_reference_regret(means, steps, c=2.0):
    """UCB1 by hand, for deterministic 0/1 arms: pure Python, ties to the lowest index."""
    k = len(means)
    counts, sums, regret, out = [0] * k, [0.0] * k, 0.0, {}
    for t in range(1, steps + 1):
        if t <= k:
            arm = t - 1
        else:
            index = [
                sums[i] / counts[i] + math.sqrt(c * math.log(t - 1) / counts[i]) for i in range(k)
            ]
            arm = index.index(max(index))
        counts[arm] += 1
        sums[arm] += means[arm]  # means are 0 or 1: the reward is the mean
        regret += max(means) - means[arm]
        out[t] = regret
    return out


@pytest.mark.parametrize(
    "means, c", [([0.0, 1.0], 2.0), ([0.0, 1.0, 0.0], 2.0), ([1.0, 0.0, 0.0, 1.0], 0.5)]
)
def test_ucb1_matches_a_hand_trajectory_on_deterministic_arms(means, c):
    """With 0/1 means the rewards are deterministic, so the whole trajectory is fixed by the
    index rule; any change to the index (log of t-1, the sqrt, c) changes the regret."""
    checkpoints = [1, 2, 3, 5, 10, 50, 100, 400]
    _, _, rec = run(UCB1, {"c": c}, means, seeds=3, checkpoints=checkpoints)
    expected = ucb1_reference_regret(means, 400, c)
    for t in checkpoints:
        got = rec.values[t]["cumulative_regret"]
        assert torch.all(got == expected[t]), (t, got, expected[t])


def test_ucb1_reference_by_hand():
    """Means (0, 1): rounds 1-2 play each arm once (regret 1). Arm 0 (n_0 = 1) is played
    again when sqrt(2 ln n) > 1 + sqrt(2 ln n / (n - 1)): false at n = 5 (1.794 < 1.897),
    true at n = 6 (1.893 > 1.846), so in round t = n + 1 = 7 the regret becomes 2."""
    expected = ucb1_reference_regret([0.0, 1.0], 7)
    assert [expected[t] for t in range(1, 8)] == [1, 1, 1, 1, 1, 1, 2]
    _, _, rec = run(UCB1, {"c": 2.0}, [0.0, 1.0], seeds=2, checkpoints=list(range(1, 8)))
    assert [rec.values[t]["cumulative_regret"].tolist() for t in range(1, 8)] == [
        [r, r] for r in (1, 1, 1, 1, 1, 1, 2)
    ]


def test_ucb1_stays_under_its_finite_time_bound():
    """Auer et al. (2002), Theorem 1: E[R_n] <= sum 8 ln n / gap + (1 + pi^2/3) sum gap.
    The mean over 200 seeds must stay below it at every checkpoint, and the recorded
    overlay must equal the formula."""
    means = [0.2, 0.5, 0.6]
    checkpoints = [10, 100, 1000, 3000]
    _, problem, rec = run(UCB1, {"c": 2.0}, means, seeds=200, checkpoints=checkpoints)
    gaps = np.array([0.4, 0.1])
    bound = 8 * np.log(checkpoints) * np.sum(1 / gaps) + (1 + math.pi**2 / 3) * gaps.sum()
    np.testing.assert_allclose(rec.bounds["regret_upper_bound"], bound)
    np.testing.assert_allclose(ucb1_bound(problem.gaps, np.array(checkpoints)), bound)
    for t in checkpoints:
        assert rec.values[t]["cumulative_regret"].mean().item() <= np.interp(t, checkpoints, bound)


def test_ucb1_bound_is_only_drawn_for_the_papers_constant():
    _, _, rec = run(UCB1, {"c": 1.0}, [0.2, 0.8], seeds=2, checkpoints=[10, 20])
    assert "regret_upper_bound" not in rec.bounds and "regret_lower_bound" in rec.bounds


def test_lai_robbins_constant_by_hand():
    """kl(0.1, 0.5) = 0.1 ln 0.2 + 0.9 ln 1.8; constant = gap / kl = 0.4 / kl."""
    kl = 0.1 * math.log(0.1 / 0.5) + 0.9 * math.log(0.9 / 0.5)
    problem = BernoulliBandit({"means": [0.1, 0.5]}, 1, CPU, torch.float64, 0)
    assert problem.lai_robbins_constant() == pytest.approx(0.4 / kl, rel=1e-12)
    assert bernoulli_kl(torch.tensor([0.0]), torch.tensor([0.5])).item() == pytest.approx(
        math.log(2)
    )


def test_thompson_samples_from_the_beta_posterior():
    """Arm 0 has 1 success (posterior Beta(2, 1), density 2x), arm 1 one failure (Beta(1, 2),
    density 2(1-y)). P(theta_0 > theta_1) = int_0^1 2x (2x - x^2) dx = 4/3 - 1/2 = 5/6."""
    seeds = 40_000
    torch.manual_seed(1)
    problem = BernoulliBandit({"means": [0.5, 0.5]}, seeds, CPU, torch.float64, 0)
    alg = BetaThompsonSampling(
        {"prior_a": 1.0, "prior_b": 1.0}, problem, seeds, CPU, torch.float64, 0
    )
    alg.counts = torch.ones((seeds, 2), dtype=torch.float64)
    alg.sums = torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(seeds, 2).clone()
    share = (alg.select(3) == 0).double().mean().item()
    assert share == pytest.approx(5 / 6, abs=4 * math.sqrt(5 / 36 / seeds))


def test_thompson_regret_grows_at_the_lai_robbins_rate():
    """Thompson sampling is asymptotically optimal (Kaufmann et al. 2012; Agrawal & Goyal
    2013): R(T) ~ c ln T with c = gap / kl(mu, mu*). Between T = 1000 and 10000 the mean
    regret must grow by c ln 10 within 40% (measured: 0.88 c, s.e. 0.03 c)."""
    _, problem, rec = run(
        BetaThompsonSampling,
        {"prior_a": 1.0, "prior_b": 1.0},
        [0.1, 0.5],
        seeds=400,
        checkpoints=[1000, 10_000],
    )
    c = problem.lai_robbins_constant()
    growth = (
        (rec.values[10_000]["cumulative_regret"] - rec.values[1000]["cumulative_regret"])
        .mean()
        .item()
    )
    assert 0.6 * c * math.log(10) < growth < 1.4 * c * math.log(10)
    assert rec.values[10_000]["best_arm_fraction"].mean().item() > 0.99


def test_common_random_numbers_give_identical_reward_tables():
    """Two problems on the same seed draw the same uniforms, whatever arms are played."""
    a = BernoulliBandit({"means": [0.3, 0.7]}, 4, CPU, torch.float64, 7)
    b = BernoulliBandit({"means": [0.3, 0.7]}, 4, CPU, torch.float64, 7)
    arms_a = torch.tensor([0, 1, 0, 1])
    for _ in range(5):
        ra, rb = a.pull(arms_a), b.pull(arms_a)
        assert torch.equal(ra, rb)


def test_first_argmax_breaks_ties_to_the_lowest_arm_like_torch():
    """The max-pool argmax over arm-major values (UCB1's and Thompson sampling's layout)
    must give torch.argmax's indices, the first maximum, on values full of ties (small
    integers: 5 arms, 3 values), and so must the view UCB1 makes once per run."""
    gen = torch.Generator().manual_seed(4)
    values = (
        torch.randint(0, 3, (5, 2000), generator=gen).float().t()
    )  # [seeds, K], stored arm by arm
    assert values.stride() == (1, 2000)
    expected = torch.argmax(values, dim=1)
    assert torch.equal(first_argmax(values), expected)
    out = torch.empty(2000, dtype=torch.long)
    assert first_argmax(values, out) is out
    assert torch.equal(out, expected)
    # the learners' form, made once per run: the max-pool writing into their kept buffers
    kept_values, out = (
        values.clone(),
        torch.full((2000,), -1, dtype=torch.long),
    )  # clone keeps the layout
    kept = KeptArgmax(kept_values, out)
    assert kept.pooled is not None
    assert kept() is out
    assert torch.equal(out, expected)
    kept_values[:, 3] = 5.0  # written in place, as the learners do: the next call sees it
    assert torch.equal(kept(), torch.full((2000,), 3))
    seed_major = KeptArgmax(kept_values.contiguous(), torch.empty(2000, dtype=torch.long))
    assert seed_major.pooled is None and torch.equal(seed_major(), torch.full((2000,), 3))
    assert arm_major_pool(values.contiguous()) is None  # seed-major: torch.argmax instead
    assert torch.equal(first_argmax(values.contiguous()), expected)


def test_ucb1_takes_the_same_path_without_the_cpu_shortcuts(monkeypatch):
    """Off the CPU, UCB1 draws its rewards' uniforms one round at a time and reduces its
    index with torch.argmax (no channels-last view). Those general paths, forced here on
    the CPU, must give the very trajectories of the CPU's block draws and max-pool argmax:
    the same counts on every seed after 3000 rounds (float32, 200 seeds, 5 arms)."""
    from engine.labs.bandits import base
    from tests.labs.bandits.recorder import FakeRecorder

    def counts_after(rounds):
        problem = BernoulliBandit({"means": [0.2, 0.4, 0.5, 0.55, 0.6]}, 200, CPU, torch.float32, 3)
        alg = UCB1({"c": 2.0}, problem, 200, CPU, torch.float32, 3)
        if general:
            problem._in_blocks = False
        alg.run(rounds, FakeRecorder([rounds]))
        return alg, alg.counts.clone()

    general = False
    fast, fast_counts = counts_after(3000)
    assert fast._argmax.pooled is not None
    general = True
    monkeypatch.setattr(base, "arm_major_pool", lambda values: None)
    slow, slow_counts = counts_after(3000)
    assert slow._argmax.pooled is None
    assert torch.equal(fast_counts, slow_counts)
    assert fast_counts.sum().item() == 3000 * 200


def _thompson_with_stats(seeds, counts, sums, prior, dtype=torch.float32):
    """A Beta Thompson learner whose own (arm-major) statistics hold counts and sums [K]."""
    problem = BernoulliBandit({"means": [0.5] * len(counts)}, seeds, CPU, dtype, 0)
    alg = BetaThompsonSampling(
        {"prior_a": prior[0], "prior_b": prior[1]}, problem, seeds, CPU, dtype, 4
    )
    alg.stats[0] = torch.tensor(counts, dtype=dtype)[:, None]
    alg.stats[1] = torch.tensor(sums, dtype=dtype)[:, None]
    return alg


@pytest.mark.parametrize("prior", [(1.0, 1.0), (2.0, 3.0), (0.5, 0.5)])
def test_thompson_kept_buffers_draw_what_a_fresh_posterior_draws(prior):
    """The learner draws each round into buffers kept for the run (`BetaPosterior`), reading
    its statistics live. From the same generator state, three rounds in a row must pick
    exactly the arms that `posterior_draws` on a copy of the statistics picks, in fresh
    memory; and the statistics changing between rounds must show in the next draw."""
    from engine.labs.bandits.thompson import posterior_draws

    seeds = 600  # 2 x 10 x 600 Gamma draws: the vectorised sampler
    alg = _thompson_with_stats(
        seeds, [40.0 * (i + 1) for i in range(10)], [12.0 * (i + 1) for i in range(10)], prior
    )
    for t in range(3):
        gen = torch.Generator()
        gen.set_state(alg.gen.get_state())
        expected = first_argmax(posterior_draws(alg.counts.clone(), alg.sums.clone(), *prior, gen))
        assert torch.equal(alg.select(20 + t), expected)
        assert torch.equal(alg.gen.get_state(), gen.get_state())
        alg.stats[0, 9] += 50.0  # arm 9: 50 more plays, all failures
    assert alg.counts[0, 9].item() == 400.0 + 150.0


def test_thompson_with_a_prior_below_one_samples_its_beta_posterior():
    """Prior (1/2, 1/2), arm 0 with one success, arm 1 with one failure: posteriors
    Beta(3/2, 1/2) and Beta(1/2, 3/2). With x = sin^2 a, y = sin^2 b their densities are
    (4/pi) sin^2 a da and (4/pi) cos^2 b db on (0, pi/2), so P(theta_0 > theta_1) =
    (16/pi^2) int sin^2 a (a/2 + sin 2a / 4) da = (16/pi^2)(pi^2/32 + 1/4) = 1/2 + 4/pi^2
    = 0.9053 (quadrature agrees). Over 40,000 seeds within 4 standard errors: the
    learner's draws below shape 1 (`sample_beta`, in log space) into its kept buffer."""
    from scipy import integrate, stats

    p = 0.5 + 4 / math.pi**2
    quad, _ = integrate.quad(
        lambda y: stats.beta(0.5, 1.5).pdf(y) * stats.beta(1.5, 0.5).sf(y), 0, 1
    )
    assert quad == pytest.approx(p, abs=1e-6)
    seeds = 40_000
    alg = _thompson_with_stats(seeds, [1.0, 1.0], [1.0, 0.0], (0.5, 0.5), torch.float64)
    share = (alg.select(3) == 0).double().mean().item()
    assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / seeds)
