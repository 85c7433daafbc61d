"""The theory-only rate panel: each curve at hand-computed points."""

import pytest
import torch

from engine import registry
from engine.labs.online.adversarial_mdp_rates import AdversarialMDPEpisodes, AdversarialMDPRates
from tests.labs.online.recorder import CPU, FakeRecorder

# K at which each rate is a power of two: 4096^(1/2) = 64, 4096^(2/3) = 256, 4096^(3/4) = 512,
# 1024^(4/5) = 256, 128^(6/7) = 64, 512^(8/9) = 256, 32768^(14/15) = 16384.
HAND = {
    "dai2023_linear_q_simulator_and_liu2023_inefficient_1*K^(1/2)": (4096, 64.0),
    "luo2021_linear_q_simulator_previous_1*K^(2/3)": (4096, 256.0),
    "liu2023_policy_optimisation_1*K^(3/4)": (4096, 512.0),
    "kong2023_previous_1*K^(4/5)": (1024, 256.0),
    "sherman2023_previous_1*K^(6/7)": (128, 64.0),
    "dai2023_linear_mdp_no_simulator_1*K^(8/9)": (512, 256.0),
    "luo2021_linear_mdp_no_simulator_previous_1*K^(14/15)": (32768, 16384.0),
}


def test_curves_at_hand_computed_points():
    """Each curve is 1 * K^a with the exponent the papers' abstracts state, and at K = 1 every curve is 1."""
    checkpoints = [1, 128, 512, 1024, 4096, 32768]
    rec = FakeRecorder(checkpoints)
    problem = AdversarialMDPEpisodes({}, 1, CPU, torch.float64, 0)
    AdversarialMDPRates({}, problem, 1, CPU, torch.float64, 0).run(32768, rec)
    assert set(rec.bounds) == set(HAND)
    for name, (k, value) in HAND.items():
        assert rec.bounds[name][checkpoints.index(k)] == pytest.approx(value, rel=1e-12), name
        assert rec.bounds[name][0] == 1.0
    assert rec.values == {}  # theory only: no per-seed series


def test_the_entry_says_it_is_theory_only():
    """Registered in the bandits family with a regret plot, its summary and docstring say THEORY ONLY,
    and its paper field names both papers as papers.txt spells them."""
    cls = registry.algorithm("bandits.adversarial_mdp_rates")
    assert cls.family == "bandits" and cls.plot == "regret" and cls.metrics == ()
    assert cls.summary.startswith("THEORY ONLY") and "THEORY ONLY" in cls.__doc__
    assert cls.paper.split("; ") == [
        "Refined Regret for Adversarial MDPs with Linear Function Approximation",
        "Towards Optimal Regret in Adversarial Linear MDPs with Bandit Feedback",
    ]
