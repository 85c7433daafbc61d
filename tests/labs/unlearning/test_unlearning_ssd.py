"""SSD's selection and dampening, on hand-made importances, and a run's front over alpha."""

import numpy as np
import pytest
import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.ssd import dampen, importances
from tests.labs.unlearning.unlearning_runs import run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_selection_and_dampening_of_hand_made_importances(dtype):
    """theta = (2, 4, 6, 8), []_D = (1, 1, 1, 0.5), []_Df = (5, 20, 0.5, 10), alpha = 10,
    lambda = 1: selected where []_Df > 10 []_D, i.e. entries 2 and 4 (20 > 10, 10 > 5; 5 is
    not above 10); their beta = 1/20 and 0.5/10 = 0.05, so theta becomes (2, 0.2, 6, 0.4).
    With lambda = 100, beta = min(100 / 20, 1) = 1 and min(50 / 10, 1) = 1: nothing changes
    (the clamp at 1 never grows a weight). With alpha = 1 entry 1 is selected too
    (5 > 1): beta = 1/5, so 2 becomes 0.4."""
    t = lambda *v: torch.tensor([[list(v)]], dtype=dtype)  # noqa: E731 - shape [seeds = 1, 1, 4]
    theta, full, forget = [t(2, 4, 6, 8)], [t(1, 1, 1, 0.5)], [t(5, 20, 0.5, 10)]
    assert torch.allclose(
        dampen(theta, full, forget, 10.0, 1.0)[0], t(2, 0.2, 6, 0.4), rtol=1e-6, atol=0
    )
    assert torch.equal(dampen(theta, full, forget, 10.0, 100.0)[0], theta[0])
    assert torch.allclose(
        dampen(theta, full, forget, 1.0, 1.0)[0], t(0.4, 0.2, 6, 0.4), rtol=1e-6, atol=0
    )


def test_zero_forget_importance_is_never_selected():
    """A parameter the forget set does not touch ([]_Df = 0) is never selected, even where
    []_D = 0 too (0 > alpha 0 is false), and no 0/0 reaches the weights."""
    theta, zero = [torch.tensor([[[3.0, -1.0]]])], [torch.zeros(1, 1, 2)]
    out = dampen(theta, zero, zero, 10.0, 1.0)[0]
    assert torch.equal(out, theta[0])


def test_importance_is_the_mean_squared_minibatch_gradient():
    """With batches of 2 over 4 examples the importance is (g_1^2 + g_2^2) / 2, g_b the
    gradient of batch b's mean loss, computed here batch by batch."""
    g = torch.Generator().manual_seed(0)
    params = model.init_mlp(2, 3, 3, 1, g, torch.device("cpu"), torch.float64)
    x = torch.randn((1, 4, 2), generator=g, dtype=torch.float64)
    y = torch.tensor([[0, 1, 2, 1]])
    got = importances(params, x, y, torch.tensor([[2, 0, 3, 1]]), batch_size=2)
    ones = torch.ones(1, 2, dtype=torch.float64)
    first = model.gradients(params, x[:, [2, 0]], y[:, [2, 0]], ones)
    second = model.gradients(params, x[:, [3, 1]], y[:, [3, 1]], ones)
    for imp, a, b in zip(got, first, second):
        assert torch.allclose(imp, (a * a + b * b) / 2, rtol=1e-12, atol=1e-15)


def test_alpha_sweep_trades_forgetting_for_retain_accuracy():
    """The paper's trade-off on a forgotten class (3 seeds): alpha = 2 selects more
    weights than alpha = 1000, so it forgets at least as much on average (lower forget
    accuracy) and the largest alpha keeps the most retain accuracy."""
    alphas = [2.0, 1000.0]
    alg, rec = run("unlearning.ssd", 2, alphas=alphas)
    points, seeds, labels = rec.points[2]
    by_alpha = {a: points[[lab["alpha"] == a for lab in labels]] for a in alphas}
    assert by_alpha[2.0][:, 0].mean() < by_alpha[1000.0][:, 0].mean()
    assert by_alpha[2.0][:, 1].mean() < by_alpha[1000.0][:, 1].mean()
    # one gradient pass over D and one over D_f per seed, whatever the number of alphas
    assert np.all(rec.last("gradient_evaluations") == 300 + 60)
