"""ε from Opacus's RDP accountant: a closed form without subsampling, Opacus's own analysis
functions called independently, and the directions ε moves in."""

import math

import numpy as np
import pytest

from engine.labs.private.dp_sgd import EpsilonCurve, rdp_epsilon

ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))  # the accountant's orders


def test_full_batch_gaussian_mechanism_matches_the_closed_form():
    """With q = 1 (no subsampling) T Gaussian mechanisms of noise multiplier σ have RDP
    T α / (2 σ²) at every order α (Mironov 2017), and the accountant converts RDP to
    (ε, δ) by Balle et al. (2020): ε = min_α [ rdp(α) - (ln δ + ln α) / (α - 1)
    + ln((α - 1) / α) ]. σ = 5, T = 10, δ = 1e-5, over the accountant's orders."""
    sigma, steps, delta = 5.0, 10, 1e-5
    alphas = np.array(ORDERS, dtype=float)
    rdp = steps * alphas / (2 * sigma**2)
    by_hand = np.min(
        rdp - (math.log(delta) + np.log(alphas)) / (alphas - 1) + np.log((alphas - 1) / alphas)
    )
    assert 2.0 < by_hand < 4.0  # the value this setting gives: about 3.0
    assert rdp_epsilon(sigma, 1.0, steps, delta) == pytest.approx(by_hand, rel=1e-9)


def test_subsampled_gaussian_against_opacus_analysis_functions():
    """q = 0.01, σ = 1.1, T = 2000 steps, δ = 1e-5: the value Opacus's analysis module gives
    when called directly (compute_rdp of the sampled Gaussian mechanism, then
    get_privacy_spent), which the run's accountant must reproduce: ε = 2.381 (at order
    α = 8.2, with Opacus 1.5.4). A larger sampling rate, q = 0.1, spends more."""
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    rdp = compute_rdp(q=0.01, noise_multiplier=1.1, steps=2000, orders=ORDERS)
    reference, _ = get_privacy_spent(orders=ORDERS, rdp=rdp, delta=1e-5)
    assert rdp_epsilon(1.1, 0.01, 2000, 1e-5) == pytest.approx(float(reference), rel=1e-12)
    assert float(reference) == pytest.approx(2.381, abs=1e-3)
    assert float(reference) < rdp_epsilon(1.1, 0.1, 2000, 1e-5)


def test_epsilon_grows_with_steps_and_falls_with_noise():
    """More steps spend more privacy; more noise per step spends less (q = 0.05, δ = 1e-5)."""
    by_steps = [rdp_epsilon(1.0, 0.05, t, 1e-5) for t in (10, 100, 1000)]
    assert by_steps[0] < by_steps[1] < by_steps[2]
    by_noise = [rdp_epsilon(s, 0.05, 500, 1e-5) for s in (0.7, 1.0, 2.0, 4.0)]
    assert by_noise[0] > by_noise[1] > by_noise[2] > by_noise[3]


def test_epsilon_curve_is_the_accountants_epsilon_at_every_step_count():
    """The run's ε after t steps (one step's RDP computed once, times t) equals the RDP
    accountant's ε for (σ, q, t) at t = 1, 10, 137 and 1000 (σ = 0.9, q = 0.03, δ = 1e-6)."""
    curve = EpsilonCurve(0.9, 0.03, 1e-6)
    for t in (1, 10, 137, 1000):
        assert curve(t) == pytest.approx(rdp_epsilon(0.9, 0.03, t, 1e-6), rel=1e-12)
