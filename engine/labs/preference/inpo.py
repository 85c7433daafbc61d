"""INPO: no-regret self-play by online mirror descent, each round a squared loss on labelled pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

INPO_METRICS = (
    "loss",
    "regularised_exploitability",
    "distance_to_equilibrium",
    "kl_to_equilibrium",
    "exploitability",
    "win_rate",
    "kl_to_reference",
)


class INPO(Algorithm):
    """Iterative Nash Policy Optimization (Zhang, Yu, Peng, Song, Tian, Huo, Jiang, Mi &
    Yu, "Iterative Nash Policy Optimization: Aligning LLMs with General Preferences via
    No-Regret Learning", 2024).

    The KL-regularised preference game between two policies,

        J(π, π') = P(π ≻ π') − τ KL(π ‖ π_ref) + τ KL(π' ‖ π_ref),

    is symmetric and zero-sum; its unique Nash equilibrium π*_τ is the fixed point
    π*_τ(y) ∝ π_ref(y) exp(P(y ≻ π*_τ)/τ). INPO plays the game against itself with online
    mirror descent (KL regulariser, weight η; step size 1/η):

        π_{t+1}(y) ∝ π_t(y)^{1 − τ/η} π_ref(y)^{τ/η} exp(P(y ≻ π_t)/η),

    but never estimates the win rates P(y ≻ π_t). It draws y, y' ~ π_t, asks the
    preference oracle which wins (y_w, y_l), and minimises over π the squared loss

        h_t(π, y, y') = log π(y)/π(y') − (τ/η) log π_ref(y)/π_ref(y') − (1 − τ/η) log π_t(y)/π_t(y')
        L_t(π) = E_{y, y' ∼ π_t, label ∼ P} [ (h_t(π, y_w, y_l) − 1/(2η))² ].

    Averaged over the label, (h − c)² P + (−h − c)² (1 − P) = (h − c(2P − 1))² + const, and
    the least-squares fit of a difference of potentials to c(2P(y ≻ y') − 1) under
    y, y' ~ π_t is 2c P(y ≻ π_t) + const, so argmin L_t (over all policies, π_t of full
    support) is exactly the mirror-descent step above. Its fixed point is π*_τ; the
    paper proves last-iterate convergence of KL(π*_τ ‖ π_t) for the exact updates.

    Here the policy is tabular (π = softmax(θ)) and L_t is quadratic in θ. With
    `solver = "exact"` each round minimises L_t exactly, by one Newton step (exact for a
    quadratic: gradient by autograd, Hessian 2 Σ w d dᵀ with d = e_{y_w} − e_{y_l}, since
    log π(y_w)/π(y_l) = θ_w − θ_l; the pseudo-inverse leaves the directions the data do
    not reach, such as a common shift of the logits, unchanged): the algorithm the
    analysis assumes. With `solver = "adam"` it takes `inner_steps` Adam steps of size `lr`
    from θ_t instead, as one trains a network on each round's dataset.

    `mode = "population"` is the exact expectation over y, y' ∼ π_t and the label (every
    ordered pair (y_w, y_l) weighted 2 π_t(y_w) π_t(y_l) P(y_w ≻ y_l), the diagonal
    included); `mode = "sampled"` draws `pairs` pairs y, y' ∼ π_t per round and seed and
    labels each by a Bernoulli draw with probability P(y ≻ y').

    η ≥ τ is required (the weight 1 − τ/η of π_t must not be negative); η = τ drops π_t
    from the step altogether.

    Notation: η is the weight of KL(π ‖ π_t) in the mirror-descent step, the η of the loss's
    target 1/(2η); written with the step size η' = 1/η the same step reads
    π_t^{1 − η'τ} π_ref^{η'τ} exp(η' P(y ≻ π_t)).

    Departures from the paper: one prompt, K responses and a tabular policy instead of a
    language model; the oracle is the problem's preference matrix; π_1 = π_ref.

    Metrics, of π_t (the policy each round's data are drawn from): `loss` L_t(π_t);
    `regularised_exploitability` max_π' [P(π' ≻ π_t) − τ KL(π' ‖ π_ref)] + τ KL(π_t ‖ π_ref)
    − 1/2 = τ log E_π_ref[exp(P(y ≻ π_t)/τ)] + τ KL(π_t ‖ π_ref) − 1/2, which is ≥ 0 and 0
    only at π*_τ; `distance_to_equilibrium` (total variation) and `kl_to_equilibrium`
    KL(π*_τ ‖ π_t) to π*_τ; `exploitability` of the unregularised game,
    max_y P(y ≻ π_t) − 1/2; `win_rate` P(π_t ≻ π_ref); `kl_to_reference`.
    """

    id = "preference.inpo"
    family = "preference"
    paper = "Iterative Nash Policy Optimization: Aligning LLMs with General Preferences via No-Regret Learning"
    summary = "Self-play by mirror descent on the KL-regularised preference game; a squared loss on labelled pairs."
    problems = ("preference.intransitive",)
    plot = "curves"
    metrics = INPO_METRICS
    params = (
        Param(
            "tau",
            "float",
            0.1,
            "τ: weight of the KL penalty to π_ref in the game.",
            low=0.0,
            low_open=True,
            high=1000.0,
        ),
        Param(
            "eta",
            "float",
            1.0,
            "η: weight of the KL to π_t in each mirror-descent step (1/η is the step size).",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "mode",
            "choice",
            "population",
            "population: exact expectation over pairs and labels; sampled: "
            "`pairs` labelled pairs drawn from π_t each round.",
            choices=("population", "sampled"),
        ),
        Param(
            "pairs",
            "int",
            256,
            "Pairs y, y' ∼ π_t per round and seed (sampled mode).",
            low=1,
            high=1_000_000,
        ),
        Param(
            "solver",
            "choice",
            "exact",
            "exact: minimise each round's quadratic loss exactly (Newton); "
            "adam: inner_steps Adam steps.",
            choices=("exact", "adam"),
        ),
        Param(
            "inner_steps", "int", 50, "Adam steps per round (solver = adam).", low=1, high=100_000
        ),
        Param(
            "lr", "float", 0.05, "Adam step size (solver = adam).", low=0.0, low_open=True, high=1e6
        ),
    )

    def run(self, steps, rec):
        prob = self.problem
        tau, eta = self.p["tau"], self.p["eta"]
        if eta < tau:
            raise ParamError(
                "algorithm.eta",
                f"must be at least tau ({tau}): with η < τ the step weights π_t by "
                f"1 − τ/η < 0 and is no longer a mirror-descent step; got {eta}",
            )
        gen = generator(self.device, self.seed, ALGORITHM_STREAM)
        log_reference = prob.reference.log()
        equilibrium64 = regularised_nash(prob.preference64, prob.reference64, tau)
        equilibrium = equilibrium64.to(device=self.device, dtype=self.dtype)
        theta = log_reference.expand(self.seeds, -1).clone()
        for t in range(1, steps + 1):
            previous = torch.log_softmax(theta, dim=1)
            pairs = self._pairs(previous.exp(), gen)
            if rec.should_record(t):
                rec.metrics(t, self._metrics(previous, pairs, log_reference, equilibrium))
            theta = self._minimise(theta, previous, pairs, log_reference)
            rec.progress(t)
        self.final_policy = torch.softmax(theta, dim=1)
        self.equilibrium = equilibrium

    # -- one round ------------------------------------------------------------------
    def round_loss(self, theta, previous, pairs, log_reference) -> torch.Tensor:
        """L_t(π_θ) for every seed, [seeds]."""
        chosen, rejected, weight = pairs
        log_policy = torch.log_softmax(theta, dim=1)
        losses = inpo_losses(
            log_policy.gather(1, chosen) - log_policy.gather(1, rejected),
            log_reference[chosen] - log_reference[rejected],
            previous.gather(1, chosen) - previous.gather(1, rejected),
            self.p["tau"],
            self.p["eta"],
        )
        return (weight * losses).sum(1)

    def _minimise(self, theta, previous, pairs, log_reference):
        if self.p["solver"] == "exact":
            return self._newton_step(theta, previous, pairs, log_reference)
        theta = theta.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([theta], lr=self.p["lr"])
        for _ in range(self.p["inner_steps"]):
            optimizer.zero_grad()
            self.round_loss(theta, previous, pairs, log_reference).sum().backward()
            optimizer.step()
        return theta.detach()

    def _newton_step(self, theta, previous, pairs, log_reference):
        chosen, rejected, weight = pairs
        theta = theta.clone().requires_grad_(True)
        gradient = torch.autograd.grad(
            self.round_loss(theta, previous, pairs, log_reference).sum(), theta
        )[0]
        # log π(y_w)/π(y_l) = θ_w − θ_l, so the Hessian of Σ w (h − c)² is 2 Σ w d dᵀ with
        # d = e_w − e_l: one K × K block per seed (seeds never interact).
        k = theta.shape[1]
        difference = (F.one_hot(chosen, k) - F.one_hot(rejected, k)).to(weight.dtype)
        hessian = 2.0 * torch.einsum("sn,sni,snj->sij", weight, difference, difference)
        step = torch.linalg.pinv(hessian, hermitian=True) @ gradient[:, :, None]
        return (theta - step[:, :, 0]).detach()

    def _pairs(self, policy, gen):
        """(chosen, rejected, weight), [seeds, n] each, for this round."""
        prob, s, k = self.problem, self.seeds, self.problem.k
        if self.p["mode"] == "population":
            first, second = torch.meshgrid(
                torch.arange(k, device=self.device),
                torch.arange(k, device=self.device),
                indexing="ij",
            )
            first, second = first.reshape(-1), second.reshape(-1)
            # (y, y') is drawn in either order and then labelled, so the ordered labelled
            # pair (y_w, y_l) has weight 2 π(y_w) π(y_l) P(y_w ≻ y_l); the weights sum to
            # 2 πᵀPπ = 1.
            weight = 2.0 * policy[:, first] * policy[:, second] * prob.preference[first, second]
            return first.expand(s, -1), second.expand(s, -1), weight
        n = self.p["pairs"]
        first = torch.multinomial(policy, n, replacement=True, generator=gen)
        second = torch.multinomial(policy, n, replacement=True, generator=gen)
        wins = (
            torch.rand((s, n), generator=gen, device=self.device, dtype=self.dtype)
            < prob.preference[first, second]
        )
        chosen, rejected = torch.where(wins, first, second), torch.where(wins, second, first)
        return chosen, rejected, torch.full((s, n), 1.0 / n, device=self.device, dtype=self.dtype)

    def _metrics(self, log_policy, pairs, log_reference, equilibrium):
        prob, tau = self.problem, self.p["tau"]
        policy = log_policy.exp()
        kl_to_reference = (policy * (log_policy - log_reference)).sum(1)
        win_rates = prob.win_rates(policy)
        best_response_value = tau * torch.logsumexp(log_reference + win_rates / tau, dim=1)
        log_equilibrium = equilibrium.clamp_min(1e-300).log()
        return {
            "loss": self.round_loss(log_policy, log_policy, pairs, log_reference),
            "regularised_exploitability": best_response_value + tau * kl_to_reference - 0.5,
            "distance_to_equilibrium": 0.5 * (policy - equilibrium).abs().sum(1),
            "kl_to_equilibrium": (equilibrium * (log_equilibrium - log_policy)).sum(1),
            "exploitability": prob.exploitability(policy),
            "win_rate": (policy @ prob.preference) @ prob.reference,
            "kl_to_reference": kl_to_reference,
        }


def inpo_losses(
    policy_logratio: torch.Tensor,
    reference_logratio: torch.Tensor,
    previous_logratio: torch.Tensor,
    tau: float,
    eta: float,
) -> torch.Tensor:
    """(h_t − 1/(2η))² for every pair, from log π(y_w)/π(y_l), log π_ref(y_w)/π_ref(y_l) and
    log π_t(y_w)/π_t(y_l)."""
    h = policy_logratio - (tau / eta) * reference_logratio - (1.0 - tau / eta) * previous_logratio
    return (h - 0.5 / eta) ** 2


def regularised_nash(
    preference: torch.Tensor,
    reference: torch.Tensor,
    tau: float,
    iterations: int = 200,
    tolerance: float = 1e-14,
) -> torch.Tensor:
    """π*_τ [K] in float64: the solution of π ∝ π_ref exp(Pπ/τ), the Nash equilibrium of the
    KL-regularised game (unique: the game is strongly monotone).

    Damped Newton on the logits z (gauge Σz = 0): F(z) = Q(z − log π_ref − P softmax(z)/τ)
    + mean(z), Q the projection off the constant vector, with step halving until ‖F‖ falls.
    """
    preference = preference.to(torch.float64)
    log_reference = reference.to(torch.float64).log()
    k = log_reference.numel()
    centre = torch.eye(k, dtype=torch.float64) - 1.0 / k
    ones = torch.full((k, k), 1.0 / k, dtype=torch.float64)

    def residual(z):
        return centre @ (z - log_reference - preference @ torch.softmax(z, 0) / tau) + z.mean()

    z = log_reference - log_reference.mean()
    value = residual(z)
    for _ in range(iterations):
        if value.abs().max() < tolerance:
            break
        policy = torch.softmax(z, 0)
        softmax_jacobian = torch.diag(policy) - torch.outer(policy, policy)
        jacobian = (
            centre @ (torch.eye(k, dtype=torch.float64) - preference @ softmax_jacobian / tau)
            + ones
        )
        step = torch.linalg.solve(jacobian, value)
        size = 1.0
        while size > 1e-12:
            candidate = z - size * step
            candidate_value = residual(candidate)
            if candidate_value.norm() < value.norm():
                break
            size *= 0.5
        z, value = candidate, candidate_value
    if value.abs().max() > 1e-9:
        raise ParamError(
            "algorithm.tau",
            f"the regularised equilibrium did not converge at τ = {tau} "
            f"(residual {value.abs().max().item():.3g}); use a larger τ",
        )
    return torch.softmax(z, 0)
