"""What every unlearning run measures and records (FIUBench's kinds of metric, on this problem).

Per seed, for a model theta:
  forget_accuracy    accuracy on the forget set;
  retain_accuracy    accuracy on the retain set;
  test_accuracy      accuracy on the test set (its retained classes when a class is forgotten);
  mia_auc            a membership-inference attack's ROC AUC: the score of an example is the
                     model's probability of its true label, members are the forget set and
                     non-members the unseen test examples of the same kind; 0.5 means the
                     attack cannot tell forgotten examples from never-seen ones;
  forget_quality_ks  the two-sample Kolmogorov-Smirnov statistic D between the model's
                     true-label probabilities on the forget set and the retrained model's on
                     the same examples (0 = the same distribution as retraining gives);
and, from the algorithm, wall_time_s (the unlearning alone, all seeds at once, evaluation
not counted) and gradient_evaluations (examples whose loss gradient it computed, per seed).

The run's Pareto points are (forget_accuracy, retain_accuracy) per seed and setting
(alpha, step size, or step of a trajectory), forget accuracy minimised and retain accuracy
maximised; the declared reference point is the retrained model's point (mean over seeds),
so the studio draws retrain as the reference marker beside the front.
"""

from __future__ import annotations

import torch

from engine.labs.unlearning import model

OBJECTIVES = ("forget_accuracy", "retain_accuracy")
DIRECTIONS = ("min", "max")
QUALITY_METRICS = (
    "forget_accuracy",
    "retain_accuracy",
    "test_accuracy",
    "mia_auc",
    "forget_quality_ks",
)
COST_METRICS = ("wall_time_s", "gradient_evaluations")
METRICS = QUALITY_METRICS + COST_METRICS


def midranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a 1-D tensor, ties sharing the mean of their ranks."""
    unique, inverse, counts = torch.unique(values, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, dim=0).to(torch.float64)
    return (last - (counts.to(torch.float64) - 1) / 2)[inverse]


def roc_auc(members: torch.Tensor, nonmembers: torch.Tensor) -> float:
    """P(a member scores above a non-member) + P(tie) / 2, by the Mann-Whitney rank sum."""
    m, u = members.numel(), nonmembers.numel()
    if m == 0 or u == 0:
        return float("nan")
    ranks = midranks(torch.cat([members.double().flatten(), nonmembers.double().flatten()]))
    return float((ranks[:m].sum() - m * (m + 1) / 2) / (m * u))


def ks_statistic(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup_v |F_a(v) - F_b(v)| of two 1-D samples."""
    if a.numel() == 0 or b.numel() == 0:
        return float("nan")
    a, b = torch.sort(a.double().flatten()).values, torch.sort(b.double().flatten()).values
    points = torch.cat([a, b])
    cdf_a = torch.searchsorted(a, points, right=True).double() / a.numel()
    cdf_b = torch.searchsorted(b, points, right=True).double() / b.numel()
    return float((cdf_a - cdf_b).abs().max())


def per_seed(fn, first, first_mask, second, second_mask) -> torch.Tensor:
    """fn applied seed by seed to the masked entries of two [seeds, n] tensors; [seeds] float64."""
    return torch.tensor(
        [
            fn(first[s][first_mask[s] > 0], second[s][second_mask[s] > 0])
            for s in range(first.shape[0])
        ],
        dtype=torch.float64,
    )


class UnlearningEvaluation:
    """Measures models on a problem and records their metrics and forget-retain points."""

    def __init__(self, rec, problem):
        self.rec = rec
        self.problem = problem
        retrained = problem.retrained()
        self.reference_probability = model.true_label_probability(
            retrained, problem.x_train, problem.y_train
        )
        reference = self.measure(retrained)
        self.reference_point = [float(reference[name].mean()) for name in OBJECTIVES]
        self.points: list[tuple[int, list[float], dict]] = []  # (seed, point, label) so far
        if rec is not None:
            rec.objectives(list(OBJECTIVES), list(DIRECTIONS), self.reference_point)

    def measure(self, params) -> dict[str, torch.Tensor]:
        """The quality metrics of a model, per seed (float64 tensors [seeds])."""
        prob = self.problem
        out = {
            "forget_accuracy": model.accuracy(params, prob.x_train, prob.y_train, prob.forget_mask),
            "retain_accuracy": model.accuracy(params, prob.x_train, prob.y_train, prob.retain_mask),
            "test_accuracy": model.accuracy(params, prob.x_test, prob.y_test, prob.test_mask),
        }
        out = {k: v.double().cpu() for k, v in out.items()}
        member = model.true_label_probability(params, prob.x_train, prob.y_train)
        unseen = model.true_label_probability(params, prob.x_test, prob.y_test)
        out["mia_auc"] = per_seed(
            roc_auc, member.cpu(), prob.forget_mask.cpu(), unseen.cpu(), prob.unseen_mask.cpu()
        )
        out["forget_quality_ks"] = per_seed(
            ks_statistic,
            member.cpu(),
            prob.forget_mask.cpu(),
            self.reference_probability.cpu(),
            prob.forget_mask.cpu(),
        )
        return out

    def record(
        self, step: int, measured: dict, label: dict, costs: dict, points: bool = True
    ) -> None:
        """Record measured metrics and costs at `step`; with `points`, add this setting's
        forget-retain point of every seed to the front and record every point so far."""
        seeds = self.problem.seeds
        values = dict(measured)
        values["wall_time_s"] = torch.full(
            (seeds,), float(costs["wall_time_s"]), dtype=torch.float64
        )
        values["gradient_evaluations"] = (
            torch.as_tensor(costs["gradient_evaluations"], dtype=torch.float64)
            .expand(seeds)
            .clone()
        )
        self.rec.metrics(step, values)
        if points:
            for s in range(seeds):
                self.points.append(
                    (s, [float(measured[name][s]) for name in OBJECTIVES], dict(label))
                )
            self.rec.pareto(
                step,
                [p for _, p, _ in self.points],
                [s for s, _, _ in self.points],
                [lab for _, _, lab in self.points],
            )
