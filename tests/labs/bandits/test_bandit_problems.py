"""The bandit and experts problems, and the regret the shared loop reads from them.

Each test names the result it checks.
"""

import math

import numpy as np
import pytest
import torch

from engine.labs.bandits.adversarial import AdversarialBandit, SwitchingBandit
from engine.labs.bandits.experts import AdaptiveExperts, ObliviousExperts
from engine.labs.bandits.problems import BernoulliBandit, GaussianBandit
from engine.labs.bandits.ucb1 import UCB1
from engine.params import ParamError, validate_params
from tests.labs.bandits.recorder import CPU, assert_close, run

F64 = torch.float64


@pytest.mark.parametrize(
    "problem_cls, params",
    [
        (BernoulliBandit, {"means": [0.3, 0.6, 0.5]}),
        (GaussianBandit, {"means": [0.0, 1.0, -1.0], "sigma": 2.0}),
    ],
)
def test_the_same_seed_gives_every_algorithm_the_same_reward_table(problem_cls, params):
    """Common random numbers: on one seed, arm i's reward in round t does not depend on what
    was played before. Two copies of the problem played with different arm sequences both
    pay the entries of one table, drawn by a third copy for all arms."""
    seeds, rounds = 6, 50
    a, b, twin = (problem_cls(params, seeds, CPU, F64, 4) for _ in range(3))
    gen = torch.Generator().manual_seed(0)
    for _ in range(rounds):
        if problem_cls is BernoulliBandit:
            table = (twin.draw_uniforms().unsqueeze(1) < twin.means).double()
        else:
            table = twin.means + twin.sigma * torch.randn(
                seeds, generator=twin._gen, dtype=F64
            ).unsqueeze(1)
        arms_a, arms_b = (torch.randint(3, (seeds,), generator=gen) for _ in range(2))
        assert_close(a.pull(arms_a), table.gather(1, arms_a.unsqueeze(1)).squeeze(1))
        assert_close(b.pull(arms_b), table.gather(1, arms_b.unsqueeze(1)).squeeze(1))


def test_realised_regret_equals_pseudo_regret_on_deterministic_arms():
    """With 0/1 means every reward equals its mean, so t mu* - (rewards collected) is exactly
    the sum of the gaps of the arms played."""
    checkpoints = [5, 50, 500]
    for regret in ("pseudo", "realised"):
        _, _, rec = run(
            UCB1,
            {"c": 0.5, "regret": regret},
            BernoulliBandit,
            {"means": [0.0, 1.0, 0.0]},
            3,
            checkpoints,
        )
        if regret == "pseudo":
            pseudo = rec.series("cumulative_regret")
        else:
            np.testing.assert_array_equal(rec.series("cumulative_regret"), pseudo)


def test_realised_regret_has_the_pseudo_regret_as_its_mean():
    """E[realised] = pseudo: realised - pseudo = sum_t (mu_{I_t} - X_t), a sum of centred
    rewards; with Bernoulli arms its variance is at most t/4, so over 400 seeds the mean
    difference at t = 2000 must lie within 4 sqrt(2000 / 4 / 400) = 4.5."""
    args = ({"means": [0.2, 0.5, 0.55]}, 400, [2000])
    _, _, pseudo = run(UCB1, {"c": 2.0, "regret": "pseudo"}, BernoulliBandit, *args)
    _, _, realised = run(UCB1, {"c": 2.0, "regret": "realised"}, BernoulliBandit, *args)
    diff = (
        realised.values[2000]["cumulative_regret"] - pseudo.values[2000]["cumulative_regret"]
    ).mean()
    assert abs(diff.item()) < 4 * math.sqrt(2000 / 4 / 400)
    assert not torch.equal(
        realised.values[2000]["cumulative_regret"], pseudo.values[2000]["cumulative_regret"]
    )


def test_gaussian_lai_robbins_constant_by_hand():
    """kl(N(a, s^2), N(b, s^2)) = (a - b)^2 / (2 s^2), so the constant sum gap / kl is
    sum 2 s^2 / gap: means (0, 0.5, 1), s = 2 give 8 / 1 + 8 / 0.5 = 24."""
    problem = GaussianBandit({"means": [0.0, 0.5, 1.0], "sigma": 2.0}, 1, CPU, F64, 0)
    assert problem.lai_robbins_constant() == pytest.approx(24.0, rel=1e-12)


def test_gaussian_rewards_have_the_declared_mean_and_spread():
    """Rewards of arm i are mu_i + sigma z: over 40,000 seeds the sample mean is within 4
    standard errors of mu_i and the sample standard deviation within 2% of sigma."""
    problem = GaussianBandit({"means": [-1.0, 2.0], "sigma": 3.0}, 40_000, CPU, F64, 1)
    rewards = problem.pull(torch.ones(40_000, dtype=torch.long))
    assert abs(rewards.mean().item() - 2.0) < 4 * 3.0 / math.sqrt(40_000)
    assert rewards.std().item() == pytest.approx(3.0, rel=0.02)


def test_switching_regret_is_against_the_best_arm_of_each_round():
    """Switching regret (Garivier & Moulines 2011): pseudo-regret after t rounds is
    sum_s (max mean - mean of the arm played in s), kept by hand here, and the best-arm
    share counts the rounds where the arm played had the max mean. The first segment uses
    the given order, every later segment a permutation of it, switching every 7 rounds."""
    means, segment, seeds = [0.1, 0.4, 0.9], 7, 5
    problem = SwitchingBandit({"means": means, "segment": segment}, seeds, CPU, F64, 3)
    played = torch.zeros(seeds, dtype=F64)
    best_plays = torch.zeros(seeds, dtype=F64)
    arms = torch.tensor([0, 1, 2, 1, 0])
    layouts, previous = set(), None
    for t in range(1, 40):
        problem.pull(arms)
        current = problem.current
        assert sorted(current[0].tolist()) == means
        if t <= segment:
            assert current.tolist() == [means] * seeds
        elif (t - 1) % segment:
            assert current.tolist() == previous
        previous = current.tolist()
        layouts.add(tuple(current[0].tolist()))
        mean = current.gather(1, arms.unsqueeze(1)).squeeze(1)
        played += mean
        best_plays += mean == 0.9
        assert_close(problem.pseudo_regret(None, t), 0.9 * t - played)
        assert_close(problem.best_arm_plays(None, t), best_plays)
    assert len(layouts) > 1


def test_adversarial_leader_moves_exactly_at_the_phase_boundaries():
    """Growth 2: phases start at rounds 1, 2, 4, 8, 16, ...; with leader_reward 1 and
    other_reward 0 exactly one arm pays each round, it changes exactly at those rounds
    and never repeats itself across a boundary."""
    params = {
        "sequence": "moving_leader",
        "arms": 4,
        "growth": 2.0,
        "leader_reward": 1.0,
        "other_reward": 0.0,
    }
    problem = AdversarialBandit(params, 6, CPU, F64, 2)
    leaders, previous_total = [], torch.zeros((6, 4), dtype=F64)
    for _ in range(64):
        problem.pull(torch.zeros(6, dtype=torch.long))
        paid = problem.cumulative_means() - previous_total
        previous_total = problem.cumulative_means().clone()
        assert torch.all(paid.sum(1) == 1)
        leaders.append(paid.argmax(1))
    changes = [t + 1 for t in range(1, 64) if not torch.equal(leaders[t], leaders[t - 1])]
    assert changes == [2, 4, 8, 16, 32, 64]
    for t in (2, 4, 8, 16, 32, 64):
        assert torch.all(leaders[t - 1] != leaders[t - 2])


def test_adversarial_regret_is_against_the_best_fixed_arm_and_pseudo_equals_realised():
    """On the adversarial sequence the reward table is the sequence: regret = max_i sum_t
    x_i(t) - rewards collected, whichever kind is asked for. Playing arm 0 always, that is
    the best arm's total minus arm 0's total, read off the problem by hand."""
    params = {
        "sequence": "moving_leader",
        "arms": 3,
        "growth": 1.5,
        "leader_reward": 0.9,
        "other_reward": 0.2,
    }
    problem = AdversarialBandit(params, 4, CPU, F64, 9)
    arms = torch.zeros(4, dtype=torch.long)
    collected = torch.zeros(4, dtype=F64)
    for _ in range(300):
        collected += problem.pull(arms)
    totals = problem.cumulative_means()
    assert_close(collected, totals[:, 0])
    assert_close(problem.pseudo_regret(None, 300), totals.max(1).values - totals[:, 0])
    assert_close(problem.best_total(300) - collected, problem.pseudo_regret(None, 300))


def test_punish_the_leader_keeps_the_experts_within_one_loss_of_each_other():
    """Each round the adversary gives loss 1 to an expert of least cumulative loss, so after
    t rounds the cumulative losses sum to t and differ by at most 1 (they are floor(t/N) or
    ceil(t/N)): the best expert in hindsight has floor(t / N)."""
    problem = AdaptiveExperts({"experts": 3, "adversary": "punish_leader"}, 8, CPU, F64, 0)
    weights = torch.full((8, 3), 1 / 3, dtype=F64)
    for t in range(1, 50):
        loss = problem.losses(weights)
        assert torch.all(loss.sum(1) == 1)
        cumulative = problem.cumulative_losses
        assert torch.all(cumulative.sum(1) == t)
        assert torch.all(cumulative.min(1).values == t // 3)
        assert torch.all(cumulative.max(1).values - cumulative.min(1).values <= 1)


def test_punish_the_favourite_hits_the_largest_weight():
    """The adaptive adversary reads the learner's weights: loss 1 goes to the argmax."""
    problem = AdaptiveExperts({"experts": 3, "adversary": "punish_favourite"}, 2, CPU, F64, 0)
    loss = problem.losses(torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype=F64))
    assert loss.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_oblivious_experts_draw_bernoulli_losses_with_the_given_means():
    """Expert i loses 1 with probability loss_means[i]: over 20,000 seeds x 5 rounds the
    frequencies are within 4 standard errors of the means."""
    means = [0.1, 0.5, 0.8]
    problem = ObliviousExperts({"loss_means": means}, 20_000, CPU, F64, 5)
    for _ in range(5):
        problem.losses(torch.full((20_000, 3), 1 / 3, dtype=F64))
    freq = problem.cumulative_losses.mean(0) / 5
    for f, m in zip(freq.tolist(), means):
        assert abs(f - m) < 4 * math.sqrt(m * (1 - m) / 100_000)


def test_the_regret_kind_is_validated_with_a_clear_error():
    with pytest.raises(ParamError, match=r"algorithm.regret: must be one of 'pseudo', 'realised'"):
        validate_params(UCB1.params, {"regret": "expected"}, "algorithm")


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_uniforms_drawn_in_blocks_are_the_per_round_draws_and_stay_valid(dtype):
    """On a CPU the Bernoulli rewards' uniforms come in blocks of rounds, from raw bits:
    over 150 rounds (blocks of 64 rounds at 5 seeds: two boundaries crossed) they equal
    one torch.rand(seeds) per round from the same stream, bit for bit, in float32 and
    float64, and a round's tensor keeps its values after later rounds are drawn (each
    block is a new tensor)."""
    from engine.labs.bandits import problems
    from engine.seeding import PROBLEM_STREAM, generator

    bandit = BernoulliBandit({"means": [0.3, 0.6]}, 5, CPU, dtype, 7)
    rounds = [bandit.draw_uniforms() for _ in range(150)]
    reference = generator(CPU, 7, PROBLEM_STREAM)
    expected = [torch.rand(5, generator=reference, dtype=dtype) for _ in range(150)]
    assert problems.UNIFORM_BLOCK_ROUNDS < 150
    assert all(torch.equal(got, want) for got, want in zip(rounds, expected))
