"""The behaviour "Why Is Public Pretraining Necessary for Private Model Training?" reports,
on 3 seeds: at the same privacy budget, DP-SGD from a network pretrained on public data of a
shifted distribution beats DP-SGD from a random start, and private fine-tuning improves on
the public model alone (the pretrained network lands in the right basin but not at the
private task's optimum)."""

import numpy as np
import pytest
import torch

from engine.labs.unlearning import model
from tests.labs.robust.robust_runs import run

PROBLEM = {"n_train": 300, "n_test": 500, "n_public": 300, "hidden": 16, "pretrain_steps": 200}
STEPS = 120


@pytest.fixture(scope="module")
def starts():
    return {
        start: run(
            "private.dp_sgd",
            "private.shifted_moons",
            STEPS,
            seeds=3,
            dtype=torch.float32,
            problem=PROBLEM,
            start=start,
            noise_multiplier=1.0,
            sample_rate=0.05,
        )
        for start in ("random", "public")
    }


def test_public_start_beats_random_start_at_the_same_epsilon(starts):
    """Both runs spend the same ε at every step (same σ, q, δ); at the last step the
    public start's test accuracy is higher on every seed."""
    (_, random), (_, public) = starts["random"], starts["public"]
    assert np.array_equal(random.last("epsilon"), public.last("epsilon"))
    assert np.all(public.last("test_accuracy") > random.last("test_accuracy"))


def test_private_fine_tuning_improves_on_the_public_model(starts):
    """The pretrained network alone, scored on the private test set, is worse (seed mean)
    than after DP-SGD on the private data: the shift leaves work for the private phase."""
    alg, rec = starts["public"]
    prob = alg.problem
    everyone = torch.ones_like(prob.y_test, dtype=torch.float32)
    before = model.accuracy(prob.pretrained(), prob.x_test, prob.y_test, everyone).numpy()
    assert rec.last("test_accuracy").mean() > before.mean()


def test_front_is_accuracy_against_epsilon(starts):
    """The run's front: (ε, test accuracy), ε minimised, accuracy maximised, reference point
    (ε after the last step, 0); ε of the recorded points grows with the step, and the ε of
    the last point equals the accountant's for the whole run."""
    _, rec = starts["random"]
    names, directions, reference = rec.declared
    assert names == ["epsilon", "test_accuracy"] and directions == ["min", "max"]
    points, _, labels = rec.points[max(rec.points)]
    steps = [label["step"] for label in labels]
    order = np.argsort(steps, kind="stable")
    assert np.all(np.diff(points[order, 0]) >= 0)
    assert points[order[-1], 0] == pytest.approx(reference[0], rel=1e-12)
    assert reference[1] == 0.0
