"""PGD on hand-made objectives: it stays in the ε-ball and climbs the loss."""

import pytest
import torch

from engine.labs.robust.attack import pgd, uniform_start


def test_pgd_on_a_linear_logistic_model_reaches_the_ball_corner():
    """For the logistic loss of a linear model, ℓ(x) = log(1 + exp(w·x)) (label 0, logit
    w·x), the worst point of the ℓ∞ ball is the corner x + ε sign(w): the loss grows with
    w·x, which the corner maximises. From a uniform random start, steps of size ε reach
    it in 2 steps (one step moves each coordinate ε the right way, then the projection).
    Every iterate's distance from x is at most ε, and the loss rises above its clean value."""
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([2.0, -1.0], dtype=torch.float64)
    x = torch.randn((3, 50, 2), generator=g, dtype=torch.float64)
    eps = 0.3

    def loss(z):
        return torch.nn.functional.softplus(z @ w)

    adversarial = pgd(loss, x, eps, eps, 2, uniform_start(x, eps, g))
    assert torch.allclose(adversarial, x + eps * torch.sign(w), atol=1e-12)
    assert bool((loss(adversarial) > loss(x)).all())
    for steps in (1, 3, 10):
        out = pgd(loss, x, eps, 0.07, steps, uniform_start(x, eps, g))
        assert float((out - x).abs().max()) <= eps + 1e-12
    one = pgd(loss, x, eps, 0.07, 1, torch.zeros_like(x))
    assert torch.allclose(one, x + 0.07 * torch.sign(w), atol=1e-12)  # one sign step


def test_pgd_start_outside_the_ball_is_projected():
    """A start farther than ε is clipped back coordinate by coordinate: with zero steps the
    result is x + clip(start, -ε, ε)."""
    x = torch.zeros((1, 1, 2), dtype=torch.float64)
    start = torch.tensor([[[0.5, -0.05]]], dtype=torch.float64)
    out = pgd(lambda z: z.sum(dim=2), x, 0.1, 0.1, 0, start)
    assert out.flatten().tolist() == pytest.approx([0.1, -0.05], abs=1e-15)


@pytest.mark.parametrize("algorithm", ["robust.trades", "robust.score", "robust.weat"])
def test_a_seed_reproduces_its_run(algorithm):
    """The same seed gives the same run (data, initial weights, attack starts): every metric of
    two 5-step runs but the wall time agrees exactly; another seed gives other data."""
    from tests.labs.robust.robust_runs import run

    small = {"n_train": 40, "n_test": 40, "hidden": 8}
    _, first = run(algorithm, "robust.two_moons", 5, seeds=2, problem=small, attack_steps=2)
    _, again = run(algorithm, "robust.two_moons", 5, seeds=2, problem=small, attack_steps=2)
    other, _ = run(algorithm, "robust.two_moons", 1, seeds=2, seed=1, problem=small)
    for name in set(first.records[5]) - {"wall_time_s"}:
        assert (first.records[5][name] == again.records[5][name]).all(), name
    assert not torch.equal(
        other.problem.x_train,
        run(algorithm, "robust.two_moons", 1, seeds=2, problem=small)[0].problem.x_train,
    )
