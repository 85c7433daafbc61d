"""The classification bandit's exact values, the smoothed estimator's bias and variance,
and learning with it (rl.smoothed_ips_evaluation, rl.smoothed_ips_learning)."""

import math

import numpy as np
import pytest
import torch

from engine.labs.rl_offpolicy.estimators import exact_moments, ips, smoothed_ips
from engine.params import ParamError
from tests.labs.rl_offpolicy.support import build_problem, run

BANDIT = "rl.classification_bandit"


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_true_policy_values_are_exact_over_the_context_set(dtype):
    """V(π) = (1/N) Σ_j π(y_j|x_j): the labels policy is worth 1, the uniform policy 1/K,
    and the logging policy its mean probability of the true label, summed by hand."""
    prob = build_problem(BANDIT, dtype=dtype, contexts=30, actions=3)
    labels = prob.labels.tolist()
    assert labels == [j % 3 for j in range(30)]
    assert prob.value(prob.reward).item() == pytest.approx(1.0, rel=1e-6)
    assert prob.value(torch.full((30, 3), 1 / 3, dtype=dtype)).item() == pytest.approx(
        1 / 3, rel=1e-6
    )
    by_hand = sum(prob.logging[j, labels[j]].item() for j in range(30)) / 30
    assert prob.value(prob.logging).item() == pytest.approx(by_hand, rel=1e-6)


def test_logged_rounds_follow_the_problem():
    """Each logged reward is 1[a = y] and each propensity π0(a|x) of the logged pair."""
    prob = build_problem(BANDIT, seeds=3, logged_rounds=40)
    logged = prob.log()
    j, a = logged["context"], logged["action"]
    assert torch.equal(logged["reward"], (a == prob.labels[j]).double())
    assert torch.equal(logged["propensity"], prob.logging[j, a])


def test_ips_is_unbiased_over_many_seeds_and_its_variance_is_the_exact_one():
    """IPS's unbiasedness: over S = 4000 seeds of n = 20 logged rounds, the mean estimate is
    within 4 standard errors sqrt(Var/S) of the exact V(π), with Var the exact variance;
    the seeds' sample variance matches that Var within 15% (the logging policy mixes in
    enough of the uniform one, ε = 0.2, for the sample variance itself to settle). The smoothed estimator at
    α = ½ is biased: its mean matches its own exact mean and sits many standard errors
    away from V(π)."""
    seeds, rounds = 4000, 20
    prob = build_problem(BANDIT, seeds=seeds, logged_rounds=rounds, logging_uniform=0.2)
    target = 0.9 * prob.reward + 0.1 / prob.k
    value = prob.value(target).item()
    logged = prob.log()
    target_prob = target[logged["context"], logged["action"]]
    estimates = ips(target_prob, logged["propensity"], logged["reward"])
    mean, variance = exact_moments(target / prob.logging, prob.logging, prob.reward, rounds)
    assert mean.item() == pytest.approx(value, rel=1e-12)
    standard_error = math.sqrt(variance.item() / seeds)
    assert abs(estimates.mean().item() - value) < 4 * standard_error
    assert estimates.var().item() == pytest.approx(variance.item(), rel=0.15)

    smoothed = smoothed_ips(target_prob, logged["propensity"], logged["reward"], 0.5)
    s_mean, s_variance = exact_moments(
        target * prob.logging.pow(-0.5), prob.logging, prob.reward, rounds
    )
    s_error = math.sqrt(s_variance.item() / seeds)
    assert abs(smoothed.mean().item() - s_mean.item()) < 4 * s_error
    assert value - s_mean.item() > 20 * s_error


def test_evaluation_run_reports_exact_bias_and_variance_per_alpha():
    """rl.smoothed_ips_evaluation: at α = 1 (last step) the smoothed rows equal the IPS rows
    (bias 0); at α = 0 the bias is E[(1/n) Σ π r] − V = (1/N) Σ_j Σ_a π0 π r − V, by hand;
    the default problem's smoothed MSE is U-shaped, its minimum inside (0, 1) and below
    IPS's; each seed's error is its estimate minus V(π)."""
    prob = build_problem(BANDIT, seeds=4)
    _, rec = run("rl.smoothed_ips_evaluation", prob, steps=11)
    alpha = rec.series("alpha")[:, 0]
    assert alpha.tolist() == pytest.approx([i / 10 for i in range(11)])
    last = rec.records[11]
    for m in ("bias", "variance", "mse", "error"):
        assert last[f"smoothed_{m}"] == pytest.approx(last[f"ips_{m}"], rel=1e-9, abs=1e-12)
    assert abs(last["ips_bias"][0]) < 1e-12
    target = 0.9 * prob.reward + 0.1 / prob.k
    by_hand = (prob.logging * target * prob.reward).sum(-1).mean().item() - prob.value(
        target
    ).item()
    assert rec.records[1]["smoothed_bias"][0] == pytest.approx(by_hand, rel=1e-9)
    mse = rec.series("smoothed_mse")[:, 0]
    best = int(np.argmin(mse))
    assert 0 < best < 10
    assert mse[best] < 0.5 * last["ips_mse"][0]
    logged = prob.log()
    estimate = ips(
        target[logged["context"], logged["action"]], logged["propensity"], logged["reward"]
    )
    assert last["ips_error"] == pytest.approx((estimate - prob.value(target)).numpy(), rel=1e-9)


def test_alpha_range_must_not_be_reversed():
    """alpha_end below alpha_start is refused with a message naming both."""
    prob = build_problem(BANDIT)
    with pytest.raises(ParamError, match="alpha_end.*alpha_start"):
        run("rl.smoothed_ips_evaluation", prob, steps=3, alpha_start=0.8, alpha_end=0.2)


def test_learning_at_alpha_one_is_ips_learning_and_beats_the_logging_policy():
    """rl.smoothed_ips_learning: at α = 1 the smoothed objective is IPS's, so the learned
    policy's true value equals the IPS-learned one; on a widely exploring logging policy
    every learned policy is worth more than π0 (the paper's learning improves on logging)."""
    prob = build_problem(
        BANDIT, seeds=2, separation=1.5, logged_rounds=300, logging_temperature=3.0
    )
    _, rec = run("rl.smoothed_ips_learning", prob, steps=2, iterations=60, lr=0.2)
    last = rec.records[2]
    assert rec.records[1]["alpha"][0] == 0.0 and last["alpha"][0] == 1.0
    assert last["smoothed_value"] == pytest.approx(last["ips_value"], rel=1e-9)
    logging_value = prob.value(prob.logging).item()
    assert last["logging_value"][0] == pytest.approx(logging_value)
    for name in ("smoothed_value", "clipped_value", "ips_value"):
        assert (rec.series(name) > logging_value + 0.1).all()
    assert rec.records[1]["smoothed_value"].max() <= 1.0
