"""rl.sharpe_ratio_at_k: estimates of every candidate and the top-k portfolio statistics."""

import math

import numpy as np
import pytest
import torch

from engine.labs.rl_offpolicy.sharpe_ratio import ridge_reward_model
from tests.labs.rl_offpolicy.support import build_problem, run

BANDIT = "rl.classification_bandit"


def test_ridge_reward_model_solves_the_normal_equations_per_action():
    """β_a = (Σ_{a_i = a} φ_i φ_iᵀ + λI)⁻¹ Σ_{a_i = a} φ_i r_i: with one feature φ = 1 the
    fit is Σ r / (count + λ) per action: action 0 logged rewards 1, 1, 0 → 2/(3 + 1);
    action 1 logged 1 → 1/(1 + 1)."""
    features = torch.ones(1, 4, 1, dtype=torch.float64)
    actions = torch.tensor([[0, 0, 1, 0]])
    rewards = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    beta = ridge_reward_model(features, actions, rewards, 2, ridge=1.0)
    assert beta[0, :, 0].tolist() == pytest.approx([0.5, 0.5])
    beta = ridge_reward_model(features, actions, rewards, 2, ridge=0.5)
    assert beta[0, :, 0].tolist() == pytest.approx([2 / 3.5, 1 / 1.5])


def test_run_records_each_estimator_portfolio_per_k():
    """At step k: behaviour_value is J(π0) exactly, best@M is the best candidate's value for
    every estimator (the whole set), std@M the population sd of all M true values, and
    SharpeRatio@k = (best@k − J(π_b))/std@k (NaN at k = 1). IPS's portfolio is rebuilt by
    hand from its estimates."""
    prob = build_problem(BANDIT, seeds=3, logged_rounds=200, logging_temperature=1.0)
    alg, rec = run("rl.sharpe_ratio_at_k", prob, steps=6, candidates=6, candidate_temperature=0.2)
    policies = alg.candidate_policies()
    assert torch.equal(policies[0], prob.logging)
    values = prob.value(policies).numpy()
    last = rec.records[6]
    assert last["behaviour_value"] == pytest.approx(values[0])
    for e in ("ips", "snips", "dm", "dr"):
        assert last[f"{e}_best"] == pytest.approx(values.max())
        assert last[f"{e}_std"] == pytest.approx(values.std(), rel=1e-9)
        assert np.isnan(rec.records[1][f"{e}_sharpe"]).all()
    logged = prob.log()
    target = policies[:, logged["context"], logged["action"]]  # [M, S, n]
    ips_estimates = (target / logged["propensity"] * logged["reward"]).mean(-1).T.numpy()  # [S, M]
    for seed in range(3):
        ranked = values[np.argsort(-ips_estimates[seed], kind="stable")]
        for k in range(2, 7):
            top = ranked[:k]
            expected = (top.max() - values[0]) / top.std()
            assert rec.records[k]["ips_sharpe"][seed] == pytest.approx(expected, rel=1e-9)


def test_steps_beyond_the_candidates_record_nothing_more():
    """A run of more steps than candidate policies records SharpeRatio@k for k = 1 … M
    only: there is no larger portfolio."""
    prob = build_problem(BANDIT)
    _, rec = run("rl.sharpe_ratio_at_k", prob, steps=9, candidates=6)
    assert sorted(rec.records) == [1, 2, 3, 4, 5, 6]
    assert rec.series("k")[:, 0].tolist() == [1, 2, 3, 4, 5, 6]


def test_doubly_robust_is_unbiased_and_direct_method_is_biased():
    """Over 2000 seeds: the DR estimate of a candidate's value is unbiased (within 4
    standard errors of the exact J) even with the misspecified linear reward model (it is
    cross-fitted: no round is scored by a model fitted on it), while
    DM's mean misses J by many standard errors (the model's bias)."""
    seeds = 2000
    prob = build_problem(
        BANDIT, seeds=seeds, logged_rounds=50, logging_temperature=2.0, logging_uniform=0.2
    )
    alg, _ = run("rl.sharpe_ratio_at_k", prob, steps=2, candidates=3)
    policies = alg.candidate_policies()
    estimates = alg.estimates(policies, prob.log())
    value = prob.value(policies[1]).item()
    dr, dm = estimates["dr"][:, 1], estimates["dm"][:, 1]
    assert abs(dr.mean().item() - value) < 4 * dr.std().item() / math.sqrt(seeds)
    assert abs(dm.mean().item() - value) > 10 * dm.std().item() / math.sqrt(seeds)
