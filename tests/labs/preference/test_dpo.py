"""DPO on the tabular Bradley–Terry problem, checked against closed forms.

Every reference value below is computed by hand or with numpy from the formulas in the
test's docstring, never with the code under test.
"""

import math

import numpy as np
import pytest
import torch

from engine import registry
from engine.labs.preference.dpo import DPO, DPO_METRICS
from engine.labs.preference.problems import TabularBradleyTerry
from engine.params import ParamError, validate_params
from engine.runner import execute
from engine.spec import RunSpec
from engine.store import Store
from tests.labs.preference.support import MemoryRecorder

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tensors here are tiny: a second thread only adds synchronisation, which on a
    busy 2-core machine costs far more than the arithmetic."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def run_dpo(steps, seeds=1, seed=0, **params):
    """Build the problem and DPO in float64 from keyword params and run them."""
    problem_keys = {p.name for p in TabularBradleyTerry.params}
    problem_params = validate_params(
        TabularBradleyTerry.params,
        {k: v for k, v in params.items() if k in problem_keys},
        "problem",
    )
    algorithm_params = validate_params(
        DPO.params, {k: v for k, v in params.items() if k not in problem_keys}, "algorithm"
    )
    problem = TabularBradleyTerry(problem_params, seeds, CPU, torch.float64, seed)
    algorithm = DPO(algorithm_params, problem, seeds, CPU, torch.float64, seed)
    rec = MemoryRecorder(steps)
    algorithm.run(steps, rec)
    return algorithm, rec


def kl_regularised_optimum(reference, rewards, beta):
    """π*(y) = π_ref(y) exp(r_y / β) / Z  (DPO paper, Eq. 4)."""
    weights = np.asarray(reference, dtype=float) * np.exp(np.asarray(rewards, dtype=float) / beta)
    return weights / weights.sum()


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# -- the optimum of the population loss ---------------------------------------------------------
@pytest.mark.parametrize(
    "beta, optimizer, lr, steps",
    [
        (0.1, "adam", 0.1, 1000),
        (1.0, "sgd", 5.0, 300),
    ],
)
def test_population_optimum_is_the_kl_regularised_policy(beta, optimizer, lr, steps):
    """Result: with noiseless Bradley–Terry labels and every pair covered, the minimiser of
    the DPO loss is π* = π_ref exp(r/β) / Z (the paper's reparameterisation, Eq. 4-5),
    and there KL(π* ‖ π_ref) = E_π*[r]/β − log E_π_ref[exp(r/β)]."""
    reference = [0.1, 0.2, 0.3, 0.4]
    rewards = [1.0, 0.5, 0.0, -0.5]
    algorithm, rec = run_dpo(
        steps, rewards=rewards, reference=reference, beta=beta, optimizer=optimizer, lr=lr
    )
    optimum = kl_regularised_optimum(reference, rewards, beta)
    policy = algorithm.policy().numpy()[0]
    assert np.max(np.abs(policy - optimum)) < 1e-4
    last = rec.records[steps]
    assert last["distance_to_optimum"][0] < 1e-4
    r = np.asarray(rewards)
    kl_at_optimum = optimum @ r / beta - math.log(np.asarray(reference) @ np.exp(r / beta))
    assert last["kl_to_reference"][0] == pytest.approx(kl_at_optimum, abs=1e-4)
    assert last["true_reward"][0] == pytest.approx(optimum @ r, abs=1e-4)


def test_label_flips_shrink_the_optimum_margin_on_two_responses():
    """Result: with flip rate ε and K = 2 the population loss is the Bradley–Terry
    likelihood of the flipped labels, whose maximiser has β h* = logit(p_eff), with
    p_eff = (1 − ε) σ(Δr) + ε σ(−Δr) and h = log π(0)/π_ref(0) − log π(1)/π_ref(1);
    so π(0)/π(1) = π_ref(0)/π_ref(1) · exp(logit(p_eff) / β), short of the clean Δr / β."""
    beta, eps, delta_r = 0.5, 0.2, 1.0
    reference = [0.3, 0.7]
    p_eff = (1 - eps) * sigmoid(delta_r) + eps * sigmoid(-delta_r)
    log_odds = math.log(0.3 / 0.7) + math.log(p_eff / (1 - p_eff)) / beta
    expected = sigmoid(log_odds)
    algorithm, _ = run_dpo(
        400,
        rewards=[delta_r, 0.0],
        reference=reference,
        label_flip=eps,
        beta=beta,
        optimizer="sgd",
        lr=10.0,
    )
    assert algorithm.policy().numpy()[0, 0] == pytest.approx(expected, abs=1e-6)
    clean = kl_regularised_optimum(reference, [delta_r, 0.0], beta)[0]
    assert clean - expected > 0.1


# -- the loss and its gradient at initialisation ------------------------------------------------
@pytest.mark.parametrize("mode", ["population", "sampled"])
def test_loss_at_initialisation_is_log_2(mode):
    """Result: at θ = log π_ref every implicit reward is 0, so every pair costs −log σ(0) = log 2
    and the weighted loss is log 2 exactly, whatever the pairs, labels or flips."""
    _, rec = run_dpo(
        1,
        seeds=3,
        rewards=[2.0, -1.0, 0.5, 0.0, 3.0],
        reference=[1.0, 2.0, 3.0, 4.0, 5.0],
        label_flip=0.3,
        mode=mode,
        pairs=50,
    )
    first = rec.records[1]
    np.testing.assert_allclose(first["loss"], math.log(2.0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(first["reward_margin"], 0.0, rtol=0, atol=1e-14)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_first_sgd_step_follows_the_hand_derived_gradient(eps):
    """Result (K = 2, population mode): the pairs are (0 ≻ 1) with weight P = p_eff(Δr) and
    (1 ≻ 0) with weight 1 − P, and h = (θ0 − θ1) − log(π_ref(0)/π_ref(1)) since softmax's
    normaliser cancels. L = −P log σ(βh) − (1 − P) log σ(−βh), so
        ∂L/∂θ0 = −P β σ(−βh) + (1 − P) β σ(βh) = β (σ(βh) − P) = β (1/2 − P) at h = 0,
    and ∂L/∂θ1 = −∂L/∂θ0; one SGD step of size η moves θ by −η ∇L."""
    beta, lr, delta_r = 0.5, 0.2, 1.5
    reference = [0.3, 0.7]
    p = (1 - eps) * sigmoid(delta_r) + eps * sigmoid(-delta_r)
    grad0 = beta * (0.5 - p)
    algorithm, _ = run_dpo(
        1,
        rewards=[1.0, 1.0 - delta_r],
        reference=reference,
        label_flip=eps,
        beta=beta,
        optimizer="sgd",
        lr=lr,
    )
    expected = [math.log(0.3) - lr * grad0, math.log(0.7) + lr * grad0]
    np.testing.assert_allclose(algorithm.logits.detach().numpy()[0], expected, rtol=0, atol=1e-14)


# -- metrics at initialisation ------------------------------------------------------------------
def test_policy_metrics_at_initialisation():
    """Result: at πθ = π_ref = (1/2, 1/4, 1/4) with r = (0, log 2, log 4) and β = 1,
    π* ∝ (1/2 · 1, 1/4 · 2, 1/4 · 4) = (1/4, 1/4, 1/2), so TV(π_ref, π*) = (1/4 + 0 + 1/4)/2 = 1/4,
    E_π_ref[r] = (log 2 + log 4)/4 = 3/4 log 2, and KL(π_ref ‖ π_ref) = 0."""
    _, rec = run_dpo(
        1, rewards=[0.0, math.log(2), math.log(4)], reference=[2.0, 1.0, 1.0], beta=1.0
    )
    first = rec.records[1]
    assert first["kl_to_reference"][0] == pytest.approx(0.0, abs=1e-15)
    assert first["true_reward"][0] == pytest.approx(0.75 * math.log(2), abs=1e-15)
    assert first["distance_to_optimum"][0] == pytest.approx(0.25, abs=1e-15)


def test_chosen_and_rejected_logp_at_initialisation_on_two_responses():
    """Result (K = 2, population mode): with P = σ(Δr) the chosen response is 0 with weight P
    and 1 with weight 1 − P, so at πθ = π_ref = (0.3, 0.7)
        chosen_logp = P log 0.3 + (1 − P) log 0.7,  rejected_logp = P log 0.7 + (1 − P) log 0.3."""
    p = sigmoid(2.0)
    _, rec = run_dpo(1, rewards=[1.0, -1.0], reference=[0.3, 0.7])
    first = rec.records[1]
    assert first["chosen_logp"][0] == pytest.approx(
        p * math.log(0.3) + (1 - p) * math.log(0.7), abs=1e-14
    )
    assert first["rejected_logp"][0] == pytest.approx(
        p * math.log(0.7) + (1 - p) * math.log(0.3), abs=1e-14
    )


# -- sampled mode -------------------------------------------------------------------------------
def test_sampled_pairs_follow_the_population_weights():
    """Result: a sampled comparison is (y_w, y_l) with probability
    2 π_ref(y_w) π_ref(y_l) / (1 − Σ π_ref²) · p_eff(y_w ≻ y_l); the empirical frequencies of
    120 000 draws lie within 5 binomial standard errors of it (seeded)."""
    reference = np.array([0.1, 0.2, 0.3, 0.4])
    rewards = np.array([1.0, 0.0, -1.0, 2.0])
    eps = 0.1
    params = validate_params(
        TabularBradleyTerry.params,
        {
            "rewards": rewards.tolist(),
            "reference": reference.tolist(),
            "mode": "sampled",
            "pairs": 30_000,
            "label_flip": eps,
        },
        "problem",
    )
    problem = TabularBradleyTerry(params, 4, CPU, torch.float64, 7)
    pairs = problem.preference_pairs()
    n = pairs.chosen.numel()
    counts = np.zeros((4, 4))
    np.add.at(counts, (pairs.chosen.numpy().ravel(), pairs.rejected.numpy().ravel()), 1.0)
    expected = np.zeros((4, 4))
    distinct_mass = 1.0 - np.sum(reference**2)
    for w in range(4):
        for l in range(4):
            if w != l:
                gap = rewards[w] - rewards[l]
                p_eff = (1 - eps) * sigmoid(gap) + eps * sigmoid(-gap)
                expected[w, l] = 2 * reference[w] * reference[l] / distinct_mass * p_eff
    assert expected.sum() == pytest.approx(1.0)
    assert np.all(np.diag(counts) == 0)
    standard_error = np.sqrt(expected * (1 - expected) / n)
    assert np.all(np.abs(counts / n - expected) <= 5 * standard_error + 1e-12)
    np.testing.assert_allclose(pairs.weight.numpy(), 1.0 / 30_000)


def test_sampled_training_approaches_the_optimum():
    """Result: minibatch DPO is stochastic gradient descent on the population loss, so its
    policy settles near π* = π_ref exp(r/β)/Z: from TV(π_ref, π*) ≈ 0.74 (uniform π_ref,
    r = (1, 0.5, 0, −0.5), β = 0.1, π*(0) ≈ 0.993) to a mean TV under 0.02 over 8 seeds
    (seeded); the seeds see different pairs, so their policies differ."""
    rewards = [1.0, 0.5, 0.0, -0.5]
    optimum = kl_regularised_optimum([0.25] * 4, rewards, 0.1)
    _, rec = run_dpo(600, seeds=8, seed=3, rewards=rewards, mode="sampled", pairs=64, beta=0.1)
    start = 0.5 * np.abs(np.full(4, 0.25) - optimum).sum()
    np.testing.assert_allclose(rec.records[1]["distance_to_optimum"], start, rtol=0, atol=1e-12)
    final = rec.records[600]["distance_to_optimum"]
    assert final.mean() < 0.02
    assert np.ptp(final) > 0


def test_a_seed_reproduces_its_run():
    """Result: the pairs come from the problem's seeded stream, so a base seed replays
    its run exactly and another base seed does not."""

    def final_policy(seed):
        algorithm, _ = run_dpo(20, seeds=2, seed=seed, mode="sampled", pairs=16)
        return algorithm.policy().numpy()

    np.testing.assert_array_equal(final_policy(5), final_policy(5))
    assert not np.array_equal(final_policy(5), final_policy(6))


# -- declarations and the runner ----------------------------------------------------------------
def test_reference_must_match_rewards():
    """Result: π_ref needs one weight per response; the error names the spec key."""
    params = validate_params(
        TabularBradleyTerry.params,
        {"rewards": [1.0, 0.0, -1.0, 2.0], "reference": [1.0, 1.0, 1.0]},
        "problem",
    )
    with pytest.raises(
        ParamError, match=r"^problem\.reference: needs as many values as rewards \(4\), got 3$"
    ):
        TabularBradleyTerry(params, 1, CPU, torch.float64, 0)


def test_a_spec_runs_through_the_runner(tmp_path):
    """Result: through the runner and the store, every declared metric is recorded for
    every seed, and the first loss is log 2 (h = 0 at θ = log π_ref)."""
    spec = RunSpec.from_dict(
        {
            "run": {"seeds": 2, "steps": 30},
            "algorithm": {"id": "preference.dpo", "beta": 0.5},
            "problem": {"id": "preference.tabular_bt", "mode": "sampled", "pairs": 8},
            "hardware": {"device": "cpu", "dtype": "float64"},
        },
        registry.Catalogue.live(),
    )
    store = Store(tmp_path / "runs.db")
    try:
        run_id, status = execute(spec, store, "cpu")
        assert status == "finished", store.get_run(run_id)["error"]
        assert store.metrics_of(run_id) == sorted(DPO_METRICS)
        loss = store.series(run_id, "loss")
        assert sorted(loss) == [0, 1]
        for steps, values in loss.values():
            assert steps[0] == 1 and steps[-1] == 30
            assert values[0] == pytest.approx(math.log(2.0), abs=1e-12)
    finally:
        store.close()
