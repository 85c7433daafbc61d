"""The utility of a runtime distribution with captimes (rl.runtime_utility)."""

import math

import pytest
import torch

from engine.labs.rl_offpolicy.runtimes import runtime_utility
from tests.labs.rl_offpolicy.support import build_problem, run

# A hand-made runtime distribution: atoms 1, 2, 10 with probabilities 0.5, 0.3, 0.2.
ATOMS = [1.0, 2.0, 10.0]
PROBS = [0.5, 0.3, 0.2]


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_runtime_utility_on_a_hand_made_distribution(dtype):
    """U = Σ P(t) p(t) P(κ ≥ t), with captime parameter κ₀ = 5: fixed captime 5:
    0.5 + 0.3 = 0.8; uniform κ on [0, 5] (the authors' Uniform(κ₀), survival 1 − t/κ₀):
    0.5·0.8 + 0.3·0.6 + 0.2·0 = 0.58; exponential κ of mean 5 (survival e^{−t/κ₀}):
    0.5e^−0.2 + 0.3e^−0.4 + 0.2e^−2; fixed with discount λ = 0.1: 0.5e^−0.1 + 0.3e^−0.2."""
    t, p = torch.tensor(ATOMS, dtype=dtype), torch.tensor(PROBS, dtype=dtype)
    assert runtime_utility(t, 5.0, "fixed", 0.0, p).item() == pytest.approx(0.8, rel=1e-6)
    assert runtime_utility(t, 5.0, "uniform", 0.0, p).item() == pytest.approx(0.58, rel=1e-6)
    expected = 0.5 * math.exp(-0.2) + 0.3 * math.exp(-0.4) + 0.2 * math.exp(-2)
    assert runtime_utility(t, 5.0, "exponential", 0.0, p).item() == pytest.approx(
        expected, rel=1e-6
    )
    assert runtime_utility(t, 5.0, "fixed", 0.1, p).item() == pytest.approx(
        0.5 * math.exp(-0.1) + 0.3 * math.exp(-0.2), rel=1e-6
    )
    # Samples instead of atoms: the sample mean of p(t) P(κ ≥ t).
    samples = torch.tensor([1.0, 1.0, 2.0, 10.0], dtype=dtype)
    assert runtime_utility(samples, 5.0, "fixed", 0.0).item() == pytest.approx(0.75, rel=1e-6)


@pytest.mark.parametrize("model", ("fixed", "uniform", "exponential"))
def test_utility_is_the_captime_average_of_the_value_of_finishing_in_time(model):
    """From the definition U = E_t E_κ[p(t) 1[t ≤ κ]] rather than the survival functions:
    κ integrated numerically (fine midpoint grid over its law) for the hand-made
    distribution at κ₀ = 5, λ = 0.1, agrees with `runtime_utility` to 1e-6."""
    atoms, probs = (
        torch.tensor(ATOMS, dtype=torch.float64),
        torch.tensor(PROBS, dtype=torch.float64),
    )
    n = 400_000
    q = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # captime quantile levels
    kappa = {
        "fixed": torch.full_like(q, 5.0),
        "uniform": 5.0 * q,
        "exponential": -5.0 * torch.log1p(-q),
    }[model]
    finish_in_time = (atoms[:, None] <= kappa[None, :]).to(torch.float64).mean(-1)
    direct = (probs * torch.exp(-0.1 * atoms) * finish_in_time).sum().item()
    assert runtime_utility(atoms, 5.0, model, 0.1, probs).item() == pytest.approx(direct, abs=1e-5)


def test_sample_utility_scores_a_run_cut_off_at_the_captime_zero():
    """A run that never finished (t = ∞, as a timed-out run is recorded) is worth 0 under
    every captime law and discount, so the sample mean of [1, ∞] at κ₀ = 5 is half the
    value of the finished run: 0.5, 0.5·0.8, 0.5e^−0.2 (λ = 0), and 0.5e^−0.1 (fixed, λ = 0.1)."""
    runs = torch.tensor([1.0, math.inf], dtype=torch.float64)
    assert runtime_utility(runs, 5.0, "fixed", 0.0).item() == pytest.approx(0.5)
    assert runtime_utility(runs, 5.0, "uniform", 0.0).item() == pytest.approx(0.4)
    assert runtime_utility(runs, 5.0, "exponential", 0.0).item() == pytest.approx(
        0.5 * math.exp(-0.2)
    )
    assert runtime_utility(runs, 5.0, "fixed", 0.1).item() == pytest.approx(0.5 * math.exp(-0.1))


def test_utility_and_mean_runtime_disagree_on_hand_made_distributions():
    """The hand-made distribution has mean runtime 3.1; a solver that always takes 3 has the
    smaller mean, but with a fixed captime of 2.5 it never finishes (utility 0) while the
    hand-made one finishes 80% of the time."""
    t, p = torch.tensor(ATOMS, dtype=torch.float64), torch.tensor(PROBS, dtype=torch.float64)
    assert (t * p).sum().item() == pytest.approx(3.1)
    assert runtime_utility(t, 2.5, "fixed", 0.0, p).item() == pytest.approx(0.8)
    assert (
        runtime_utility(torch.tensor([3.0]), 2.5, "fixed", 0.0, torch.tensor([1.0])).item() == 0.0
    )


def test_exact_utility_matches_closed_forms():
    """With a fixed captime κ and p = 1, U is the CDF at κ: Φ(ln(κ/m)/σ) for a lognormal,
    1 − (x_m/κ)^a for the Pareto; the quantile midpoint rule is within 1e-4."""
    prob = build_problem("rl.heavy_tailed_runtimes")
    for captime in (0.7, 3.0, 40.0):
        exact = prob.exact_utility(captime, "fixed", 0.0).tolist()
        phi = [
            0.5 * (1 + math.erf(math.log(captime / m) / (s * math.sqrt(2))))
            for m, s in ((1.0, 2.5), (5.0, 0.3))
        ]
        assert exact[:2] == pytest.approx(phi, abs=1e-4)
        assert exact[2] == pytest.approx(1 - (0.5 / captime) ** 1.1, abs=1e-4)
    assert prob.true_mean[2] == pytest.approx(1.1 * 0.5 / 0.1)


def test_the_choice_moves_with_the_captime_while_mean_runtime_stays():
    """The paper's point on the default solvers: the exact utility picks fast (0) at
    captime 0.1, pareto (2) at 2 and steady (1) from 20 on; the least mean runtime is the
    same at every captime."""
    prob = build_problem("rl.heavy_tailed_runtimes", seeds=4)
    _, rec = run("rl.runtime_utility", prob, steps=5, captime_start=0.1, captime_end=1000.0)
    assert rec.series("captime")[:, 0] == pytest.approx([0.1, 1.0, 10.0, 100.0, 1000.0])
    assert rec.series("exact_utility_choice")[:, 0].tolist() == [0, 2, 1, 1, 1]
    mean_choice = rec.series("mean_runtime_choice")
    assert (mean_choice == mean_choice[0]).all()
    # Sample utilities agree with the exact ones at 200 runs per solver to within a few
    # binomial standard errors (sd <= 0.5/sqrt(200)).
    for s in ("fast", "steady", "pareto"):
        assert abs(
            rec.series(f"utility_{s}") - rec.series(f"exact_utility_{s}")
        ).max() < 5 * 0.5 / math.sqrt(200)
