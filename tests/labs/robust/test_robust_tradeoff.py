"""The behaviour the papers report, on 3 seeds of two moons (ε = 0.25, noise 0.15): a larger
β buys robust accuracy with clean accuracy; WEAT's weighted adversarial training is more
robust than natural training; every run records its (clean, robust) points on the front."""

import numpy as np
import pytest
import torch

from tests.labs.robust.robust_runs import run

PROBLEM = {"n_train": 200, "n_test": 300, "hidden": 16}
STEPS = 150


@pytest.fixture(scope="module")
def finals():
    out = {}
    for algorithm in ("robust.trades", "robust.score", "robust.weat"):
        for beta in (0.0, 6.0):
            alg, rec = run(
                algorithm,
                "robust.two_moons",
                STEPS,
                seeds=3,
                dtype=torch.float32,
                problem=PROBLEM,
                beta=beta,
                attack_steps=3,
            )
            out[algorithm, beta] = rec
    return out


@pytest.mark.parametrize("algorithm", ["robust.trades", "robust.score"])
def test_more_beta_lowers_clean_and_raises_robust_accuracy(finals, algorithm):
    """TRADES' claim (its Figure/Table of β), which SCORE shares: raising β from 0 (natural
    training) to 6 lowers clean accuracy and raises PGD robust accuracy, on every seed."""
    low, high = finals[algorithm, 0.0], finals[algorithm, 6.0]
    assert np.all(high.last("clean_accuracy") < low.last("clean_accuracy"))
    assert np.all(high.last("robust_accuracy") > low.last("robust_accuracy"))
    # natural training is far from robust here: the trade-off is real
    assert np.all(low.last("robust_accuracy") < low.last("clean_accuracy") - 0.1)


def test_weat_is_more_robust_than_natural_training(finals):
    """WEAT (energy-weighted adversarial training, cross-entropy at x') reaches a higher robust
    accuracy than natural training on every seed, and its clean accuracy, averaged over
    seeds, falls as β grows, as TRADES' does."""
    natural = finals["robust.trades", 0.0]
    weat0, weat6 = finals["robust.weat", 0.0], finals["robust.weat", 6.0]
    assert np.all(weat6.last("robust_accuracy") > natural.last("robust_accuracy"))
    assert weat6.last("clean_accuracy").mean() < weat0.last("clean_accuracy").mean()


def test_each_run_records_its_points_and_loss_terms(finals):
    """The front: objectives (clean, robust) both maximised from (0, 0), one point per seed at
    each evaluation, labelled with β; a robust accuracy is at most the clean one (PGD starts
    at a random point of the ball, so it can miss a point the clean input gets wrong:
    checked per point within 0.05). The
    TRADES boundary term (a KL divergence) is non-negative and is 0-weighted at β = 0:
    total_loss = natural_loss + β boundary_loss."""
    rec = finals["robust.trades", 6.0]
    names, directions, reference = rec.declared
    assert names == ["clean_accuracy", "robust_accuracy"] and directions == ["max", "max"]
    assert reference == [0.0, 0.0]
    step = max(rec.points)
    points, seeds, labels = rec.points[step]
    assert len(points) == 3 * len(rec.points) and sorted(set(seeds)) == [0, 1, 2]
    assert all(label["beta"] == 6.0 for label in labels)
    assert np.all(points[:, 1] <= points[:, 0] + 0.05)
    last = rec.records[max(rec.records)]
    assert np.all(last["boundary_loss"] >= 0)
    assert last["total_loss"] == pytest.approx(
        last["natural_loss"] + 6.0 * last["boundary_loss"], rel=1e-5
    )
    natural = finals["robust.trades", 0.0].records[STEPS]
    assert natural["total_loss"] == pytest.approx(natural["natural_loss"], rel=1e-6)
