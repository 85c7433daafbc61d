"""Quantisation-aware training across bit widths: accuracy against bit-operations."""

from __future__ import annotations

import torch

from engine.labs.pareto.classification import (
    HIDDEN_UNITS,
    SGD_BATCH_SIZE,
    SGD_MOMENTUM,
    BlobClassification,
    CostObjectives,
    MLPShape,
    accuracy,
    cross_entropy,
    init_mlp,
    mlp_logits,
)
from engine.labs.pareto.recording import FrontRecorder, thinned_checkpoints
from engine.params import Param, ParamError
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

FULL_PRECISION = 32
WIDEST_QUANTISED = 16
# Evaluating every width on the whole test set costs far more than a training step, so the
# front is read at about this many of the runner's checkpoints rather than all of them.
EVALUATIONS = 40


def quantisation_grid(
    lo: torch.Tensor, hi: torch.Tensor, bits
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point of the b-bit uniform affine grid over [lo, hi] (lo <= 0 <= hi):
    s = (hi - lo) / (2^b - 1), z = round(-lo / s), so that 0 is exactly on the grid.
    A degenerate range (hi = lo = 0) gets s = 1, which maps everything to 0."""
    levels = 2.0 ** torch.as_tensor(bits, dtype=lo.dtype, device=lo.device) - 1
    scale = (hi - lo) / levels
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale, torch.round(-lo / scale)


def fake_quantise(x: torch.Tensor, bits, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Uniform fake quantisation of x to b bits on [lo, hi], with a straight-through gradient.

    Forward: q = clamp(round(x / s) + z, 0, 2^b - 1), x_hat = (q - z) s, with (s, z) from
    `quantisation_grid`; rounding is half-to-even (torch.round). Backward (the clipped
    straight-through estimator): d x_hat / d x = 1 where lo <= x <= hi, 0 where the
    forward pass clamped. `bits`, `lo`, `hi` broadcast against x.
    """
    scale, zero = quantisation_grid(lo, hi, bits)
    levels = 2.0 ** torch.as_tensor(bits, dtype=x.dtype, device=x.device) - 1
    q = torch.minimum(torch.clamp(torch.round(x / scale) + zero, min=0), levels)
    x_hat = (q - zero) * scale
    inside = ((x >= lo) & (x <= hi)).to(x.dtype)
    passed = x * inside
    return passed + (x_hat - passed).detach()


def min_max_quantise(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Fake-quantise each network's tensor on its own range [min(x, 0), max(x, 0)], taken over
    the last two axes (a weight matrix, or a batch of activations); entries of `bits` equal
    to FULL_PRECISION leave their network's tensor untouched. x [seeds, B, r, c], bits [B]."""
    lo = torch.clamp(x.detach().amin(dim=(-2, -1), keepdim=True), max=0)
    hi = torch.clamp(x.detach().amax(dim=(-2, -1), keepdim=True), min=0)
    b = bits.view(-1, 1, 1)
    full = b == FULL_PRECISION
    quantised = fake_quantise(x, torch.where(full, torch.ones_like(b), b), lo, hi)
    return torch.where(full, x, quantised)


def bit_operations(shape: MLPShape, weight_bits: int, activation_bits: int) -> int:
    """BOPs per example: MACs x b_w x b_a (every multiply-accumulate of a b_w-bit weight with a
    b_a-bit activation counted as b_w b_a bit operations)."""
    return shape.macs * weight_bits * activation_bits


class FakeQuantisedTraining(Algorithm):
    """Pareto-Optimal Quantized ResNet Is Mostly 4-bit

    Quantisation-aware training of one network per bit width b in the list: in the
    forward pass each layer's weights W and its input activations a are replaced by their
    b-bit fake-quantised values Q_b(W), Q_b(a) (`fake_quantise`, a uniform grid over the
    tensor's range), and the backward pass goes straight through the rounding:

        y = Q_b(a) Q_b(W) + bias,   dL/dW := dL/dQ_b(W),
        v <- mu v + g,   theta <- theta - eta v   (mini-batch SGD with momentum).

    Each network is one point: (test accuracy of the quantised model, its inference cost in
    bit-operations BOPs = MACs x b_w x b_a, here b_w = b_a = b, or b_a = 32 when activations
    are left in float). b = 32 stands for the unquantised float model. All widths start
    from the same initial weights and see the same mini-batches, so their difference is
    paired. The paper's claim, checked here: the cost-quality curve of a quantised model
    at 4 to 8 bits matches full precision at a fraction of the BOPs.

    Departures: the paper trains ResNets on ImageNet with its AQT library (symmetric
    weight grids, calibrated activation bounds, first and last layers at 8 bits) and
    also varies the network width; here a one-hidden-layer MLP has every layer at b bits,
    each tensor gets an affine min-max grid (recomputed each forward pass, per network),
    and only the bit width varies. The paper's float baseline is bfloat16; here it is the
    run's float dtype, costed at 32 x 32 bits per MAC.

    Metrics per seed: ``hypervolume`` of the bit-width points and ``training_loss``
    (mean over widths).
    """

    id = "pareto.fake_quantisation"
    family = "pareto"
    paper = "Pareto-Optimal Quantized ResNet Is Mostly 4-bit"
    summary = "One quantisation-aware network per bit width; accuracy against bit-operations."
    problems = (BlobClassification.id,)
    plot = "pareto"
    metrics = ("hypervolume", "training_loss")
    params = (
        HIDDEN_UNITS,
        Param(
            "bit_widths",
            "ints",
            [1, 2, 3, 4, 8, 32],
            "Bit widths b, one network and one front point each "
            f"(1 to {WIDEST_QUANTISED}, or {FULL_PRECISION} for the unquantised float model).",
            low=1,
            high=FULL_PRECISION,
            max_len=32,
        ),
        Param(
            "quantise_activations",
            "bool",
            True,
            "Quantise each layer's input activations to b bits too "
            "(otherwise they stay float and cost 32 bits).",
        ),
        Param("lr", "float", 0.02, "Learning rate eta.", low=0.0, low_open=True, high=100.0),
        SGD_MOMENTUM,
        SGD_BATCH_SIZE,
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        widths = params["bit_widths"]
        for b in widths:
            if WIDEST_QUANTISED < b < FULL_PRECISION:
                raise ParamError(
                    "algorithm.bit_widths",
                    f"{b} bits: quantised widths go up to {WIDEST_QUANTISED} "
                    f"(a float grid loses exactness beyond), and {FULL_PRECISION} means unquantised",
                )
        if len(set(widths)) != len(widths):
            raise ParamError("algorithm.bit_widths", f"lists a width twice: {widths}")
        self.shape = MLPShape(problem.n_features, params["hidden"], problem.classes)
        self.bits = torch.tensor(widths, device=device, dtype=dtype)
        activation_bits = (
            widths if params["quantise_activations"] else [FULL_PRECISION] * len(widths)
        )
        self.bops = [bit_operations(self.shape, b, a) for b, a in zip(widths, activation_bits)]

    def logits(self, params, x):
        def quantise(tensor):
            return min_max_quantise(tensor, self.bits)

        return mlp_logits(params, x, quantise, quantise if self.p["quantise_activations"] else None)

    def run(self, steps, rec):
        p, prob = self.p, self.problem
        widths = len(p["bit_widths"])
        objectives = CostObjectives("bit_operations", max(self.bops))
        front = FrontRecorder(
            rec,
            objectives,
            [{"bits": b, "bit_operations": c} for b, c in zip(p["bit_widths"], self.bops)],
        )
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        start = init_mlp(self.shape, (self.seeds, 1), g, self.device, self.dtype)
        params = {
            name: value.expand(-1, widths, *value.shape[2:]).clone()
            for name, value in start.items()
        }
        velocity = {name: torch.zeros_like(value) for name, value in params.items()}
        n_train = prob.x_train.shape[1]
        cost = torch.tensor(self.bops, dtype=torch.float64).expand(self.seeds, -1)
        evaluation_steps = thinned_checkpoints(rec.checkpoints, EVALUATIONS)
        for t in range(1, steps + 1):
            rows = torch.randint(
                0, n_train, (self.seeds, p["batch_size"]), generator=g, device=self.device
            )
            x = prob.x_train.gather(1, rows.unsqueeze(2).expand(-1, -1, prob.n_features)).unsqueeze(
                1
            )
            labels = prob.y_train.gather(1, rows).unsqueeze(1)
            leaves = {name: value.requires_grad_(True) for name, value in params.items()}
            loss = cross_entropy(self.logits(leaves, x), labels)  # [seeds, B]
            grads = torch.autograd.grad(loss.sum(), list(leaves.values()))
            with torch.no_grad():
                for (name, value), grad in zip(leaves.items(), grads):
                    velocity[name] = p["momentum"] * velocity[name] + grad
                    params[name] = value.detach() - p["lr"] * velocity[name]
            if t in evaluation_steps:
                with torch.no_grad():
                    acc = accuracy(
                        self.logits(params, prob.x_test.unsqueeze(1)), prob.y_test.unsqueeze(1)
                    )
                points = torch.stack([acc.double().cpu(), cost], dim=2).numpy()  # [seeds, B, 2]
                front.record(t, points, {"training_loss": loss.detach().mean(dim=1)})
            rec.progress(t)
