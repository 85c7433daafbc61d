"""The autoregressive token-MLP problem: exact enumeration, hand values of every loss at π_ref,
and DPO improving the true reward.

Reference values come from the formulas in each docstring, computed by hand or with numpy
(an independent forward pass of the network), never with the code under test.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from engine import registry
from engine.labs.preference.token_mlp import TokenMLPPreferences, sequence_rewards
from engine.params import ParamError, validate_params
from tests.labs.preference.support import CPU, run, sigmoid

TOKEN_MLP = "preference.token_mlp"
TINY = {
    "vocabulary": 3,
    "length": 3,
    "prompts": 2,
    "prompt": 1,
    "embedding_dim": 4,
    "hidden": 5,
    "init_scale": 2.0,
}


def build_problem(dtype=torch.float64, seeds=1, **params):
    checked = validate_params(TokenMLPPreferences.params, params, "problem")
    return TokenMLPPreferences(checked, seeds, CPU, dtype, 0)


def numpy_log_prob(flat, sequence, vocabulary, prompts, prompt, d, hidden):
    """log π(y | x) by the chain rule, from the flat parameters in their documented order
    (E [V + 1 + prompts, d], W₁ [H, L d], b₁ [H], W₂ [V, H], b₂ [V]); BOS is token V and
    prompt x is token V + 1 + x."""
    length = len(sequence)
    sizes = [
        (vocabulary + 1 + prompts, d),
        (hidden, length * d),
        (hidden,),
        (vocabulary, hidden),
        (vocabulary,),
    ]
    parts, offset = [], 0
    for shape in sizes:
        size = int(np.prod(shape))
        parts.append(flat[offset : offset + size].reshape(shape))
        offset += size
    assert offset == flat.size
    embedding, w1, b1, w2, b2 = parts
    history = [vocabulary] * (length - 1) + list(sequence)
    total = 0.0
    for position, token in enumerate(sequence):
        context = [vocabulary + 1 + prompt] + history[position : position + length - 1]
        h = np.tanh(w1 @ np.concatenate([embedding[c] for c in context]) + b1)
        logits = w2 @ h + b2
        total += logits[token] - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    return total


def test_sequence_probabilities_sum_to_one_over_every_sequence():
    """Result: an autoregressive policy normalises each token's distribution, so Σ over all
    V^L sequences of Π_l π(y_l | x, y_<l) = 1; by exact enumeration of the 27 sequences of
    V = L = 3 (each once, checked against itertools), at θ_ref and at a random θ, to 1e-12."""
    problem = build_problem(**TINY)
    assert sorted(map(tuple, problem.sequences.tolist())) == list(
        itertools.product(range(3), repeat=3)
    )
    theta = problem.initial_parameters()
    moved = theta + torch.randn(
        theta.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64
    )
    for parameters in (theta, moved):
        total = problem.log_policy(parameters).exp().sum(1)
        np.testing.assert_allclose(total.numpy(), 1.0, rtol=0, atol=1e-12)


def test_sequence_log_probability_is_the_chain_rule():
    """Result: log π(y | x) = Σ_l log softmax(W₂ tanh(W₁ [E(c_l)] + b₁) + b₂)[y_l], computed by an
    independent numpy forward pass for every sequence, at a random θ, to 1e-12."""
    problem = build_problem(**TINY)
    theta = problem.initial_parameters()
    theta = theta + 0.5 * torch.randn(
        theta.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )
    engine_values = problem.log_policy(theta).numpy()[0]
    flat = theta.numpy()[0]
    for index, sequence in enumerate(problem.sequences.tolist()):
        expected = numpy_log_prob(flat, sequence, 3, 2, 1, 4, 5)
        assert engine_values[index] == pytest.approx(expected, abs=1e-12)


def test_reward_by_hand():
    """Result: r(y) = Σ s(y_l) + b #{y_{l+1} ≡ y_l + 1 mod V}; with V = 4, s = (0.5, −1, 2, 0),
    b = 1.5: (0, 1, 2) → 1.5 + 2·1.5 = 4.5; (3, 0, 0) → 1 + 1.5 (3 → 0 counts up mod 4) = 2.5;
    (2, 2, 1) → 3."""
    rewards = sequence_rewards(
        torch.tensor([[0, 1, 2], [3, 0, 0], [2, 2, 1]]),
        torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64),
        1.5,
        4,
    )
    np.testing.assert_allclose(rewards.numpy(), [4.5, 2.5, 3.0], rtol=0, atol=1e-15)


def population_weights(reference, rewards):
    """Ordered pairs (w, l), w ≠ l, weighted 2 π_ref(w) π_ref(l) σ(r_w − r_l)/(1 − Σ π_ref²)."""
    k = len(reference)
    chosen, rejected = np.nonzero(~np.eye(k, dtype=bool))
    weight = (
        2 * reference[chosen] * reference[rejected] * sigmoid(rewards[chosen] - rewards[rejected])
    )
    return chosen, rejected, weight / (1 - np.sum(reference**2))


def test_every_loss_of_the_family_at_the_reference_by_hand():
    """Result: the policy starts as a copy of π_ref's network, so every log-ratio is 0, the KL
    is 0 and the win rate against π_ref is Σ π_ref π_ref σ(r − r') = 1/2. Each loss then takes
    its value at a zero margin: −log σ(0) = ln 2 for DPO, rDPO and DPO-Shift; 1/(4τ²) for IPO;
    (1 + ln 2)/2 for DiscoPOP; (λ_D + λ_U)/4 for KTO; ln 2 − ηβ E[log π_ref(y_w)] for RPO;
    ln 2 · E[min(1, w(y_w) w(y_l))], w = π_ref/Σπ_ref², for WPO; E_π_ref[(r − V*)²] for
    A*-PO (expectations over the population pairs, in numpy from π_ref and r). Every
    algorithm the lab runs on this problem is covered."""
    problem = build_problem(**TINY)
    reference, rewards = problem.reference.numpy(), problem.rewards.numpy()
    chosen, rejected, weight = population_weights(reference, rewards)
    beta, ln2 = 0.1, math.log(2)
    aligned = reference / np.sum(reference**2)
    optimal_value = beta * np.log(np.sum(reference * np.exp(rewards / beta)))
    expected = {
        "preference.dpo": ln2,
        "preference.rdpo": ln2,
        "preference.dpo_shift": ln2,
        "preference.ipo": 1 / (4 * beta**2),
        "preference.discopop": (1 + ln2) / 2,
        "preference.kto": 0.5,
        "preference.rpo": ln2 - 0.5 * beta * np.sum(weight * np.log(reference[chosen])),
        "preference.wpo": ln2
        * np.sum(weight * np.minimum(1.0, aligned[chosen] * aligned[rejected])),
        "preference.apo": np.sum(reference * (rewards - optimal_value) ** 2),
    }
    on_problem = sorted(a for a, cls in registry.algorithms().items() if TOKEN_MLP in cls.problems)
    assert on_problem == sorted(expected)
    for algorithm, value in expected.items():
        extra = {"policy_samples": 0} if algorithm == "preference.apo" else {}
        _, rec = run(algorithm, 1, TOKEN_MLP, problem=TINY, every_step=True, beta=beta, **extra)
        first = rec.records[1]
        assert first["loss"][0] == pytest.approx(value, abs=1e-12), algorithm
        assert first["kl_to_reference"][0] == pytest.approx(0.0, abs=1e-15)
        assert first["win_rate"][0] == pytest.approx(0.5, abs=1e-14)


def test_dpo_raises_the_true_reward_win_rate_against_the_reference():
    """Result: DPO on 64 sampled pairs per step (V = 4, L = 3, seeded) moves the network
    towards π_ref exp(r/β)/Z: after 60 Adam steps every one of 4 seeds beats π_ref with
    probability above 0.9 under the true Bradley–Terry model (1/2 at the start, exactly),
    its true reward has risen by more than 3 (from 2.54) and its distance to the optimum fallen below
    half its start."""
    _, rec = run(
        "preference.dpo",
        60,
        TOKEN_MLP,
        seeds=4,
        problem={"mode": "sampled", "pairs": 64},
        beta=0.1,
        lr=0.01,
    )
    first, last = rec.records[1], rec.records[60]
    np.testing.assert_allclose(first["win_rate"], 0.5, rtol=0, atol=1e-14)
    assert np.all(last["win_rate"] > 0.9)
    assert np.all(last["true_reward"] - first["true_reward"] > 3.0)
    assert np.all(last["distance_to_optimum"] < 0.5 * first["distance_to_optimum"])


def test_reference_is_the_same_in_float32():
    """Result: the network is drawn in float64 on the CPU and only then cast, so a float32 run
    starts from the same π_ref (to float32 rounding, 1e-5) and its log-ratios at θ_ref are
    exactly 0."""
    double, single = build_problem(**TINY), build_problem(dtype=torch.float32, **TINY)
    np.testing.assert_allclose(
        single.reference.numpy(), double.reference.numpy(), rtol=0, atol=1e-5
    )
    log_ratio = single.log_policy(single.initial_parameters()) - single.log_reference
    assert torch.count_nonzero(log_ratio) == 0


def test_bad_sizes_are_refused():
    """Result: V^L above 1024 and a prompt outside the prompt vocabulary are refused with the
    key and the reason."""
    with pytest.raises(
        ParamError, match=r"^problem\.length: vocabulary\^length = 8\^4 = 4096 responses"
    ):
        build_problem(vocabulary=8, length=4)
    with pytest.raises(ParamError, match=r"^problem\.prompt: must be below prompts \(2\), got 3$"):
        build_problem(prompts=2, prompt=3)
    with pytest.raises(
        ParamError, match=r"^problem\.token_scores: needs one score per token \(4\), got 2$"
    ):
        build_problem(token_scores=[1.0, 2.0])
