"""Selective Synaptic Dampening: forget by shrinking the weights that matter most to the forget set."""

from __future__ import annotations

import math

import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.base import Clock, UnlearningAlgorithm
from engine.labs.unlearning.evaluation import UnlearningEvaluation
from engine.params import Param


def importances(params, x, y, indices: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Diagonal Fisher estimate of each parameter: the mean over minibatches of the squared
    minibatch gradient, the minibatches being consecutive runs of `batch_size` of each seed's
    `indices` [seeds, m] (the last one shorter when m is not a multiple)."""
    total = [torch.zeros_like(p) for p in params]
    batches = 0
    for start in range(0, indices.shape[1], batch_size):
        idx = indices[:, start : start + batch_size]
        xb = x.gather(1, idx.unsqueeze(2).expand(-1, -1, x.shape[2]))
        yb = y.gather(1, idx)
        for acc, g in zip(
            total, model.gradients(params, xb, yb, torch.ones_like(yb, dtype=x.dtype))
        ):
            acc += g * g
        batches += 1
    return [t / batches for t in total]


def dampen(
    params, importance_all, importance_forget, alpha: float, dampening: float
) -> list[torch.Tensor]:
    """SSD's update, parameter by parameter: where []_Df > alpha []_D, multiply theta by
    beta = min(lambda []_D / []_Df, 1); leave every other parameter as it is."""
    out = []
    for p, full, forget in zip(params, importance_all, importance_forget):
        selected = forget > alpha * full
        safe = torch.where(selected, forget, torch.ones_like(forget))  # []_Df > 0 wherever selected
        beta = torch.clamp(dampening * full / safe, max=1.0)
        out.append(torch.where(selected, beta * p, p))
    return out


class SSD(UnlearningAlgorithm):
    """Selective Synaptic Dampening (Foster, Schoepf and Brintrup), from "Fast Machine
    Unlearning Without Retraining Through Selective Synaptic Dampening". No training step.

    Importances are diagonal Fisher estimates, the mean squared gradient of the loss,
    over the whole training set D and over the forget set D_f:

        []_D  = E_B [ (grad_theta L_B(theta))^2 ],  B minibatches of D,
        []_Df = E_B [ (grad_theta L_B(theta))^2 ],  B minibatches of D_f.

    Parameter i is *selected* when []_Df,i > alpha []_D,i (alpha: selection weighting), and
    dampened:  theta_i <- beta_i theta_i,  beta_i = min(lambda []_D,i / []_Df,i, 1)
    (lambda: dampening constant); every other parameter is left as it is.

    Each alpha of the list `alphas` gives one model (all from the same trained model and
    the same importances), so a run draws the forget-retain front over alpha: small alpha
    selects more parameters and forgets more, at a cost in retain accuracy. The alphas are
    spread over the run's steps (alpha k, counted from 0, at step ceil((k + 1) steps / K):
    steps = K gives one per step, steps = 1 all at once) and every alpha's point stays on
    the front once drawn. Wall time counts both importances and that alpha's dampening; gradient evaluations are |D| + |D_f| per seed,
    once, whatever the number of alphas.

    Departures from the paper: minibatch squared gradients (as the authors' code computes
    them) stand in for the Fisher; batch_size = 1 gives the per-example empirical Fisher.
    The paper's networks are ResNet18 and ViT on images; here a two-hidden-layer ReLU
    network on Gaussian blobs.
    """

    id = "unlearning.ssd"
    paper = "Fast Machine Unlearning Without Retraining Through Selective Synaptic Dampening"
    summary = (
        "Dampen the weights much more important to the forget set than to all data (no training)."
    )
    params = (
        Param(
            "alphas",
            "floats",
            [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
            "Selection weightings alpha, one model each: a weight is dampened where its forget "
            "importance exceeds alpha times its importance on all data.",
            low=0.0,
            low_open=True,
            high=1e9,
            max_len=200,
        ),
        Param(
            "dampening",
            "float",
            1.0,
            "Dampening constant lambda: beta = min(lambda []_D / []_Df, 1).",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "batch_size",
            "int",
            32,
            "Minibatch size of the squared-gradient importances.",
            low=1,
            high=100_000,
        ),
    )

    def run(self, steps, rec):
        prob = self.problem
        alphas = self.p["alphas"]
        evaluation = UnlearningEvaluation(rec, prob)
        clock = Clock()
        with clock:
            trained = prob.original()
            everything = torch.arange(prob.x_train.shape[1], device=self.device).expand(
                self.seeds, -1
            )
            forget = prob.forget_mask.argsort(dim=1, descending=True, stable=True)[
                :, : int(prob.forget_count[0])
            ]
            importance_all = importances(
                trained, prob.x_train, prob.y_train, everything, self.p["batch_size"]
            )
            importance_forget = importances(
                trained, prob.x_train, prob.y_train, forget, self.p["batch_size"]
            )
        shared_time = clock.total
        gradient_evaluations = (prob.train_mask.sum(dim=1) + prob.forget_count).double().cpu()
        arrivals = [math.ceil((k + 1) * steps / len(alphas)) for k in range(len(alphas))]
        for t in range(1, steps + 1):
            for alpha, arrival in zip(alphas, arrivals):
                if arrival != t:
                    continue
                dampen_clock = Clock()
                with dampen_clock:
                    params = dampen(
                        trained, importance_all, importance_forget, alpha, self.p["dampening"]
                    )
                evaluation.record(
                    t,
                    evaluation.measure(params),
                    {"alpha": alpha},
                    {
                        "wall_time_s": shared_time + dampen_clock.total,
                        "gradient_evaluations": gradient_evaluations,
                    },
                )
            rec.progress(t)
