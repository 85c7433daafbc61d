"""The log-linear policy problem with shared features, and DPO on it.

Reference values are computed by hand or with numpy from the formulas in each test's
docstring, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine import registry
from engine.labs.preference.loglinear import LogLinearPreferences
from engine.params import ParamError, validate_params
from engine.runner import execute
from engine.spec import RunSpec
from engine.store import Store
from tests.labs.preference.support import CPU, run, sigmoid

LOGLINEAR = "preference.loglinear"

# Three responses in two features; only responses 0 and 1 are ever compared. Response 2
# lies outside the data, and its features point along φ(0) − φ(1) rotated against φ(0).
SINGLE_PAIR = {
    "responses": 3,
    "feature_dim": 2,
    "features": [1.0, 0.0, 1.0, 0.5, 0.0, -1.0],
    "reward_weights": [2.0, -1.0],
    "data_responses": 2,
}


def make(seeds=1, seed=0, **params):
    return LogLinearPreferences(
        validate_params(LogLinearPreferences.params, params, "problem"),
        seeds,
        CPU,
        torch.float64,
        seed,
    )


def test_given_features_define_rewards_and_reference_by_hand():
    """Result: r = Φw and π_ref = softmax(Φ θ_ref). With φ = (1, 0), (1, 0.5), (0, −1),
    w = (2, −1) and θ_ref = (0.5, 1): r = (2, 1.5, 1) and Φθ_ref = (0.5, 1, −1), so
    π_ref = (e^0.5, e^1, e^−1) / (e^0.5 + e + e^−1)."""
    problem = make(**{**SINGLE_PAIR, "reference_parameters": [0.5, 1.0]})
    np.testing.assert_allclose(problem.rewards.numpy(), [2.0, 1.5, 1.0], rtol=0, atol=1e-15)
    logits = np.array([0.5, 1.0, -1.0])
    np.testing.assert_allclose(
        problem.reference.numpy(), np.exp(logits) / np.exp(logits).sum(), rtol=0, atol=1e-15
    )


def test_the_instance_not_the_run_seed_fixes_the_responses():
    """Result: features and reward weights are drawn from `instance` alone, so every run
    seed faces the same responses; another instance gives other responses. The shared
    component makes responses alike: with ρ = 0.95 the mean cosine between feature
    vectors exceeds 0.7, with ρ = 0 it is below 0.3 (K = 20, d = 8, seeded)."""
    a, b, c = make(seed=1), make(seed=2), make(instance=1)
    np.testing.assert_array_equal(a.features.numpy(), b.features.numpy())
    np.testing.assert_array_equal(a.rewards.numpy(), b.rewards.numpy())
    assert not np.array_equal(a.features.numpy(), c.features.numpy())

    def mean_cosine(rho):
        phi = make(responses=20, feature_dim=8, shared_feature=rho).features.numpy()
        unit = phi / np.linalg.norm(phi, axis=1, keepdims=True)
        cosine = unit @ unit.T
        return cosine[~np.eye(20, dtype=bool)].mean()

    assert mean_cosine(0.95) > 0.7
    assert abs(mean_cosine(0.0)) < 0.3


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("features", [1.0] * 5, "needs responses × feature_dim = 6 values, got 5"),
        ("reward_weights", [1.0, 2.0, 3.0], "needs feature_dim = 2 values, got 3"),
        ("reference_parameters", [1.0], "needs feature_dim = 2 values, got 1"),
        (
            "data_responses",
            4,
            r"must be 0 \(all\) or between 2 and the number of responses \(3\), got 4",
        ),
        (
            "data_responses",
            1,
            r"must be 0 \(all\) or between 2 and the number of responses \(3\), got 1",
        ),
    ],
)
def test_inconsistent_shapes_are_refused_naming_the_key(key, value, reason):
    """Result: every list must match K and d; the error names the spec key and the reason."""
    with pytest.raises(ParamError, match=rf"^problem\.{key}: {reason}$"):
        make(responses=3, feature_dim=2, **{key: value})


def test_sampled_pairs_stay_inside_the_data():
    """Result: with data_responses = M only responses 0..M−1 are compared, each distinct pair
    drawn with probability ∝ π_ref(y) π_ref(y'): for uniform π_ref and M = 3 each unordered
    pair has probability 1/3 (within 5 binomial standard errors of 60 000 draws, seeded)."""
    problem = make(
        responses=6, feature_dim=2, data_responses=3, mode="sampled", pairs=20_000, seeds=3, seed=4
    )
    pairs = problem.preference_pairs()
    chosen, rejected = pairs.chosen.numpy().ravel(), pairs.rejected.numpy().ravel()
    assert max(chosen.max(), rejected.max()) == 2
    n = chosen.size
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        count = np.sum((np.minimum(chosen, rejected) == a) & (np.maximum(chosen, rejected) == b))
        assert abs(count / n - 1 / 3) <= 5 * math.sqrt((1 / 3) * (2 / 3) / n)


def test_dpo_reaches_the_kl_regularised_optimum_inside_the_family():
    """Result: log π_ref + r/β = Φ(θ_ref + w/β) − const, so the KL-regularised optimum
    π* = π_ref exp(r/β)/Z lies in the log-linear family at θ* = θ_ref + w/β, and with every
    pair of the K = 8 responses covered (their differences span R^d) it is the unique
    minimiser of the population DPO loss: exact optimisation reaches it to 1e-6, in θ and
    in π (π* from numpy: π_ref ∝ 1 at θ_ref = 0, times exp(r/β))."""
    beta, steps = 1.0, 150
    alg, rec = run("preference.dpo", steps, LOGLINEAR, beta=beta, optimizer="sgd", lr=20.0)
    problem = alg.problem
    phi, w = problem.features64.numpy(), problem.reward_weights64.numpy()
    optimum = np.exp(phi @ w / beta) / np.exp(phi @ w / beta).sum()
    np.testing.assert_allclose(alg.theta.detach().numpy()[0], w / beta, rtol=0, atol=1e-6)
    np.testing.assert_allclose(alg.policy().numpy()[0], optimum, rtol=0, atol=1e-6)
    assert rec.records[steps]["distance_to_optimum"][0] < 1e-6


def test_first_dpo_step_on_shared_features_by_hand():
    """Result (population, two responses in the data): pairs (0 ≻ 1) with weight P = σ(r0 − r1)
    and (1 ≻ 0) with 1 − P; at θ = θ_ref every σ(−βh) = 1/2, so
        −∇θ L = β Σ w σ(−βh)(φ_w − φ_l) = β (P − 1/2)(φ(0) − φ(1)),
    and one SGD step of size η moves θ by η β (P − 1/2)(0, −0.5)."""
    beta, lr = 0.1, 3.0
    alg, _ = run(
        "preference.dpo", 1, LOGLINEAR, problem=SINGLE_PAIR, beta=beta, optimizer="sgd", lr=lr
    )
    p = sigmoid(0.5)
    np.testing.assert_allclose(
        alg.theta.detach().numpy()[0], [0.0, lr * beta * (p - 0.5) * -0.5], rtol=0, atol=1e-15
    )


def test_likelihood_displacement_on_shared_features_but_not_on_tabular_logits():
    """Result: with one compared pair, DPO raises the tabular logit of y_w and lowers y_l's,
    so π(y_w) rises. With shared features its step θ ∝ φ(0) − φ(1) = (0, −0.5) changes
    log π(0) by ⟨φ(0) − E_π φ, Δθ⟩ ∝ ⟨(1/3, 1/6), (0, −0.5)⟩ = −1/12 < 0 at uniform π: the
    chosen response loses probability, and the mass goes to response 2 outside the data.
    The population optimum solves β h = logit σ(Δr) = 0.5 with h = −θ₂/2 and no gradient
    ever along θ₁, so θ* = (0, −10) at β = 0.1: π ∝ (1, e^−5, e^10), π(2) ≈ 0.99995,
    and E_π[r] falls from 1.5 at π_ref to about r(2) = 1 although r(0) = 2 is preferred."""
    beta = 0.1
    alg, rec = run(
        "preference.dpo", 300, LOGLINEAR, problem=SINGLE_PAIR, beta=beta, optimizer="sgd", lr=200.0
    )
    np.testing.assert_allclose(alg.theta.detach().numpy()[0], [0.0, -10.0], rtol=0, atol=1e-6)
    logits = np.array([0.0, -5.0, 10.0])
    np.testing.assert_allclose(
        alg.policy().numpy()[0], np.exp(logits) / np.exp(logits).sum(), rtol=0, atol=1e-9
    )
    _, chosen = rec.series("chosen_logp")
    _, margin = rec.series("reward_margin")
    _, reward = rec.series("true_reward")
    assert chosen[0] == pytest.approx(math.log(1 / 3), abs=1e-14)
    assert chosen[-1] < chosen[0] - 10.0
    assert np.all(np.diff(chosen) <= 1e-12) and np.all(np.diff(margin) >= -1e-12)
    assert reward[0] == pytest.approx(1.5, abs=1e-14) and reward[-1] == pytest.approx(1.0, abs=1e-3)

    tabular, _ = run(
        "preference.dpo",
        300,
        problem={"rewards": [2.0, 1.5, 1.0], "data_responses": 2},
        beta=beta,
        optimizer="sgd",
        lr=200.0,
    )
    assert tabular.policy().numpy()[0, 0] > 1 / 3 + 0.3


def test_a_loglinear_spec_runs_through_the_runner(tmp_path):
    """Result: through the runner and the store, DPO on the log-linear problem records
    every declared metric for every seed; the first loss is log 2 and the first win rate
    1/2 (π = π_ref: y and y' are exchangeable), in float32 as in float64."""
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": 2, "steps": 20},
            "algorithm": {"id": "preference.dpo"},
            "problem": {"id": LOGLINEAR, "mode": "sampled", "pairs": 8},
            "hardware": {"device": "cpu", "dtype": "float32"},
        },
        registry.Catalogue.live(),
    )
    store = Store(tmp_path / "runs.db")
    try:
        run_id, status = execute(spec, store, "cpu")
        assert status == "finished", store.get_run(run_id)["error"]
        assert store.metrics_of(run_id) == sorted(registry.algorithm("preference.dpo").metrics)
        for name, first in [("loss", math.log(2.0)), ("win_rate", 0.5)]:
            series = store.series(run_id, name)
            assert sorted(series) == [0, 1]
            for steps, values in series.values():
                assert steps[0] == 1 and values[0] == pytest.approx(first, abs=1e-6)
    finally:
        store.close()
