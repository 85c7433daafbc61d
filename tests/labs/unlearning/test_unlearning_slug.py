"""SLUG's layer scores, its choice of layers (the importance/alignment Pareto front), its
single-layer step, and the step size its search finds."""

import math

import numpy as np
import pytest
import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.slug import layer_scores, pareto_layers, step_layer
from tests.labs.unlearning.unlearning_runs import run


def test_layers_on_the_front_of_hand_made_numbers():
    """Importance (3, 2, 1, 2.5), alignment (0.5, 0.1, -0.2, 0.6): layer 4 is dominated by
    layer 1 (more important, 3 >= 2.5, and less aligned, 0.5 <= 0.6); layers 1, 2 and 3 are
    not (no other is at least as important and at most as aligned). A rule that sought
    high alignment would keep layer 4 and drop layer 3."""
    importance = torch.tensor([[3.0, 2.0, 1.0, 2.5]])
    alignment = torch.tensor([[0.5, 0.1, -0.2, 0.6]])
    assert pareto_layers(importance, alignment).tolist() == [[True, True, True, False]]
    # equal scores dominate neither way; one strictly better layer takes the whole front
    assert pareto_layers(torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])).tolist() == [
        True,
        True,
    ]
    assert pareto_layers(
        torch.tensor([2.0, 1.0, 1.5]), torch.tensor([-1.0, 0.0, 0.5])
    ).tolist() == [True, False, False]


def test_layer_scores_of_hand_made_gradients():
    """A layer with weight (3, 4) and bias 0 has ||theta|| = 5; forget gradient (1, 0 | 0)
    gives importance 1/5, and with retain gradient (1, 1 | 0) the alignment is cos 45° = 1/sqrt 2.
    The second layer: theta = (0, 0 | 2), g_f = (0, 0 | -1), g_r = (0, 0 | 3): importance 1/2,
    alignment -1."""
    params = [
        torch.tensor([[[3.0], [4.0]]]),
        torch.tensor([[[0.0]]]),
        torch.tensor([[[0.0], [0.0]]]),
        torch.tensor([[[2.0]]]),
    ]
    forget = [
        torch.tensor([[[1.0], [0.0]]]),
        torch.tensor([[[0.0]]]),
        torch.tensor([[[0.0], [0.0]]]),
        torch.tensor([[[-1.0]]]),
    ]
    retain = [
        torch.tensor([[[1.0], [1.0]]]),
        torch.tensor([[[0.0]]]),
        torch.tensor([[[0.0], [0.0]]]),
        torch.tensor([[[3.0]]]),
    ]
    importance, alignment = layer_scores(params, forget, retain)
    assert importance.tolist()[0] == pytest.approx([0.2, 0.5], abs=1e-12)
    assert alignment.tolist()[0] == pytest.approx([1 / math.sqrt(2), -1.0], abs=1e-12)


def test_the_step_moves_only_the_chosen_layer_up_the_forget_gradient():
    """theta_l + lambda g_f,l for the chosen layer of each seed, every other layer as it was:
    seed 0 steps layer 1 (index 0) by 0.5, seed 1 layer 2 by 2."""
    params = [torch.zeros(2, 1, 1), torch.zeros(2, 1, 1), torch.ones(2, 1, 1), torch.ones(2, 1, 1)]
    grads = [torch.full((2, 1, 1), 3.0)] * 4
    out = step_layer(params, grads, torch.tensor([0, 1]), torch.tensor([0.5, 2.0]))
    assert [t.flatten().tolist() for t in out] == [[1.5, 0.0], [1.5, 0.0], [1.0, 7.0], [1.0, 7.0]]


def test_search_finds_a_step_that_reaches_the_target_on_a_critical_layer():
    """After 14 bisection steps on [1e-3, 1e3] every seed's chosen layer is on its front and
    its step makes forget accuracy <= forget_target (0.05) on the forgotten class. The bracket
    is then a factor exp(ln(1e6) / 2^14) ~ 1.0008 wide, so a step 1.01 times smaller lies
    below a probe that missed the target: it misses on some seed (or the search sat at its
    lower end)."""
    alg, rec = run("unlearning.slug", 14, forget_target=0.05)
    chosen = alg.chosen_layer
    assert alg.critical[torch.arange(3), chosen].all()
    assert np.all(rec.last("forget_accuracy") <= 0.05)
    prob = alg.problem
    trained = prob.original()
    grads = model.gradients(trained, prob.x_train, prob.y_train, prob.forget_mask)
    smaller = step_layer(trained, grads, chosen, alg.chosen_step / 1.01)
    # a slightly smaller step misses the target on some seed, or the step is at the search's lower end
    missed = model.accuracy(smaller, prob.x_train, prob.y_train, prob.forget_mask) > 0.05
    assert bool(missed.any()) or bool((alg.chosen_step <= 1e-3 * 1.01).all())
    # the single gradient of each loss: |D_f| + |D_r| = 300 per seed
    assert np.all(rec.last("gradient_evaluations") == 300)
