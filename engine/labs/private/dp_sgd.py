"""DP-SGD: per-example clipping and Gaussian noise, with Opacus's RDP accountant for ε."""

from __future__ import annotations

import time
import warnings

import torch

from engine.labs.pareto.recording import pareto_snapshot_steps
from engine.labs.robust.attack import cross_entropy
from engine.labs.unlearning import model
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

OBJECTIVES = ("epsilon", "test_accuracy")
DIRECTIONS = ("min", "max")
SNAPSHOTS = 20  # the (ε, accuracy) points are added at about this many log-spaced steps
METRICS = OBJECTIVES + ("train_loss", "clipped_fraction", "wall_time_s")


def per_example_gradients(params, x, y) -> list[torch.Tensor]:
    """The gradient of every example's cross-entropy, each parameter [seeds, n, *shape].

    For a linear layer z = a W + b the gradient of example i's loss is the outer product
    a_i δ_i^T for W and δ_i for b, δ_i = ∂ℓ_i/∂z_i: one backward pass of the summed loss
    gives every δ_i (examples do not interact), as Opacus computes per-sample gradients of
    linear layers. `example_gradients_by_vmap` is the slower reference it is tested against."""
    detached = [p.detach() for p in params]
    inputs, outputs = [], []
    h = x
    for i in range(0, len(detached), 2):
        inputs.append(h)
        z = torch.baddbmm(detached[i + 1], h, detached[i]).requires_grad_(True)
        outputs.append(z)
        h = torch.relu(z) if i + 2 < len(detached) else z
    loss = torch.nn.functional.cross_entropy(h.transpose(1, 2), y, reduction="sum")
    deltas = torch.autograd.grad(loss, outputs)
    out = []
    for a, delta in zip(inputs, deltas):
        out += [torch.einsum("sni,snj->snij", a.detach(), delta), delta.unsqueeze(2)]
    return out


def _example_loss(params, x, y):
    """Cross-entropy of one example per seed (x [seeds, d], y [seeds]), summed over seeds:
    its gradient with respect to seed s's parameters is seed s's example's own."""
    logits = model.forward(params, x.unsqueeze(1)).squeeze(1)
    return torch.nn.functional.cross_entropy(logits, y, reduction="sum")


def example_gradients_by_vmap(params, x, y) -> list[torch.Tensor]:
    """`per_example_gradients` by torch.func (vmap of grad over the examples): general, slow."""
    from torch.func import grad, vmap

    detached = [p.detach() for p in params]
    grads = vmap(grad(_example_loss), in_dims=(None, 1, 1))(detached, x, y)
    return [g.movedim(0, 1) for g in grads]


def clip_factors(grads: list[torch.Tensor], clip_norm: float) -> torch.Tensor:
    """min(1, C / ||g_i||) per example [seeds, n], ||g_i|| the ℓ2 norm of example i's gradient
    over all parameters; C = inf leaves every gradient as it is."""
    squared = sum(g.flatten(2).pow(2).sum(dim=2) for g in grads)
    norms = squared.sqrt()
    return torch.clamp(clip_norm / norms.clamp_min(torch.finfo(norms.dtype).tiny), max=1.0)


def private_gradient(grads, factors, sampled, clip_norm, noise_multiplier, expected_batch, g):
    """(Σ_{i sampled} clip(g_i) + N(0, σ² C² I)) / (q N), per seed, for every parameter."""
    weights = factors * sampled
    out = []
    for grad in grads:
        summed = (grad * weights.reshape(*weights.shape, *([1] * (grad.dim() - 2)))).sum(dim=1)
        if noise_multiplier > 0:
            noise = torch.randn(summed.shape, generator=g, device=summed.device, dtype=summed.dtype)
            summed = summed + noise_multiplier * clip_norm * noise
        out.append(summed / expected_batch)
    return out


def rdp_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of `steps` Poisson-subsampled Gaussian mechanisms at (ε, δ)-DP, by Opacus's RDP
    accountant (Mironov's Rényi DP of the sampled Gaussian mechanism, converted to (ε, δ))."""
    from opacus.accountants import RDPAccountant

    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # see EpsilonCurve
        return float(accountant.get_epsilon(delta))


class EpsilonCurve:
    """ε after t steps for many t, as Opacus's RDP accountant computes it, the RDP of one step
    computed once: RDP composes additively, so t steps have t times one step's RDP at every
    order, and only the conversion to (ε, δ) is redone per t (the accountant's own
    get_privacy_spent over its own orders)."""

    def __init__(self, noise_multiplier: float, sample_rate: float, delta: float):
        from opacus.accountants import RDPAccountant
        from opacus.accountants.analysis import rdp

        self._rdp = rdp
        self.orders = RDPAccountant.DEFAULT_ALPHAS
        self.delta = delta
        self.per_step = rdp.compute_rdp(
            q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=self.orders
        )

    def __call__(self, steps: int) -> float:
        with warnings.catch_warnings():
            # Opacus warns when the best order is an end of its grid (a few steps at small q):
            # the bound is then looser than it could be, never wrong.
            warnings.simplefilter("ignore", UserWarning)
            epsilon, _ = self._rdp.get_privacy_spent(
                orders=self.orders, rdp=steps * self.per_step, delta=self.delta
            )
        return float(epsilon)


class DPSGD(Algorithm):
    """DP-SGD (Abadi et al., "Deep Learning with Differential Privacy"), the private trainer
    of "Why Is Public Pretraining Necessary for Private Model Training?", from a random start
    (the problem's initial weights) or from the network pretrained on the public data.

    Each step samples every private example with probability q (Poisson sampling), clips
    each sampled example's gradient to ℓ2 norm C and adds Gaussian noise:

        g̃_t = ( Σ_{i ∈ B_t} g_i · min(1, C / ||g_i||) + N(0, σ² C² I) ) / (q N),
        θ_{t+1} = θ_t - η g̃_t.

    ε after t steps, at the given δ, is Opacus's RDP accountant's for (σ, q, t): every
    checkpoint is a model released at that privacy cost, so one run draws utility (test
    accuracy on the private distribution) against ε; the run's front is its (ε, accuracy)
    points, ε minimised and accuracy maximised. Pretraining reads public data only and
    costs no privacy.

    Departures: per-example gradients of the linear layers by one backward pass and outer
    products (what Opacus's GradSampleModule computes for nn.Linear), for every private
    example, the unsampled ones then weighted 0 (simpler than gathering a batch of random
    size per seed, and cheap at this N); the noisy sum is divided by the expected batch size q N, as Opacus does with
    Poisson sampling (Abadi et al. divide by the lot size); plain SGD, no momentum.
    """

    id = "private.dp_sgd"
    family = "private"
    paper = "Why Is Public Pretraining Necessary for Private Model Training?"
    summary = "DP-SGD (clipping, Gaussian noise, RDP accounting) from a random or a public-pretrained start."
    problems = ("private.shifted_moons",)
    plot = "pareto"
    metrics = METRICS
    measured = ("wall_time_s",)  # wall-clock time: differs between identical runs
    params = (
        Param(
            "start",
            "choice",
            "random",
            "Start from the initial weights or from the network pretrained on the public data.",
            choices=("random", "public"),
        ),
        Param(
            "noise_multiplier",
            "float",
            1.0,
            "σ: the noise's standard deviation over the clipping norm (more noise, smaller ε).",
            low=0.0,
            low_open=True,
            high=1000.0,
        ),
        Param(
            "clip_norm",
            "float",
            1.0,
            "C: every example's gradient is clipped to this ℓ2 norm.",
            low=0.0,
            low_open=True,
            high=1e6,
        ),
        Param(
            "sample_rate",
            "float",
            0.05,
            "q: probability that an example is in a step's batch (Poisson sampling).",
            low=0.0,
            low_open=True,
            high=1.0,
        ),
        Param("lr", "float", 0.5, "SGD step size η.", low=0.0, low_open=True, high=100.0),
        Param(
            "delta",
            "float",
            1e-5,
            "δ of the (ε, δ) guarantee.",
            low=0.0,
            low_open=True,
            high=1.0,
            high_open=True,
        ),
    )

    def starting_point(self) -> list[torch.Tensor]:
        prob = self.problem
        return prob.pretrained() if self.p["start"] == "public" else prob.initial

    def step(self, params, sampled, g) -> tuple[list[torch.Tensor], torch.Tensor]:
        """One DP-SGD step; returns the new parameters and each seed's clipped fraction."""
        prob, p = self.problem, self.p
        grads = per_example_gradients(params, prob.x_train, prob.y_train)
        factors = clip_factors(grads, p["clip_norm"])
        noisy = private_gradient(
            grads,
            factors,
            sampled,
            p["clip_norm"],
            p["noise_multiplier"],
            p["sample_rate"] * prob.x_train.shape[1],
            g,
        )
        clipped = ((factors < 1).to(sampled.dtype) * sampled).sum(dim=1) / sampled.sum(
            dim=1
        ).clamp_min(1)
        return [w - p["lr"] * d for w, d in zip(params, noisy)], clipped

    def run(self, steps, rec):
        prob, p = self.problem, self.p
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        epsilon_after = EpsilonCurve(p["noise_multiplier"], p["sample_rate"], p["delta"])
        final_epsilon = epsilon_after(steps)
        rec.objectives(list(OBJECTIVES), list(DIRECTIONS), [final_epsilon, 0.0])
        snapshots = set(pareto_snapshot_steps(rec.checkpoints, SNAPSHOTS).tolist())
        everyone = torch.ones_like(prob.y_test, dtype=self.dtype)
        params = [w.detach().clone() for w in self.starting_point()]
        points, seeds, labels = [], [], []
        elapsed = 0.0
        for t in range(1, steps + 1):
            since = time.perf_counter()
            sampled = (
                torch.rand(prob.y_train.shape, generator=g, device=self.device, dtype=self.dtype)
                < p["sample_rate"]
            ).to(self.dtype)
            params, clipped = self.step(params, sampled, g)
            elapsed += time.perf_counter() - since
            if rec.should_record(t):
                epsilon = epsilon_after(t)
                accuracy = model.accuracy(params, prob.x_test, prob.y_test, everyone)
                with torch.no_grad():
                    loss = cross_entropy(params, prob.x_train, prob.y_train).mean(dim=1)
                rec.metrics(
                    t,
                    {
                        "epsilon": torch.full((self.seeds,), epsilon, dtype=torch.float64),
                        "test_accuracy": accuracy,
                        "train_loss": loss,
                        "clipped_fraction": clipped,
                        "wall_time_s": torch.full((self.seeds,), elapsed, dtype=torch.float64),
                    },
                )
                if t in snapshots:
                    for s in range(self.seeds):
                        points.append([epsilon, float(accuracy[s])])
                        seeds.append(s)
                        labels.append({"step": t, "noise_multiplier": p["noise_multiplier"]})
                    rec.pareto(t, points, seeds, labels)
            rec.progress(t)
        self.params = params
