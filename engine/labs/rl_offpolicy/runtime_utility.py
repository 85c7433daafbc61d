"""Choosing a solver by the expected utility of its runtime distribution, swept over the captime."""

from __future__ import annotations

import torch

from engine.labs.rl_offpolicy.runtimes import (
    CAPTIME_MODELS,
    SOLVERS,
    HeavyTailedRuntimes,
    runtime_utility,
)
from engine.params import Param, ParamError
from engine.registry import Algorithm


def captime_grid(start: float, end: float, steps: int) -> list[float]:
    """κ₀_t = κ₀_start (κ₀_end/κ₀_start)^((t − 1)/(T − 1)), t = 1 … T (geometric)."""
    if steps == 1:
        return [start]
    return [start * (end / start) ** ((t - 1) / (steps - 1)) for t in range(1, steps + 1)]


class RuntimeUtilityChoice(Algorithm):
    """Formalizing Preferences Over Runtime Distributions (Graham, Leyton-Brown & Roughgarden, 2023).

    An algorithm that always answers correctly is scored by the expected utility of its
    runtime distribution D when runs are cut off at a captime κ drawn from a captime law K:

        U(D) = E_{t∼D}[ u(t) ],   u(t) = p(t) · P_{κ∼K}(κ ≥ t),

    with p(t) the (decreasing) value of an answer at time t, here p(t) = exp(−λ t), and
    K one of: a fixed captime κ₀, or the maximum-entropy laws when only a bound κ₀ is
    known (uniform on [0, κ₀]) or only the mean κ₀ (exponential on [0, ∞)). From n
    runtime samples t_1 … t_n the estimate is Û = (1/n) Σ_i u(t_i), which needs each run
    only up to the largest possible captime. The criterion picks argmax Û; the classical
    one picks the solver with the least mean runtime (1/n) Σ_i t_i, which heavy tails make
    erratic and blind to the captime.

    Step t of the run stands for the captime parameter κ₀ on a geometric grid from
    `captime_start` to `captime_end` (the metric `captime`).

    Sources and what could not be read: only the paper's abstract and the opening of its
    introduction were available here, not its body (the representation theorem that fixes
    how p and the captime combine, the maximum-entropy section, the estimation section).
    The form above is checked against the authors' public experiment code
    (drgrhm/formalizing-preferences): with p ≡ 1 it scores a runtime t by the captime
    law's survival 1 − F_K(t) for K = Uniform(0, κ₀), Exp(mean κ₀), Pareto(κ₀, a) and
    log-Laplace, and a solver by the sample mean of u(t_i), timed-out runs scoring 0 (a
    lower bound). Their illustration of a general utility (a surface over (t, κ), zero for
    t ≥ κ) also varies with κ below the captime, so the paper's form may be a u(t, κ)
    more general than the product p(t) · 1[t ≤ κ] used here; that, the paper's own
    examples of p, and any correction of the sample estimate for cut-off runs are not
    known here.

    Departures: p(t) = e^{−λt} is this project's choice of a decreasing value of time
    (λ = 0, the default, is the authors' experiments' p ≡ 1); the Pareto and log-Laplace
    captime laws are not included; three synthetic solvers (`rl.heavy_tailed_runtimes`)
    stand for the paper's SAT-solver and configuration runtime data.

    Metrics (per seed): `captime`; `utility_<solver>` Û per solver; `exact_utility_<solver>`
    U of its law; `utility_choice`, `mean_runtime_choice` and `exact_utility_choice`, the
    index (0 fast, 1 steady, 2 pareto) each criterion picks; `mean_runtime_<solver>`.
    """

    id = "rl.runtime_utility"
    family = "rl"
    paper = "Formalizing Preferences Over Runtime Distributions"
    summary = "Which solver the utility of its runtime distribution picks as the captime grows, against mean runtime."
    problems = (HeavyTailedRuntimes.id,)
    plot = "curves"
    metrics = (
        ("captime",)
        + tuple(f"utility_{s}" for s in SOLVERS)
        + tuple(f"exact_utility_{s}" for s in SOLVERS)
        + ("utility_choice", "mean_runtime_choice", "exact_utility_choice")
        + tuple(f"mean_runtime_{s}" for s in SOLVERS)
    )
    params = (
        Param(
            "captime_start",
            "float",
            0.1,
            "Captime parameter κ₀ at the first step (fixed captime, uniform bound or mean).",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "captime_end",
            "float",
            1000.0,
            "Captime parameter κ₀ at the last step (geometric in between).",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "captime_model",
            "choice",
            "fixed",
            "Law of the captime κ with parameter κ₀: fixed (κ = κ₀), uniform on "
            "[0, κ₀] (only a bound known), or exponential with mean κ₀ (only the mean "
            "known): the maximum-entropy laws.",
            choices=CAPTIME_MODELS,
        ),
        Param(
            "discount",
            "float",
            0.0,
            "λ of the value p(t) = exp(−λ t) of an answer at time t (0: constant).",
            low=0.0,
            high=1e6,
        ),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if params["captime_end"] < params["captime_start"]:
            raise ParamError(
                "algorithm.captime_end",
                f"must be >= captime_start ({params['captime_start']}), got {params['captime_end']}",
            )

    def run(self, steps, rec):
        prob, p = self.problem, self.p
        runtimes = prob.runtimes  # [S, 3, runs]
        mean_runtime = runtimes.mean(-1)
        mean_choice = mean_runtime.argmin(-1).to(self.dtype)
        for t, captime in enumerate(
            captime_grid(p["captime_start"], p["captime_end"], steps), start=1
        ):
            if rec.should_record(t):
                utility = runtime_utility(
                    runtimes, captime, p["captime_model"], p["discount"]
                )  # [S, 3]
                exact = prob.exact_utility(captime, p["captime_model"], p["discount"]).to(
                    self.device, self.dtype
                )
                values = {
                    "captime": torch.full(
                        (self.seeds,), captime, device=self.device, dtype=self.dtype
                    ),
                    "utility_choice": utility.argmax(-1).to(self.dtype),
                    "mean_runtime_choice": mean_choice,
                    "exact_utility_choice": exact.argmax().to(self.dtype).expand(self.seeds),
                }
                for i, s in enumerate(SOLVERS):
                    values[f"utility_{s}"] = utility[:, i]
                    values[f"exact_utility_{s}"] = exact[i].expand(self.seeds)
                    values[f"mean_runtime_{s}"] = mean_runtime[:, i]
                rec.metrics(t, values)
            rec.progress(t)
