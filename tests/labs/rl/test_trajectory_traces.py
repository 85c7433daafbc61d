"""Off-policy eligibility traces (RBIS, Retrace, Tree-backup, truncated and plain IS)
against hand-computed coefficients, hand-computed updates and the DP truth."""

import types

import numpy as np
import pytest
import torch

from engine.labs.rl.gridworld import Gridworld, action_values, control_values, grid_transitions
from engine.labs.rl.trajectory_traces import TRACES, TrajectoryAwareTraces, next_betas
from tests.labs.rl.support import CPU, run

LAM = 0.8
# ρ_1, ρ_2, ρ_3 of the actions taken after the first visit, with μ = 1/4: π = ρ/4.
RATIOS = (2.0, 0.25, 3.0)
# β of the visit at t = 0 after t = 1, 2, 3, worked by hand from each rule with λ = 0.8:
HAND_BETAS = {
    # λ min(1, ρ) per step: 0.8; 0.8·0.8·0.25; 0.16·0.8·1
    "retrace": (0.8, 0.16, 0.128),
    # λ π(a_t|s_t) per step, π = 0.5, 0.0625, 0.75: 0.4; 0.4·0.05; 0.02·0.6
    "tree_backup": (0.4, 0.02, 0.012),
    # λ^t Π ρ: 0.8·2; 0.64·0.5; 0.512·1.5
    "importance_sampling": (1.6, 0.32, 0.768),
    # λ^t min(1, Π ρ): 0.8·1; 0.64·0.5; 0.512·1
    "truncated_is": (0.8, 0.32, 0.512),
    # min(λ^t, ρ_t β): min(0.8, 2); min(0.64, 0.25·0.8); min(0.512, 3·0.2)
    "rbis": (0.8, 0.2, 0.512),
}


def _replay_betas(kind, dtype):
    """β of visits 0 and 1 (visit 1 made at t = 1) after each of t = 1, 2, 3."""
    beta = torch.ones((1, 1), dtype=dtype)
    lambda_power = torch.ones((1, 1), dtype=dtype)
    ratio_product = torch.ones((1, 1), dtype=dtype)
    history = []
    for t, rho in enumerate(RATIOS, start=1):
        ratio = torch.tensor([[rho]], dtype=dtype)
        lambda_power = lambda_power * LAM
        ratio_product = ratio_product * ratio
        beta = next_betas(kind, beta, lambda_power, ratio_product, ratio, ratio / 4, LAM)
        history.append(beta[:, :1].clone())
        if t == 1:  # the visit made at t = 1 joins with coefficient 1
            beta = torch.cat([beta, torch.ones((1, 1), dtype=dtype)], 1)
            lambda_power = torch.cat([lambda_power, torch.ones((1, 1), dtype=dtype)], 1)
            ratio_product = torch.cat([ratio_product, torch.ones((1, 1), dtype=dtype)], 1)
    return torch.cat(history, 1)[0], beta[0, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", TRACES)
def test_trace_coefficients_on_a_hand_made_trajectory(kind, dtype):
    """Result: each trace's coefficient β of the first visit after ratios ρ = 2, 1/4, 3 at
    λ = 0.8 equals the hand numbers above. RBIS's recursion β ← min(λ^(t−k), ρ_t β) (the
    authors' online code) cuts to 0.2 at ρ = 1/4 and grows back to λ³ = 0.512, where
    Retrace stays cut at 0.128 and truncated IS (bounded by the product) gives 0.32 then
    0.512."""
    betas, _ = _replay_betas(kind, dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    np.testing.assert_allclose(betas.double().numpy(), HAND_BETAS[kind], rtol=tol, atol=0)


def test_rbis_bounds_a_later_visit_by_its_own_recency():
    """Result: the visit made at t = 1 has λ^(t−k) = 0.8 at t = 2 and 0.64 at t = 3: RBIS
    gives min(0.8, 0.25) = 0.25, then min(0.64, 3 · 0.25) = 0.64."""
    _, later = _replay_betas("rbis", torch.float64)
    assert later.item() == pytest.approx(0.64, abs=1e-15)


class ScriptedChain:
    """s0 → s1 → s2 → s3 → s4 (terminal) by action 0, rewards r_t, μ uniform over 4
    actions, π(0|s_t) = ρ_t / 4 for the RATIOS; every state is new when visited, so with
    Q = 0 at the start δ_t = r_t exactly (the bootstrap state is unvisited)."""

    def __init__(self, rewards, discount):
        self.states, self.actions, self.discount = 5, 4, discount
        self.max_episode_steps = 10
        self.rewards = rewards
        self.behaviour = torch.full((1, 4), 0.25, dtype=torch.float64)
        pi = torch.full((1, 5, 4), 0.25, dtype=torch.float64)
        for s, rho in enumerate(RATIOS, start=1):
            pi[0, s] = torch.tensor([rho / 4] + [(1 - rho / 4) / 3] * 3)
        self.pi, self.t = pi, 0
        self.q_true = torch.zeros((1, 5, 4), dtype=torch.float64)
        self.live = torch.ones(5, dtype=torch.bool)

    def reset(self, count):
        return torch.zeros(count, dtype=torch.long)

    def behaviour_action(self):
        return torch.zeros(1, dtype=torch.long)

    def target_probs(self, q):
        return self.pi

    def step(self, state, action):
        reward = torch.tensor([self.rewards[self.t]], dtype=torch.float64)
        self.t += 1
        return state + 1, reward, state + 1 == 4

    def q_error(self, q):
        return q.abs().sum((1, 2))


@pytest.mark.parametrize("kind", TRACES)
def test_online_update_spreads_each_td_error_by_discount_times_beta(kind):
    """Result: Q(s_k, a_k) += α γ^(t−k) β_k δ_t for every visit k ≤ t. On the scripted chain
    with δ_t = r_t, Q(s_0, 0) = α Σ_t γ^t β_0(t) r_t with β_0(0) = 1 and the hand βs above
    (α = 0.5, γ = 0.5, r = 1, 2, 4, 8)."""
    rewards, alpha, gamma = (1.0, 2.0, 4.0, 8.0), 0.5, 0.5
    problem = ScriptedChain(rewards, gamma)
    params = {"trace": kind, "lambda": LAM, "alpha": alpha, "init_scale": 0.0}
    alg = TrajectoryAwareTraces(params, problem, 1, CPU, torch.float64, 0)
    alg.run(4, types.SimpleNamespace(should_record=lambda t: False, progress=lambda t: None))
    betas = (1.0,) + HAND_BETAS[kind]
    expected = alpha * sum(gamma**t * b * r for t, (b, r) in enumerate(zip(betas, rewards)))
    assert alg.q[0, 0, 0].item() == pytest.approx(expected, rel=1e-13)
    # The last visit (t = 3) is moved by its own δ only: α r_3.
    assert alg.q[0, 3, 0].item() == pytest.approx(alpha * rewards[3], rel=1e-13)


def test_dynamic_programming_on_a_two_by_two_grid():
    """Result: without slip or puddles, goal (cell 3) worth 1, γ = 0.9: Q* from cell 1 down
    and cell 2 right is 1, from cell 0 right or down γ, from cell 0 up (a wall: stays) γ²;
    the linear solve for the greedy policy gives the same table."""
    P = grid_transitions(2, 0.0)
    R = torch.zeros((1, 4, 4), dtype=torch.float64)
    R[0, 1, 2] = R[0, 2, 1] = 1.0
    terminal = torch.tensor([False, False, False, True])
    q_star = control_values(P, R, terminal, 0.0, 0.9)
    assert q_star[0, 1, 2].item() == pytest.approx(1.0, abs=1e-12)
    assert q_star[0, 2, 1].item() == pytest.approx(1.0, abs=1e-12)
    assert q_star[0, 0, 1].item() == pytest.approx(0.9, abs=1e-12)
    assert q_star[0, 0, 2].item() == pytest.approx(0.9, abs=1e-12)
    assert q_star[0, 0, 0].item() == pytest.approx(0.81, abs=1e-12)
    greedy = torch.zeros((1, 4, 4), dtype=torch.float64)
    greedy[0, :, 2] = 1.0  # down, then right from cell 2
    greedy[0, 2] = torch.tensor([0.0, 1.0, 0.0, 0.0])
    q_pi = action_values(P, R, terminal, greedy, 0.9)
    np.testing.assert_allclose(q_pi[0, :3].numpy(), q_star[0, :3].numpy(), rtol=0, atol=1e-12)


def test_gridworld_truth_satisfies_its_bellman_equation():
    """Result: the truth Q^π of a drawn slippery grid solves Q = R + γ P_live (π Q), with R
    the expected reward of entering each cell, on every seed."""
    prob = Gridworld(
        {**{p.name: p.default for p in Gridworld.params}, "size": 3}, 3, CPU, torch.float64, 5
    )
    P = grid_transitions(3, prob.p["slip"])
    R = torch.einsum("sat,nt->nsa", P, prob.cell_reward)
    live = P * (~prob.terminal).double()
    v = (prob.target_policy * prob.q_true).sum(-1)
    rhs = R + prob.discount * torch.einsum("sat,nt->nsa", live, v)
    np.testing.assert_allclose(prob.q_true.numpy(), rhs.numpy(), rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def final_errors():
    """RMS error to Q^π at the first and the 3000th step on 4 seeds: every trace at λ = 1,
    and RBIS at λ = 0.9."""
    out = {}
    for kind, lam in [(kind, 1.0) for kind in TRACES] + [("rbis", 0.9)]:
        _, _, rec = run(
            TrajectoryAwareTraces,
            Gridworld,
            {"trace": kind, "lambda": lam},
            {},
            seeds=4,
            checkpoints=[1, 3000],
        )
        out[kind, lam] = (rec.values[1]["q_error"], rec.values[3000]["q_error"])
    return out


@pytest.mark.parametrize("kind", ["rbis", "retrace", "tree_backup", "truncated_is"])
def test_bounded_traces_converge_to_the_true_q(final_errors, kind):
    """Result: with coefficients bounded by λ^(t−k) the mean error to Q^π of the DP falls
    below 45% of its starting value within 3000 steps, even at λ = 1 (α = 0.1: the
    floor is the step-size noise)."""
    first, last = final_errors[kind, 1.0]
    assert last.mean() < 0.45 * first.mean()


def test_plain_importance_sampling_suffers_at_lambda_one_where_rbis_does_not(final_errors):
    """Result (the paper's λ sweep): at λ = 1 the unbounded IS products make plain IS's
    error more than twice RBIS's on average; RBIS at λ = 1 is within 20% of λ = 0.9."""
    rbis = final_errors["rbis", 1.0][1].mean()
    assert final_errors["importance_sampling", 1.0][1].mean() > 2 * rbis
    assert rbis < 1.2 * final_errors["rbis", 0.9][1].mean()


def test_control_runs_track_the_epsilon_greedy_fixed_point():
    """Result: with the target ε-greedy on the learner's Q, RBIS's error to the fixed point
    of the ε-greedy control operator (value iteration) falls below 45%
    within 3000 steps (mean over 3 seeds)."""
    _, _, rec = run(
        TrajectoryAwareTraces,
        Gridworld,
        {"trace": "rbis"},
        {"target": "greedy"},
        seeds=3,
        checkpoints=[1, 3000],
    )
    assert rec.values[3000]["q_error"].mean() < 0.45 * rec.values[1]["q_error"].mean()
