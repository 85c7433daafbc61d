"""The metric set every Lab-2 run records, for every algorithm on both problems.

Reference values come from the formulas in each docstring, computed with numpy from the
problem's definition, never with the code under test.
"""

import math

import numpy as np
import pytest

from engine import registry
from engine.labs.preference.base import PREFERENCE_METRICS
from tests.labs.preference.support import kl_regularised_optimum, run, sigmoid

ALGORITHMS = [
    "preference.dpo",
    "preference.ipo",
    "preference.rdpo",
    "preference.dpo_shift",
    "preference.rpo",
    "preference.kto",
    "preference.wpo",
    "preference.discopop",
]
TABULAR = {"rewards": [1.0, 0.5, 0.0, -0.5], "reference": [0.4, 0.3, 0.2, 0.1]}


def population(reference, rewards):
    """Every ordered pair (w, l) of distinct responses with its weight
    2 π_ref(w) π_ref(l) σ(r_w − r_l) / (1 − Σ π_ref²)."""
    k = len(rewards)
    distinct = 1 - np.sum(reference**2)
    return [
        (w, l, 2 * reference[w] * reference[l] / distinct * sigmoid(rewards[w] - rewards[l]))
        for w in range(k)
        for l in range(k)
        if w != l
    ]


def loss_at_reference(algorithm_id, reference, pairs, beta=0.1):
    """Each loss at π = π_ref, where every log-ratio is 0: the logistic family gives log 2
    (rDPO: ((1 − ε) − ε) log 2/(1 − 2ε); DPO-Shift: log σ(0)); IPO 1/(4τ²); KTO (λ_D + λ_U)/4;
    DiscoPOP (1 + log 2)/2; RPO adds η β E[−log π_ref(y_w)] (η = 0.5); WPO multiplies
    each pair by min(1, π_ref(w) π_ref(l)/(Σ π_ref²)²)."""
    if algorithm_id == "preference.ipo":
        return 1 / (4 * beta**2)
    if algorithm_id == "preference.kto":
        return 0.5
    if algorithm_id == "preference.discopop":
        return (1 + math.log(2)) / 2
    if algorithm_id == "preference.rpo":
        return math.log(2) - 0.5 * beta * sum(
            weight * math.log(reference[w]) for w, _, weight in pairs
        )
    if algorithm_id == "preference.wpo":
        alignment = np.sum(reference**2)
        return sum(
            weight * min(1.0, reference[w] * reference[l] / alignment**2) * math.log(2)
            for w, l, weight in pairs
        )
    return math.log(2)


def ipo_closed_form(reference, rewards, tau):
    """π*(y) ∝ π_ref(y) exp(τ⁻¹ Σ_y' π_ref(y') σ(r_y − r_y')) (Azar et al.)."""
    optimum = reference * np.exp(sigmoid(rewards[:, None] - rewards[None, :]) @ reference / tau)
    return optimum / optimum.sum()


@pytest.mark.parametrize("algorithm_id", ALGORITHMS)
@pytest.mark.parametrize("problem_id", ["preference.tabular_bt", "preference.loglinear"])
def test_every_metric_at_the_reference_policy(algorithm_id, problem_id):
    """Result: at the first step π = π_ref, so for every algorithm and both problems the
    margin and the KL are 0, the win rate against π_ref is 1/2 (exchangeable draws,
    σ(a) + σ(−a) = 1), the true reward is Σ π_ref r, the chosen and rejected
    log-probabilities are the weighted means of log π_ref, the loss is the algorithm's
    value at zero log-ratios, and the distance to the optimum is TV(π_ref, π*) with π* the
    KL-regularised optimum π_ref exp(r/β)/Z (IPO: its own closed form)."""
    problem = TABULAR if problem_id == "preference.tabular_bt" else {}
    alg, rec = run(algorithm_id, 1, problem_id, seeds=2, problem=problem)
    first = rec.records[1]
    assert (
        sorted(first)
        == sorted(PREFERENCE_METRICS)
        == sorted(registry.algorithm(algorithm_id).metrics)
    )
    reference = alg.problem.reference.numpy()
    rewards = alg.problem.rewards64.numpy()
    pairs = population(reference, rewards)
    chosen = sum(weight * math.log(reference[w]) for w, _, weight in pairs)
    rejected = sum(weight * math.log(reference[l]) for _, l, weight in pairs)
    if algorithm_id == "preference.ipo" and problem_id == "preference.tabular_bt":
        target = ipo_closed_form(reference, rewards, 0.1)
    else:
        target = kl_regularised_optimum(reference, rewards, 0.1)
    expected = {
        "loss": loss_at_reference(algorithm_id, reference, pairs),
        "reward_margin": 0.0,
        "kl_to_reference": 0.0,
        "win_rate": 0.5,
        "true_reward": reference @ rewards,
        "chosen_logp": chosen,
        "rejected_logp": rejected,
        "distance_to_optimum": 0.5 * np.abs(reference - target).sum(),
    }
    if algorithm_id == "preference.ipo" and problem_id == "preference.loglinear":
        del expected["distance_to_optimum"]
    for name, value in expected.items():
        np.testing.assert_allclose(first[name], value, rtol=0, atol=1e-12, err_msg=name)


def test_dpo_reaches_its_closed_form_optimum_and_the_metrics_there():
    """Result: exact population DPO reaches π* = π_ref exp(r/β)/Z on the tabular problem to
    1e-9 (the DPO paper's Eq. 4). There the win rate against the reference is
    Σ_y Σ_y' π*(y) π_ref(y') σ(r_y − r_y'), the KL is E_π*[r]/β − log E_π_ref[e^{r/β}] and the
    true reward is E_π*[r], all from numpy."""
    reference, rewards, beta = np.array(TABULAR["reference"]), np.array(TABULAR["rewards"]), 1.0
    alg, rec = run("preference.dpo", 200, problem=TABULAR, beta=beta, optimizer="sgd", lr=5.0)
    optimum = kl_regularised_optimum(reference, rewards, beta)
    np.testing.assert_allclose(alg.policy().numpy()[0], optimum, rtol=0, atol=1e-9)
    last = rec.records[200]
    win = optimum @ sigmoid(rewards[:, None] - rewards[None, :]) @ reference
    assert last["win_rate"][0] == pytest.approx(win, abs=1e-9)
    assert win > 0.5
    kl = optimum @ rewards / beta - math.log(reference @ np.exp(rewards / beta))
    assert last["kl_to_reference"][0] == pytest.approx(kl, abs=1e-9)
    assert last["true_reward"][0] == pytest.approx(optimum @ rewards, abs=1e-9)


def test_every_algorithm_declares_both_problems_and_its_paper():
    """Result: each Lab-2 loss runs on the tabular, the log-linear and the token-MLP problem
    and names its paper as papers.txt spells it (DPO, the base, is not in papers.txt)."""
    titles = {
        "preference.ipo": "A General Theoretical Paradigm to Understand Learning from Human Preferences",
        "preference.rdpo": "Provably Robust DPO: Aligning Language Models with Noisy Feedback",
        "preference.dpo_shift": "DPO-Shift: Shifting the Distribution of Direct Preference Optimization",
        "preference.rpo": "Provably Mitigating Overoptimization in RLHF: Your SFT Loss is Implicitly an "
        "Adversarial Regularizer",
        "preference.kto": "KTO: Model Alignment as Prospect Theoretic Optimization",
        "preference.wpo": "WPO: Enhancing RLHF with Weighted Preference Optimization",
        "preference.discopop": "Discovering Preference Optimization Algorithms with and for Large Language Models",
    }
    for algorithm_id in ALGORITHMS:
        cls = registry.algorithm(algorithm_id)
        assert cls.problems == (
            "preference.tabular_bt",
            "preference.loglinear",
            "preference.token_mlp",
        )
        if algorithm_id in titles:
            assert cls.paper == titles[algorithm_id]
            assert titles[algorithm_id] in " ".join(cls.__doc__.split())


def test_the_newer_algorithms_name_their_papers():
    """Result: A*-PO, INPO and the gradient-field analysis name their papers exactly as
    papers.txt spells them, in `paper` and in the docstring, and declare their problems."""
    declared = {
        "preference.apo": (
            "Accelerating RL for LLM Reasoning with Optimal Advantage Regression",
            ("preference.tabular_bt", "preference.loglinear", "preference.token_mlp"),
        ),
        "preference.inpo": (
            (
                "Iterative Nash Policy Optimization: Aligning LLMs with General Preferences via "
                "No-Regret Learning"
            ),
            ("preference.intransitive",),
        ),
        "preference.dpo_gradient_field": (
            (
                "Towards Analyzing and Understanding the Limitations of DPO: "
                "A Theoretical Perspective"
            ),
            ("preference.tabular_bt",),
        ),
    }
    for algorithm_id, (title, problems) in declared.items():
        cls = registry.algorithm(algorithm_id)
        assert cls.paper == title
        assert title in " ".join(cls.__doc__.split())
        assert cls.problems == problems
