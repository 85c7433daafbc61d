"""Constrained proxy optimisation against the constrained problem itself, solved in the primal.

The existing tests pin the dual (the multiplier against a bisection root). This one checks
what the algorithm constrains, independently of any Lagrangian: scipy's SLSQP minimises
KL(π ‖ π_ref) over the simplex subject to E_π[r̃] ≥ τ, never with the code under test.
"""

import numpy as np
from scipy.optimize import minimize

from tests.labs.preference.support import run

PROXY = "preference.proxy_reward"


def primal_constrained_optimum(proxy, reference, tau):
    """argmin_π KL(π ‖ π_ref) s.t. Σ π r̃ ≥ τ, Σ π = 1, π ≥ 0 (SLSQP, tight tolerances)."""

    def kl(policy):
        policy = np.clip(policy, 1e-300, None)
        return float(np.sum(policy * np.log(policy / reference)))

    def kl_gradient(policy):
        return np.log(np.clip(policy, 1e-300, None) / reference) + 1.0

    result = minimize(
        kl,
        reference.copy(),
        jac=kl_gradient,
        method="SLSQP",
        bounds=[(1e-12, 1.0)] * len(reference),
        constraints=[
            {"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones_like(p)},
            {"type": "ineq", "fun": lambda p: p @ proxy - tau, "jac": lambda p: proxy},
        ],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    assert result.success, result.message
    return result.x


def test_the_policy_is_the_primal_constrained_optimum():
    """Result (the paper's constrained objective: the KL term as objective, the reward model
    as a constraint at its threshold): on the seeded default instance with a non-uniform
    π_ref and τ = 1.0, the dual iteration's final policy equals the primal optimum of
    min KL(π ‖ π_ref) s.t. E_π[r̃] ≥ τ (SLSQP) to 1e-6, the constraint is active there
    (E_π[r̃] = τ), and the policy never exceeds the threshold by more than 1e-9."""
    reference = np.linspace(1.0, 2.0, 10)
    reference /= reference.sum()
    alg, rec = run(
        "preference.constrained_proxy",
        400,
        PROXY,
        problem={"reference": reference.tolist()},
        proxy_threshold=1.0,
        multiplier_lr=0.15,
    )
    proxy = alg.problem.proxy_rewards.numpy()
    assert reference @ proxy < 1.0  # π_ref does not meet τ: the constraint binds
    expected = primal_constrained_optimum(proxy, reference, 1.0)
    np.testing.assert_allclose(alg.final_policy.numpy(), expected, rtol=0, atol=1e-6)
    assert abs(expected @ proxy - 1.0) < 1e-8
    assert rec.records[400]["proxy_reward"][0] - 1.0 < 1e-9
