"""SLUG: one gradient, one layer, one step whose size is searched."""

from __future__ import annotations

import math

import torch

from engine.labs.unlearning import model
from engine.labs.unlearning.base import Clock, UnlearningAlgorithm
from engine.labs.unlearning.evaluation import UnlearningEvaluation
from engine.params import Param, ParamError


def layer_scores(params, forget_grads, retain_grads) -> tuple[torch.Tensor, torch.Tensor]:
    """Per seed and layer [seeds, layers]: importance ||g_f,l|| / ||theta_l|| and alignment
    cos(g_f,l, g_r,l), a layer l being its weight and bias together."""
    importance, alignment = [], []
    for i in range(0, len(params), 2):
        theta = torch.cat([params[i].flatten(1), params[i + 1].flatten(1)], dim=1).double()
        gf = torch.cat([forget_grads[i].flatten(1), forget_grads[i + 1].flatten(1)], dim=1).double()
        gr = torch.cat([retain_grads[i].flatten(1), retain_grads[i + 1].flatten(1)], dim=1).double()
        importance.append(gf.norm(dim=1) / theta.norm(dim=1))
        alignment.append(torch.nn.functional.cosine_similarity(gf, gr, dim=1, eps=1e-300))
    return torch.stack(importance, dim=1), torch.stack(alignment, dim=1)


def pareto_layers(importance: torch.Tensor, alignment: torch.Tensor) -> torch.Tensor:
    """Which layers [..., layers] lie on the front of high importance and low alignment: no
    other layer has importance >= and alignment <= with one of them strict."""
    imp_j, imp_i = importance.unsqueeze(-2), importance.unsqueeze(-1)  # [..., i, j]
    ali_j, ali_i = alignment.unsqueeze(-2), alignment.unsqueeze(-1)
    dominates = (imp_j >= imp_i) & (ali_j <= ali_i) & ((imp_j > imp_i) | (ali_j < ali_i))
    return ~dominates.any(dim=-1)


def step_layer(
    params, forget_grads, layer: torch.Tensor, step_size: torch.Tensor
) -> list[torch.Tensor]:
    """theta_l <- theta_l + lambda g_f,l for each seed's `layer` [seeds] and `step_size` [seeds];
    every other layer stays as it is."""
    out = []
    for i, (p, g) in enumerate(zip(params, forget_grads)):
        on = (layer == i // 2).to(p.dtype) * step_size.to(p.dtype)
        out.append(p + on.view(-1, *([1] * (p.dim() - 1))) * g)
    return out


class SLUG(UnlearningAlgorithm):
    """Single Layer Unlearning Gradient (Cai, Tan and Asif), from "Single Layer Single Gradient
    Unlearning".

    One gradient of the forget loss and one of the retain loss at the trained model theta,
    g_f = grad L_{D_f}(theta) and g_r = grad L_{D_r}(theta). For every layer l (weight and bias):

        importance_l = ||g_f,l|| / ||theta_l||,     alignment_l = cos(g_f,l, g_r,l).

    The critical layers are those on the Pareto front of high importance and low alignment
    (a step up L_f changes L_r by about lambda g_f . g_r to first order, so low alignment
    harms the retain set least). Each critical layer alone takes one step up the forget loss,

        theta_l <- theta_l + lambda g_f,l,   every other layer frozen,

    with lambda found by bisection in log lambda on [step_min, step_max]: each run step
    probes the midpoint for every critical layer and keeps the half where the smallest
    lambda with forget accuracy <= forget_target lies. After the search each critical layer
    takes the upper end of its bracket, and the layer whose step keeps the most retain
    accuracy among those that reach the target (else the lowest forget accuracy) is the
    result. Every probe is a point of the front, labelled by layer and step size.

    Departures from the paper: the paper unlearns identities from CLIP, Stable Diffusion
    and VLMs with their contrastive or generative losses and judges the step by zero-shot
    metrics; here the loss is the classifier's cross-entropy and the search's criterion the
    forget accuracy on the forget set. The paper evaluates the front's layers and picks by
    hand; here the pick is the rule above, per seed. Gradient evaluations are |D_f| + |D_r|
    per seed (the single gradient of each loss); the probes are forward passes only.
    """

    id = "unlearning.slug"
    paper = "Single Layer Single Gradient Unlearning"
    summary = (
        "One gradient; the layers on the importance-alignment front; one step with a searched size."
    )
    params = (
        Param(
            "forget_target",
            "float",
            0.05,
            "The search looks for the smallest step with forget accuracy at most this.",
            low=0.0,
            high=1.0,
        ),
        Param(
            "step_min",
            "float",
            1e-3,
            "Lower end of the step-size search.",
            low=0.0,
            low_open=True,
            high=1e9,
        ),
        Param(
            "step_max",
            "float",
            1e3,
            "Upper end of the step-size search.",
            low=0.0,
            low_open=True,
            high=1e12,
        ),
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        if not params["step_min"] < params["step_max"]:
            raise ParamError(
                "algorithm.step_min",
                f"must be below step_max ({params['step_max']:g}), got {params['step_min']:g}",
            )

    def run(self, steps, rec):
        prob = self.problem
        evaluation = UnlearningEvaluation(rec, prob)
        clock = Clock()
        with clock:
            trained = prob.original()
            forget_grads = model.gradients(trained, prob.x_train, prob.y_train, prob.forget_mask)
            retain_grads = model.gradients(trained, prob.x_train, prob.y_train, prob.retain_mask)
            importance, alignment = layer_scores(trained, forget_grads, retain_grads)
            critical = pareto_layers(importance, alignment).cpu()  # [seeds, layers]
        self.importance, self.alignment, self.critical = importance, alignment, critical
        gradient_evaluations = (prob.forget_count + prob.retain_count).double().cpu()
        layers = model.layer_count(trained)
        low = torch.full((self.seeds, layers), math.log(self.p["step_min"]), dtype=torch.float64)
        high = torch.full((self.seeds, layers), math.log(self.p["step_max"]), dtype=torch.float64)
        target = self.p["forget_target"]
        seeds = torch.arange(self.seeds)
        for t in range(1, steps + 1):
            probes = []
            with clock:
                middle = (low + high) / 2
                for layer in range(layers):
                    which = torch.full((self.seeds,), layer)
                    candidate = step_layer(
                        trained,
                        forget_grads,
                        which.to(self.device),
                        middle[:, layer].exp().to(self.device),
                    )
                    forget = (
                        model.accuracy(candidate, prob.x_train, prob.y_train, prob.forget_mask)
                        .double()
                        .cpu()
                    )
                    retain = (
                        model.accuracy(candidate, prob.x_train, prob.y_train, prob.retain_mask)
                        .double()
                        .cpu()
                    )
                    reached = forget <= target
                    high[:, layer] = torch.where(reached, middle[:, layer], high[:, layer])
                    low[:, layer] = torch.where(reached, low[:, layer], middle[:, layer])
                    probes.append((layer, forget, retain))
                chosen_layer, chosen_step = self._choose(
                    trained, forget_grads, high, critical, target
                )
                params = step_layer(
                    trained, forget_grads, chosen_layer.to(self.device), chosen_step.to(self.device)
                )
            for layer, forget, retain in probes:
                for s in seeds[critical[:, layer]].tolist():
                    evaluation.points.append(
                        (
                            s,
                            [float(forget[s]), float(retain[s])],
                            {"layer": layer + 1, "step_size": float(middle[s, layer].exp())},
                        )
                    )
            self.chosen_layer, self.chosen_step = chosen_layer, chosen_step
            evaluation.record(
                t,
                evaluation.measure(params),
                {},
                {"wall_time_s": clock.total, "gradient_evaluations": gradient_evaluations},
                points=False,
            )
            rec.pareto(
                t,
                [p for _, p, _ in evaluation.points],
                [s for s, _, _ in evaluation.points],
                [lab for _, _, lab in evaluation.points],
            )
            rec.progress(t)

    def _choose(self, trained, forget_grads, high, critical, target):
        """Per seed, the critical layer (and its step, the top of its bracket) that keeps the
        most retain accuracy among those reaching the target, else the lowest forget accuracy."""
        prob = self.problem
        layers = high.shape[1]
        scores = torch.full((self.seeds, layers), -math.inf, dtype=torch.float64)
        for layer in range(layers):
            which = torch.full((self.seeds,), layer)
            candidate = step_layer(
                trained, forget_grads, which.to(self.device), high[:, layer].exp().to(self.device)
            )
            forget = (
                model.accuracy(candidate, prob.x_train, prob.y_train, prob.forget_mask)
                .double()
                .cpu()
            )
            retain = (
                model.accuracy(candidate, prob.x_train, prob.y_train, prob.retain_mask)
                .double()
                .cpu()
            )
            # reaching the target ranks first (score in [1, 2]), then by retain or by low forget accuracy
            score = torch.where(forget <= target, 1.0 + retain, -forget)
            scores[:, layer] = torch.where(
                critical[:, layer], score, torch.tensor(-math.inf, dtype=torch.float64)
            )
        chosen = scores.argmax(dim=1)
        return chosen, high.gather(1, chosen.unsqueeze(1)).squeeze(1).exp()
