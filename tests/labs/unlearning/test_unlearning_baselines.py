"""The baselines: retraining's forget accuracy on a forgotten class, gradient ascent's sign."""

import numpy as np
import pytest
import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.gradient_ascent import ascent_step
from tests.labs.unlearning.unlearning_runs import SMALL, run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_retrained_model_never_predicts_the_forgotten_class(dtype):
    """Exact claim: a model retrained on the retain set, with class 0 forgotten, classifies
    none of class 0's training examples as class 0, so its forget accuracy is 0 (below
    chance, 1/5), on each of 3 seeds; cross-entropy on the other classes only ever pushes
    class 0's logit down. Test accuracy on the retained classes stays far above chance.
    Retrain with the problem's own steps and step size reproduces the reference exactly,
    so its forget quality KS statistic is 0."""
    alg, rec = run("unlearning.retrain", SMALL["train_steps"], dtype=dtype)
    assert np.all(rec.last("forget_accuracy") == 0.0)
    assert np.all(rec.last("test_accuracy") > 0.5)
    assert np.all(rec.last("forget_quality_ks") == 0.0)
    predictions = model.forward(alg.params, alg.problem.x_train).argmax(dim=2)
    assert not bool((predictions == 0).any())
    # the declared reference point is the retrained model's (forget, retain) mean
    names, directions, reference = rec.declared
    assert names == ["forget_accuracy", "retain_accuracy"] and directions == ["min", "max"]
    assert reference == pytest.approx([0.0, float(rec.last("retain_accuracy").mean())], abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_ascent_step_goes_up_the_forget_loss(dtype):
    """The update is theta + lr * g: with theta = 1, g = 2, lr = 0.1 it gives 1.2 (descent
    would give 0.8); and one step of the algorithm from the trained model raises the forget
    set's loss on every seed (a small step up the gradient increases the loss)."""
    assert ascent_step([torch.tensor([1.0], dtype=dtype)], [torch.tensor([2.0], dtype=dtype)], 0.1)[
        0
    ].item() == pytest.approx(1.2, rel=1e-6)
    alg, rec = run("unlearning.gradient_ascent", 1, dtype=dtype, lr=0.001)
    prob = alg.problem
    before = _per_seed_loss(prob.original(), prob)
    after = _per_seed_loss(alg.params, prob)
    assert bool((after > before).all())


def _per_seed_loss(params, prob):
    logits = model.forward(params, prob.x_train)
    ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), prob.y_train, reduction="none")
    return (ce * prob.forget_mask).sum(dim=1) / prob.forget_mask.sum(dim=1)
