"""Gaussian Thompson sampling, and the Gamma / Beta samplers behind Beta Thompson sampling,
against reference values. Each test names the result it checks."""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.problems import GaussianBandit
from engine.labs.bandits.thompson import (
    SIGMA,
    _squeeze_pending,
    marsaglia_tsang,
    posterior_draws,
    sample_beta,
    standard_gamma,
)
from engine.labs.bandits.thompson_gaussian import GaussianThompsonSampling
from tests.labs.bandits.recorder import CPU, run

F64 = torch.float64
PAPER_PRIOR = {"prior_mean": 0.0, "prior_sd": 1.0, "noise_sd": 1.0}


def with_stats(params, counts, sums, seeds=1):
    problem = GaussianBandit({"means": [0.0, 0.0], "sigma": 1.0}, seeds, CPU, F64, 0)
    alg = GaussianThompsonSampling(params, problem, seeds, CPU, F64, 0)
    alg.counts = torch.tensor([counts], dtype=F64).expand(seeds, 2).clone()
    alg.sums = torch.tensor([sums], dtype=F64).expand(seeds, 2).clone()
    return alg


def test_posterior_of_the_paper_by_hand():
    """Agrawal & Goyal (2013), Algorithm 2: N(S / (k + 1), 1 / (k + 1)). Arm 0 with k = 3
    plays summing to 1.5: mean 0.375, variance 0.25; arm 1 unplayed: N(0, 1)."""
    mean, var = with_stats(PAPER_PRIOR, [3.0, 0.0], [1.5, 0.0]).posterior()
    np.testing.assert_allclose(mean.numpy()[0], [0.375, 0.0], rtol=1e-12)
    np.testing.assert_allclose(var.numpy()[0], [0.25, 1.0], rtol=1e-12)


def test_posterior_with_a_general_prior_by_hand():
    """Prior N(0.2, 2^2), noise 0.5, k = 3, S = 1.5: precision 1/4 + 3/0.25 = 12.25,
    mean (0.2/4 + 1.5/0.25) / 12.25 = 6.05 / 12.25, variance 1 / 12.25."""
    alg = with_stats({"prior_mean": 0.2, "prior_sd": 2.0, "noise_sd": 0.5}, [3.0, 0.0], [1.5, 0.0])
    mean, var = alg.posterior()
    np.testing.assert_allclose(mean.numpy()[0, 0], 6.05 / 12.25, rtol=1e-12)
    np.testing.assert_allclose(var.numpy()[0, 0], 1 / 12.25, rtol=1e-12)
    np.testing.assert_allclose(mean.numpy()[0, 1], 0.2, rtol=1e-12)


def test_samples_pick_arms_with_the_posterior_probability():
    """With posteriors N(0.375, 0.25) and N(0, 1), arm 0's sample is larger with probability
    Phi(0.375 / sqrt(1.25)) = 0.6313; over 40,000 seeds within 4 standard errors."""
    seeds = 40_000
    arms = with_stats(PAPER_PRIOR, [3.0, 0.0], [1.5, 0.0], seeds).select(5)
    p = 0.5 * (1 + math.erf(0.375 / math.sqrt(1.25) / math.sqrt(2)))
    assert p == pytest.approx(0.6313, abs=1e-4)
    assert abs((arms == 0).double().mean().item() - p) < 4 * math.sqrt(p * (1 - p) / seeds)


def test_regret_grows_at_the_lai_robbins_rate_on_gaussian_arms():
    """With noise equal to the arms' (sigma = 1) the posterior is exact, and Thompson
    sampling's regret grows like sum 2 sigma^2 / gap ln T (Lai–Robbins for Gaussian arms):
    means (0, 1) give c = 2. Between T = 200 and 2000 the mean regret over 200 seeds grows
    by c ln 10 times a factor within [0.5, 1.1] (measured: 0.66 to 0.69, standard error
    0.05; the factor approaches 1 from below slowly: 0.85 to 0.90 between 2000 and 20000).
    A posterior twice too wide (noise_sd = 2) gives 2.65, one twice too narrow 0.14."""
    _, problem, rec = run(
        GaussianThompsonSampling,
        PAPER_PRIOR,
        GaussianBandit,
        {"means": [0.0, 1.0], "sigma": 1.0},
        200,
        [200, 2000],
    )
    c = problem.lai_robbins_constant()
    assert c == pytest.approx(2.0)
    growth = (
        (rec.values[2000]["cumulative_regret"] - rec.values[200]["cumulative_regret"]).mean().item()
    )
    assert 0.5 * c * math.log(10) < growth < 1.1 * c * math.log(10)


@pytest.mark.parametrize("shape", [1.0, 2.5, 40.0])
def test_marsaglia_tsang_draws_have_the_gamma_moments(shape):
    """Gamma(a, 1) has mean a and variance a; and P(Gamma(1) <= 1) = 1 - 1/e. Over 200,000
    draws the sample mean is within 4 standard errors (sqrt(a / n)) and the variance
    within 2%."""
    gen = torch.Generator().manual_seed(3)
    x = marsaglia_tsang(torch.full((200_000,), shape, dtype=F64), gen)
    assert abs(x.mean().item() - shape) < 4 * math.sqrt(shape / 200_000)
    assert x.var().item() == pytest.approx(shape, rel=0.02)
    if shape == 1.0:
        assert (x <= 1).double().mean().item() == pytest.approx(1 - math.exp(-1), abs=4e-3)


def test_both_gamma_paths_draw_from_the_generator_given():
    """The same generator state gives the same draws, for the small (torch) and the large
    (vectorised) path alike, so Thompson sampling is reproducible from the run's seed."""
    for n in (10, 70_000):
        shape = torch.full((n,), 3.0)
        a = standard_gamma(shape, torch.Generator().manual_seed(5))
        b = standard_gamma(shape, torch.Generator().manual_seed(5))
        assert torch.equal(a, b)


def test_beta_draws_with_shapes_below_one():
    """Beta(0.3, 0.5): mean 0.3 / 0.8 = 0.375, variance ab / ((a + b)^2 (a + b + 1)) =
    0.15 / (0.64 * 1.8) = 0.1302; the log-space path must reproduce both (100,000 draws)."""
    gen = torch.Generator().manual_seed(0)
    n = 100_000
    x = sample_beta(torch.full((n,), 0.3, dtype=F64), torch.full((n,), 0.5, dtype=F64), gen)
    assert abs(x.mean().item() - 0.375) < 4 * math.sqrt(0.1302 / n)
    assert x.var().item() == pytest.approx(0.15 / (0.64 * 1.8), rel=0.02)


@pytest.mark.parametrize("d", [2 / 3, 1.3, 10.0, 1e3, 1e5])
def test_squeeze_accepts_only_what_the_exact_test_accepts(d):
    """The squeeze of `GammaBatch` settles a candidate (z, byte r) for every u in its cell,
    1 - (r + 1) / 256 < u <= 1 - r / 256, at once, so wherever it does, Marsaglia &
    Tsang's exact test must accept u = 1 - r / 256: ln u < z^2/2 + d - d v + d ln v, with
    v = (1 + z / sqrt(9 d))^3 > 0, in float64. Checked on a grid of z and all 256 bytes,
    in float32 as the sampler computes it (x = SIGMA z). Where d is large it must also
    settle almost all candidates (at least 98% of N(0, 1) draws from bytes r >= 1), or it
    is no squeeze at all."""
    z = np.linspace(-6.0, 6.0, 2401)
    cells = np.repeat(np.arange(256, dtype=np.uint8), len(z))
    xs = np.tile(z * SIGMA, 256).astype(np.float32)
    ds = np.full(len(xs), d, dtype=np.float32)
    root = 1 + xs / np.sqrt(np.float32(9 * SIGMA * SIGMA) * ds)
    pending = _squeeze_pending(xs, ds, root, cells)
    settled = np.ones(len(xs), dtype=bool)
    settled[pending] = False
    d64, z64 = ds.astype(np.float64), xs.astype(np.float64) / SIGMA
    v = (1 + z64 / np.sqrt(9 * d64)) ** 3
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = d64 * (1 + np.log(v) - v) + z64 * z64 / 2
    u_top = 1 - cells.astype(np.float64) / 256
    assert np.all(v[settled] > 0)
    assert np.all(np.log(u_top[settled]) < exact[settled])
    if d >= 10:
        weights = np.exp(-z64 * z64 / 2) * (cells > 0)
        assert (weights * settled).sum() / weights.sum() > 0.98


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("shape", [1.0, 3.0, 40.0, 2e4])
def test_marsaglia_tsang_draws_follow_the_gamma_law(shape, dtype):
    """Kolmogorov–Smirnov against the Gamma(shape, 1) CDF, 200,000 draws on a fixed seed:
    p > 0.001 (a wrong squeeze, cell or restart shows at p < 1e-10 here)."""
    from scipy import stats

    x = marsaglia_tsang(
        torch.full((200_000,), shape, dtype=dtype), torch.Generator().manual_seed(11)
    )
    assert x.dtype == dtype
    assert stats.kstest(x.double().numpy(), stats.gamma(shape).cdf).pvalue > 1e-3


@pytest.mark.parametrize("arm_major", [True, False])
def test_posterior_draws_follow_each_arms_beta(arm_major):
    """Arm i with S_i successes in n_i plays draws Beta(S_i + a, n_i - S_i + b). Arms with
    (n, S) = (4, 2), (10, 1), (50, 40) and prior (1, 2): Beta(3, 4), Beta(2, 11), Beta(41, 12);
    over 40,000 seeds each arm's mean a / (a + b) is within 4 standard errors, whether the
    statistics are stored arm by arm or seed by seed."""
    seeds = 40_000
    counts = torch.tensor([4.0, 10.0, 50.0]).expand(seeds, 3)
    sums = torch.tensor([2.0, 1.0, 40.0]).expand(seeds, 3)
    if arm_major:
        counts, sums = counts.t().contiguous().t(), sums.t().contiguous().t()
    else:
        counts, sums = counts.contiguous(), sums.contiguous()
    theta = posterior_draws(counts, sums, 1.0, 2.0, torch.Generator().manual_seed(2))
    assert theta.shape == (seeds, 3)
    for arm, (a, b) in enumerate([(3, 4), (2, 11), (41, 12)]):
        mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
        assert abs(theta[:, arm].double().mean().item() - mean) < 4 * math.sqrt(var / seeds)
