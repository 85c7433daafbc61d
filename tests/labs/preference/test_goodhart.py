"""Proxy optimisation along the KL-regularised path and its early stopping, against closed forms.

Reference values come from the formulas in each docstring, computed by hand or with
numpy, never with the code under test.
"""

import math

import numpy as np
import pytest

from tests.labs.preference.support import run

PROXY = "preference.proxy_reward"
ALGORITHM = "preference.goodhart_early_stopping"


def numpy_path(true, proxy, pressures):
    """E_π_λ[r] and E_π_λ[r̃] along π_λ ∝ exp(λ r̃) (uniform π_ref), in numpy."""
    logits = np.outer(pressures, proxy)
    policy = np.exp(logits - logits.max(1, keepdims=True))
    policy /= policy.sum(1, keepdims=True)
    return policy @ true, policy @ proxy


def test_kl_regularised_optimum_by_hand():
    """Result: at λ = 1/β = 1 with uniform π_ref over 3 responses and r̃ = (0, log 2, log 4),
    π ∝ (1, 2, 4)/7, so E_π[r̃] = (2 log 2 + 8 log 2)/7 = 10 log 2 / 7 and
    KL(π ‖ π_ref) = λ E_π[r̃] − log E_π_ref[exp(λ r̃)] = 10 log 2 / 7 − log(7/3);
    E_π[r] for r = (1, 0, −1) is (1 − 4)/7 = −3/7."""
    problem = {
        "responses": 3,
        "true_rewards": [1.0, 0.0, -1.0],
        "proxy_rewards": [0.0, math.log(2), math.log(4)],
    }
    alg, rec = run(ALGORITHM, 1, PROXY, problem=problem, pressure_start=1.0, pressure_end=1.0)
    np.testing.assert_allclose(
        alg.final_policy.numpy(), np.array([1, 2, 4]) / 7, rtol=0, atol=1e-15
    )
    first = rec.records[1]
    assert first["path_proxy_reward"][0] == pytest.approx(10 * math.log(2) / 7, abs=1e-14)
    assert first["kl_to_reference"][0] == pytest.approx(
        10 * math.log(2) / 7 - math.log(7 / 3), abs=1e-14
    )
    assert first["path_true_reward"][0] == pytest.approx(-3 / 7, abs=1e-14)
    assert first["inverse_beta"][0] == 1.0


def test_the_proxy_errs_on_responses_below_the_median():
    """Result (construction): r̃ − r equals error_size on exactly error_responses responses,
    each with true reward below the median, and 0 elsewhere (no proxy noise)."""
    alg, _ = run(
        ALGORITHM,
        1,
        PROXY,
        problem={"responses": 10, "error_responses": 3, "error_size": 2.5, "instance": 5},
    )
    true, proxy = alg.problem.true_rewards.numpy(), alg.problem.proxy_rewards.numpy()
    error = proxy - true
    erring = np.flatnonzero(np.abs(error) > 0)
    assert len(erring) == 3
    np.testing.assert_allclose(error[erring], 2.5, rtol=0, atol=1e-14)
    assert np.all(true[erring] < np.median(true))


def test_goodhart_true_reward_rises_then_falls():
    """Result (Goodhart's law, seeded default instance): along π_λ the proxy reward only
    rises (dE[r̃]/dλ = Var_π_λ(r̃) ≥ 0), while the true reward, matching the numpy closed
    form to 1e-12, rises from −0.264 at λ = 0.01 to a peak ≈ 0.459 near λ ≈ 3.3 and then
    falls to −0.396 at λ = 100, below where it started (margins 0.5)."""
    steps = 400
    alg, rec = run(ALGORITHM, steps, PROXY, every_step=True, early_stopping=False)
    _, path_true = rec.series("path_true_reward")
    _, path_proxy = rec.series("path_proxy_reward")
    _, pressure = rec.series("inverse_beta")
    np.testing.assert_allclose(
        pressure, 0.01 * 10_000 ** (np.arange(steps) / (steps - 1)), rtol=1e-12
    )
    true_ref, proxy_ref = numpy_path(
        alg.problem.true_rewards.numpy(), alg.problem.proxy_rewards.numpy(), pressure
    )
    np.testing.assert_allclose(path_true, true_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(path_proxy, proxy_ref, rtol=0, atol=1e-12)
    assert np.all(np.diff(path_proxy) >= -1e-12)
    peak = np.argmax(path_true)
    assert 0 < peak < steps - 1
    assert path_true[peak] - path_true[0] > 0.5
    assert path_true[peak] - path_true[-1] > 0.5
    assert path_true[-1] < path_true[0]
    _, stopped = rec.series("stopped")
    assert not stopped.any()


def test_early_stopping_keeps_the_true_reward_rising():
    """Result (the paper's stopping rule): while angle(dπ_λ/dλ, r̃) < 90° − θ with θ the
    angle between r and r̃, ⟨dπ_λ/dλ, r⟩ > 0, so the true reward never falls before the
    stop; the held policy is then frozen. Seeded default instance (θ ≈ 42.5°): the stop
    comes before the peak at λ ≈ 0.84, holds true reward ≈ 0.220, at least 0.45 above the
    start and within 0.25 of the path's best 0.459, where running on ends at −0.396."""
    alg, rec = run(ALGORITHM, 400, PROXY, every_step=True)
    theta = math.degrees(alg.problem.angle)
    _, stopped = rec.series("stopped")
    _, angle = rec.series("direction_angle")
    _, path_true = rec.series("path_true_reward")
    _, held_true = rec.series("true_reward")
    _, pressure = rec.series("inverse_beta")
    true, proxy = alg.problem.true_rewards.numpy(), alg.problem.proxy_rewards.numpy()
    centred = proxy - proxy.mean()
    expected_angle = []
    for lam in pressure:
        policy = np.exp(lam * (proxy - proxy.max()))
        policy /= policy.sum()
        direction = policy * (proxy - policy @ proxy)
        cosine = direction @ centred / (np.linalg.norm(direction) * np.linalg.norm(centred))
        expected_angle.append(np.degrees(np.arccos(np.clip(cosine, -1, 1))))
    np.testing.assert_allclose(angle, expected_angle, rtol=0, atol=1e-9)
    centred_true = true - true.mean()
    assert theta == pytest.approx(
        np.degrees(
            np.arccos(
                centred_true @ centred / (np.linalg.norm(centred_true) * np.linalg.norm(centred))
            )
        ),
        abs=1e-9,
    )
    stop = int(np.argmax(stopped > 0))
    assert pressure[stop] == pytest.approx(0.841, abs=1e-3)
    assert stopped[stop] == 1 and np.all(stopped[:stop] == 0) and np.all(stopped[stop:] == 1)
    assert np.all(angle[:stop] < 90 - theta) and angle[stop] >= 90 - theta
    assert np.all(np.diff(path_true[: stop + 1]) > 0)
    np.testing.assert_allclose(held_true[stop:], path_true[stop], rtol=0, atol=0)
    assert stop < np.argmax(path_true)
    assert held_true[-1] - path_true[0] > 0.45
    assert path_true.max() - held_true[-1] < 0.25
    assert held_true[-1] - path_true[-1] > 0.6
    assert alg.stopped
