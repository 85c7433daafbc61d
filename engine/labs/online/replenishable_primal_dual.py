from __future__ import annotations

import math

import torch

from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator


class ReplenishablePrimalDual(Algorithm):
    """The primal-dual template for bandits with replenishable knapsacks (paper: "Bandits
    with Replenishable Knapsacks: the Best of both Worlds", Bernasconi, Castiglioni, Celli
    & Fusco 2024).

    A primal regret minimiser chooses among the K arms and the void action (index K) on
    the Lagrangian, a dual regret minimiser chooses the multipliers lambda in
    [0, 1/rho_min]^d. Each round t, with remaining budgets B_t (B_1 = rho T):

        x_t ~ p_t (primal);   play x_t if min_i B_t,i >= 1, else the void action;
        L_t(x) = f_t(x) - <lambda_t, c_t(x)>                      (Lagrangian payoff)
        primal update on g_t(x) = (L_t(x) + Lam) / (1 + 2 Lam),  Lam = d / rho_min
        lambda_t+1 = clip(lambda_t + eta_D (c_t(x_t) - rho), 0, 1/rho_min)   (OGD)
        B_t+1 = B_t - c_t(x_t)   (replenishing draws raise it)

    Primal regret minimisers: Exp3 (Auer et al. 2002, bandit feedback: only the played
    arm's reward and consumption are seen), with p = (1 - gamma) w / sum w + gamma / (K+1),
    w_x <- w_x exp(gamma g_t(x) / (p_x (K+1))) for the played x,
    gamma = min(1, sqrt((K+1) ln(K+1) / ((e - 1) T))); or Hedge (full feedback: every
    arm's draw is seen), w_x <- w_x exp(eta g_t(x)) for all x, eta = sqrt(8 ln(K+1) / T).
    The dual step defaults to eta_D = 1 / (2 rho_min sqrt T), the online-gradient-descent
    step for a box of side 1/rho_min and gradients of norm at most 2 sqrt d.

    Regret is pseudo-regret against the LP benchmark, t * OPT - sum_s r(x_s), with r the
    mean reward of the arm played; ``budget_left`` is min_i B_t,i / (rho_i T) and
    ``multiplier`` the mean of lambda over the resources.

    Choices of this implementation: the void action consumes nothing, so once a resource
    is below one unit the void action is played, and neither learner is updated, for the
    rest of the horizon (the budget can no longer change). The paper's regret bound,
    O(sqrt T) for stochastic inputs, carries constants of the chosen regret minimisers
    and is not drawn.
    """

    id = "bandits.replenishable_primal_dual"
    family = "bandits"
    paper = "Bandits with Replenishable Knapsacks: the Best of both Worlds"
    summary = "Exp3 or Hedge on the Lagrangian plus gradient steps on the Lagrange multipliers."
    params = (
        Param(
            "primal",
            "choice",
            "exp3",
            "Primal regret minimiser: exp3 (bandit feedback) or hedge (full feedback).",
            choices=("exp3", "hedge"),
        ),
        Param(
            "dual_step",
            "float",
            0.0,
            "Dual step size eta_D; 0 = 1 / (2 rho_min sqrt T).",
            low=0.0,
            high=100.0,
        ),
    )
    problems = ("bandits.replenishable_knapsack",)
    plot = "regret"
    metrics = ("cumulative_regret", "budget_left", "multiplier")

    def run(self, steps, rec):
        prob = self.problem
        s, k, d, dev = self.seeds, prob.k + 1, prob.d, self.device
        f64 = torch.float64
        gen = generator(dev, self.seed, ALGORITHM_STREAM)
        rho = prob.budget_rate
        rho_min = float(rho.min())
        lam_max = 1.0 / rho_min
        spread = d / rho_min
        dual_step = self.p["dual_step"] or 1.0 / (2.0 * rho_min * math.sqrt(steps))
        exp3 = self.p["primal"] == "exp3"
        gamma = min(1.0, math.sqrt(k * math.log(k) / ((math.e - 1.0) * steps)))
        eta = math.sqrt(8.0 * math.log(k) / steps)
        log_w = torch.zeros((s, k), dtype=f64, device=dev)
        lam = torch.zeros((s, d), dtype=f64, device=dev)
        budget = (rho * steps).expand(s, d).clone()
        rows = torch.arange(s, device=dev)
        void = torch.full((s,), k - 1, dtype=torch.long, device=dev)
        mean_reward = torch.cat([prob.rewards, torch.zeros(1, dtype=f64, device=dev)])
        earned = torch.zeros(s, dtype=f64, device=dev)
        # Every arm's draw with the void action's (nothing paid, nothing used) in the last column.
        rewards = torch.zeros((s, k), dtype=f64, device=dev)
        consumption = torch.zeros((s, k, d), dtype=f64, device=dev)
        for t in range(1, steps + 1):
            weights = torch.softmax(log_w, dim=1)
            p = (1.0 - gamma) * weights + gamma / k if exp3 else weights
            u = torch.rand((s, 1), generator=gen, device=dev, dtype=f64)
            chosen = torch.searchsorted(torch.cumsum(p, dim=1), u).squeeze(1).clamp_max(k - 1)
            live = (budget >= 1.0).all(dim=1)
            arms = torch.where(live, chosen, void)
            drawn_rewards, drawn_consumption = prob.draw()
            rewards[:, :-1] = drawn_rewards
            consumption[:, :-1] = drawn_consumption
            used = consumption[rows, arms]  # [s, d]
            payoff = (rewards - (consumption * lam.unsqueeze(1)).sum(dim=2) + spread) / (
                1.0 + 2.0 * spread
            )
            gate = live.to(f64).unsqueeze(1)
            if exp3:
                estimate = torch.zeros_like(payoff)
                estimate[rows, arms] = payoff[rows, arms] / p[rows, arms]
                log_w += gate * (gamma / k) * estimate
            else:
                log_w += gate * eta * payoff
            lam = torch.where(
                live.unsqueeze(1), (lam + dual_step * (used - rho)).clamp(0.0, lam_max), lam
            )
            budget -= used
            earned += mean_reward[arms]
            if rec.should_record(t):
                rec.metrics(
                    t,
                    {
                        "cumulative_regret": t * prob.lp.value - earned,
                        "budget_left": (budget / (rho * steps)).min(dim=1).values,
                        "multiplier": lam.mean(dim=1),
                    },
                )
            rec.progress(t)
