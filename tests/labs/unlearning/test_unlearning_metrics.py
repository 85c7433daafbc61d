"""The metrics every unlearning run records: the attack's AUC and the forget-quality KS statistic."""

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from engine.labs.unlearning.evaluation import ks_statistic, roc_auc


def test_mia_auc_of_hand_made_scores():
    """AUC = P(member > non-member) + P(tie) / 2. Members 0.9, 0.8, 0.4 against non-members
    0.7, 0.4, 0.1: 0.9 and 0.8 beat all three (6), 0.4 beats 0.1 and ties 0.4 (1.5), so
    7.5 of 9 pairs: 5/6. Swapping the groups gives 1 - 5/6; equal groups give 0.5."""
    members, others = torch.tensor([0.9, 0.8, 0.4]), torch.tensor([0.7, 0.4, 0.1])
    assert roc_auc(members, others) == pytest.approx(5 / 6, abs=1e-12)
    assert roc_auc(others, members) == pytest.approx(1 / 6, abs=1e-12)
    assert roc_auc(members, members.clone()) == pytest.approx(0.5, abs=1e-12)
    # all members above all non-members: an attack that always wins
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0, 1.5])) == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mia_auc_matches_the_pairwise_count(dtype):
    """The rank-sum AUC equals the direct count over all pairs, ties included (scores rounded
    to one decimal so many tie)."""
    g = torch.Generator().manual_seed(3)
    members = torch.round(torch.rand(40, generator=g, dtype=dtype) * 10) / 10
    others = torch.round(torch.rand(55, generator=g, dtype=dtype) * 10) / 10
    m, o = members.double()[:, None], others.double()[None, :]
    pairwise = float(((m > o).double() + 0.5 * (m == o).double()).mean())
    assert roc_auc(members, others) == pytest.approx(pairwise, abs=1e-12)


def test_ks_statistic_of_a_hand_example():
    """a = {1, 2, 3}, b = {2.5, 4}: at v = 2, F_a = 2/3 and F_b = 0, the largest gap: D = 2/3."""
    assert ks_statistic(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.5, 4.0])) == pytest.approx(
        2 / 3, abs=1e-12
    )
    assert ks_statistic(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ks_statistic_matches_scipy(dtype):
    """D equals scipy.stats.ks_2samp's statistic, on samples of different sizes with ties."""
    rng = np.random.default_rng(5)
    for _ in range(5):
        a = np.round(rng.normal(size=37), 1)
        b = np.round(rng.normal(0.3, 1.2, size=52), 1)
        expected = ks_2samp(
            a.astype(np.float32 if dtype == torch.float32 else np.float64),
            b.astype(np.float32 if dtype == torch.float32 else np.float64),
        ).statistic
        assert ks_statistic(
            torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)
        ) == pytest.approx(expected, abs=1e-12)
