"""Off-policy eligibility traces, per-decision and trajectory-aware, on one gridworld."""

from __future__ import annotations

import torch

from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

TRACES = ("rbis", "retrace", "tree_backup", "truncated_is", "importance_sampling")
RATIO_CAP = 1e30  # importance-ratio products are capped here (plain IS overflows otherwise)


def next_betas(
    kind: str,
    beta: torch.Tensor,
    lambda_power: torch.Tensor,
    ratio_product: torch.Tensor,
    ratio: torch.Tensor,
    target_prob: torch.Tensor,
    lam: float,
) -> torch.Tensor:
    """The coefficients β_k of every earlier visit k after the action a_t at time t.

    beta, lambda_power = λ^(t−k), ratio_product = Π_{j=k+1..t} ρ_j are per visit
    [seeds, L], already advanced to time t; ratio = ρ_t = π(a_t|s_t)/μ(a_t|s_t) and
    target_prob = π(a_t|s_t) are per seed [seeds, 1]; beta is β_k at time t − 1.
    """
    if kind == "rbis":
        return torch.minimum(lambda_power, ratio * beta)
    if kind == "retrace":
        return beta * (lam * ratio.clamp_max(1.0))
    if kind == "tree_backup":
        return beta * (lam * target_prob)
    if kind == "truncated_is":
        return lambda_power * ratio_product.clamp_max(1.0)
    if kind == "importance_sampling":
        return lambda_power * ratio_product
    raise ValueError(f"unknown trace {kind!r} (known: {', '.join(TRACES)})")


class TrajectoryAwareTraces(Algorithm):
    """Online off-policy TD with per-decision and trajectory-aware eligibility traces.

    Paper: "Trajectory-Aware Eligibility Traces for Off-Policy Reinforcement Learning".
    Every transition (s_t, a_t, r_t, s_{t+1}) of the behaviour policy μ gives the
    expected TD error δ_t = r_t + γ Σ_a π(a|s_{t+1}) Q(s_{t+1}, a) − Q(s_t, a_t)
    (no bootstrap from a terminal state), and every visit k ≤ t of the episode so far is
    moved by Q(s_k, a_k) += α γ^(t−k) β_k δ_t with β_t = 1 for the current visit and,
    with ρ_t = π(a_t|s_t)/μ(a_t|s_t), for k < t:

        retrace              β_k ← λ min(1, ρ_t) β_k
        tree_backup          β_k ← λ π(a_t|s_t) β_k
        importance_sampling  β_k = λ^(t−k) Π_{j=k+1..t} ρ_j
        truncated_is         β_k = λ^(t−k) min(1, Π_{j=k+1..t} ρ_j)
        rbis                 β_k ← min(λ^(t−k), ρ_t β_k)   (recency-bounded IS)

    The first two are per-decision (a product of per-step factors: once a factor is 0
    the trace is cut for good); the last three depend on the whole trajectory since k.
    RBIS's recursion is that of the paper's Eq. for RBIS and the authors' online code:
    the IS ratio multiplies the previous coefficient, and the result is bounded by the
    recency weight λ^(t−k), so a trace cut by a small ratio can grow back with later
    large ratios, never above λ^(t−k).

    Departures: the target policy of control runs (problem `target = "greedy"`) is
    ε-greedy on the current Q at every step, where the authors' code refreshes it at
    episode ends; the behaviour policy is uniform and fixed (the data do not depend on
    the learner, so runs of different traces on one seed see the same trajectories);
    the product of ratios is capped at 1e30.
    """

    id = "rl.trajectory_traces"
    family = "rl"
    paper = "Trajectory-Aware Eligibility Traces for Off-Policy Reinforcement Learning"
    summary = "Online TD(λ) off-policy: RBIS, Retrace, Tree-backup, truncated and plain IS traces; error to the true Q."
    params = (
        Param("trace", "choice", "rbis", "Which trace coefficient β.", choices=TRACES),
        Param("lambda", "float", 0.9, "Trace decay λ.", low=0.0, high=1.0),
        Param("alpha", "float", 0.1, "Step size α.", low=0.0, low_open=True, high=1.0),
        Param(
            "init_scale",
            "float",
            0.0,
            "Initial Q is this times a standard normal draw.",
            low=0.0,
            high=100.0,
        ),
    )
    problems = ("rl.gridworld",)
    plot = "curves"
    metrics = ("q_error", "q_error_max", "trace_mass", "episodes")

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self._gen = generator(device, seed, ALGORITHM_STREAM)
        S, A = problem.states, problem.actions
        self.q = params["init_scale"] * torch.randn(
            (seeds, S, A), generator=self._gen, device=device, dtype=dtype
        )

    def run(self, steps: int, rec) -> None:
        prob, p = self.problem, self.p
        kind, lam, alpha, gamma = p["trace"], p["lambda"], p["alpha"], prob.discount
        seeds, S, A, L = self.seeds, prob.states, prob.actions, prob.max_episode_steps
        dev, dt = self.device, self.dtype
        rows = torch.arange(seeds, device=dev)
        slots = torch.arange(L, device=dev).unsqueeze(0)
        visit = torch.zeros((seeds, L), dtype=torch.long, device=dev)  # flat index s·A + a
        discount_power = torch.zeros((seeds, L), dtype=dt, device=dev)
        lambda_power = torch.zeros((seeds, L), dtype=dt, device=dev)
        ratio_product = torch.zeros((seeds, L), dtype=dt, device=dev)
        beta = torch.zeros((seeds, L), dtype=dt, device=dev)
        length = torch.zeros(seeds, dtype=torch.long, device=dev)  # visits held this episode
        state = prob.reset(seeds)
        episodes = torch.zeros(seeds, dtype=dt, device=dev)
        for t in range(1, steps + 1):
            action = prob.behaviour_action()
            pi = prob.target_probs(self.q)
            target_prob = pi[rows, state, action].unsqueeze(1)
            ratio = target_prob / prob.behaviour[rows, action].unsqueeze(1)
            nxt, reward, done = prob.step(state, action)
            bootstrap = (pi[rows, nxt] * self.q[rows, nxt]).sum(-1) * (~done).to(dt)
            td_error = reward + gamma * bootstrap - self.q[rows, state, action]

            held = slots < length.unsqueeze(1)
            discount_power.mul_(gamma)
            lambda_power.mul_(lam)
            ratio_product.mul_(ratio).clamp_(max=RATIO_CAP)
            beta = next_betas(kind, beta, lambda_power, ratio_product, ratio, target_prob, lam)
            new = slots == length.unsqueeze(1)
            visit = torch.where(new, (state * A + action).unsqueeze(1), visit)
            ones = new.to(dt)
            discount_power = torch.where(new, ones, discount_power)
            lambda_power = torch.where(new, ones, lambda_power)
            ratio_product = torch.where(new, ones, ratio_product)
            beta = torch.where(new, ones, beta)
            weight = discount_power * beta * (held | new).to(dt)
            self.q.view(seeds, S * A).scatter_add_(1, visit, alpha * weight * td_error.unsqueeze(1))

            length += 1
            ended = done | (length >= L)
            episodes += ended.to(dt)
            length = torch.where(ended, torch.zeros_like(length), length)
            state = torch.where(ended, prob.reset(seeds), nxt)

            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "q_error": prob.q_error(self.q),
                        "q_error_max": (self.q - prob.q_true)[:, prob.live].abs().amax((1, 2)),
                        "trace_mass": weight.sum(1),
                        "episodes": episodes,
                    },
                )
            rec.progress(t)
