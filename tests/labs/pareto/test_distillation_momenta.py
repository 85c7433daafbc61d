"""DOT's separate momenta: the update by hand on a 1-D quadratic, its reduction to plain
momentum SGD, the distillation loss by hand, and the paper's claimed effect of a larger
distillation momentum as a seeded check."""

import math

import numpy as np
import pytest
import torch

from engine.labs.pareto.classification import BlobClassification
from engine.labs.pareto.distillation_momenta import (
    DistillationOrientedTrainer,
    distillation_loss,
    dot_step,
)
from engine.metrics import hypervolume
from engine.params import ParamError
from tests.labs.pareto.pareto_runs import final_front, last_values, recorded_objectives, run_spec


def quadratic_gradients(theta):
    """L_task = (theta - 2)^2 / 2 and L_distil = (theta + 4)^2 / 4: gradients theta - 2, (theta + 4) / 2."""
    return theta - 2.0, (theta + 4.0) / 2.0


def test_update_by_hand_on_a_one_dimensional_quadratic():
    # theta_0 = 1, lr = 1/4, mu_task = 1/2, mu_distil = 3/4, buffers start at 0.
    # Step 1: g = (-1, 5/2); v = (-1, 5/2); theta_1 = 1 - (1/4)(3/2) = 0.625.
    # Step 2: g = (-1.375, 2.3125); v_task = -0.5 - 1.375 = -1.875, v_distil = 1.875 + 2.3125 = 4.1875;
    #         theta_2 = 0.625 - (1/4)(2.3125) = 0.046875.
    # Step 3: g = (-1.953125, 2.0234375); v_task = -0.9375 - 1.953125 = -2.890625,
    #         v_distil = 3.140625 + 2.0234375 = 5.1640625; theta_3 = 0.046875 - (1/4)(2.2734375) = -0.521484375.
    theta, v_task, v_distil = torch.tensor(1.0, dtype=torch.float64), 0.0, 0.0
    expected = [
        (0.625, -1.0, 2.5),
        (0.046875, -1.875, 4.1875),
        (-0.521484375, -2.890625, 5.1640625),
    ]
    for want in expected:
        theta, v_task, v_distil = dot_step(
            theta, v_task, v_distil, *quadratic_gradients(theta), 0.25, 0.5, 0.75
        )
        assert (theta.item(), v_task.item(), v_distil.item()) == want


def test_equal_momenta_are_plain_momentum_sgd_exactly():
    # With mu_task = mu_distil = mu the summed buffer obeys v <- mu v + (g_task + g_distil): heavy-ball SGD on
    # L_task + L_distil. Dyadic constants keep every value exact in binary, so the match is bit for bit.
    theta, v_task, v_distil = torch.tensor(1.0, dtype=torch.float64), 0.0, 0.0
    plain, velocity = torch.tensor(1.0, dtype=torch.float64), 0.0
    for _ in range(6):
        theta, v_task, v_distil = dot_step(
            theta, v_task, v_distil, *quadratic_gradients(theta), 0.25, 0.5, 0.5
        )
        velocity = 0.5 * velocity + sum(quadratic_gradients(plain))
        plain = plain - 0.25 * velocity
        assert theta.item() == plain.item()
    # And unequal momenta do depart from it (the check above can fail).
    other, v_task, v_distil = torch.tensor(1.0, dtype=torch.float64), 0.0, 0.0
    for _ in range(6):
        other, v_task, v_distil = dot_step(
            other, v_task, v_distil, *quadratic_gradients(other), 0.25, 0.25, 0.75
        )
    assert abs(other.item() - plain.item()) > 1e-3


def test_distillation_loss_by_hand():
    # tau = 1: teacher logits (0, ln 3) -> p = (1/4, 3/4); student (0, 0) -> q = (1/2, 1/2);
    # KL(p || q) = (1/4) ln(1/2) + (3/4) ln(3/2). tau = 2 divides the logits: p = (1, sqrt 3) / (1 + sqrt 3),
    # and the loss is 4 KL(p || q). Identical logits give 0.
    teacher = torch.tensor([[0.0, math.log(3.0)]], dtype=torch.float64)
    student = torch.zeros((1, 2), dtype=torch.float64)
    assert distillation_loss(student, teacher, 1.0).item() == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5), rel=1e-12
    )
    p = np.array([1.0, math.sqrt(3.0)]) / (1 + math.sqrt(3.0))
    assert distillation_loss(student, teacher, 2.0).item() == pytest.approx(
        4 * (p * np.log(2 * p)).sum(), rel=1e-12
    )
    assert distillation_loss(teacher, teacher, 4.0).item() == pytest.approx(0.0, abs=1e-15)


def test_larger_distillation_momentum_lowers_both_losses(tmp_path):
    # The paper's claim: with mu_distil = mu + Delta > mu_task = mu - Delta the distillation loss is better
    # optimised and, the teacher's task loss being lower, the task loss does not pay for it: DOT breaks the
    # trade-off. Seeded run, 6 seeds; measured mean training losses (task, distillation) after 400 steps:
    # Delta = -0.05: (0.397, 0.232); Delta = 0: (0.407, 0.207); Delta = 0.05: (0.389, 0.129).
    store, row, _ = run_spec(
        tmp_path,
        {"id": "pareto.dot", "momentum_gaps": [-0.05, 0.0, 0.05]},
        {"id": "pareto.blob_classification"},
        steps=400,
        seeds=6,
        record_every=50,
        dtype="float32",
    )
    objectives = recorded_objectives(row)
    assert objectives["names"] == ["task_loss", "distillation_loss"] and objectives[
        "directions"
    ] == ["min", "min"]
    points, labels = final_front(store, row["id"])
    assert [lab["momentum_gap"] for lab in labels] == [-0.05, 0.0, 0.05]
    assert labels[2]["momentum_distil"] == pytest.approx(0.95) and labels[2][
        "momentum_task"
    ] == pytest.approx(0.85)
    task, distil = points[..., 0].mean(axis=0), points[..., 1].mean(axis=0)
    assert distil[2] < distil[1] - 0.04 and task[2] < task[1] - 0.005, points.mean(axis=0)
    # A task-oriented gap (Delta < 0, the larger momentum on the task loss) trades the other way: a
    # lower task loss for a higher distillation loss. This also pins that the two buffers get
    # different momenta (raising both to mu + Delta would lower both losses at Delta > 0 too).
    assert distil[0] > distil[1] + 0.01 and task[0] < task[1] - 0.005, points.mean(axis=0)
    # The teacher is the better model on the task, which the paper's argument needs.
    assert last_values(store, row["id"], "teacher_task_loss").mean() < task.min() - 0.03
    # Reference: 1.1 x the uniform predictor's losses; its task loss is ln 3 for three classes. Every
    # student beats the uniform predictor on both losses, so every point encloses volume.
    assert objectives["reference_point"][0] == pytest.approx(1.1 * math.log(3), rel=1e-6)
    assert np.all(points < np.array(objectives["reference_point"]) / 1.1)
    expected = [
        hypervolume(points[s], objectives["reference_point"], ["min", "min"]) for s in range(6)
    ]
    np.testing.assert_allclose(last_values(store, row["id"], "hypervolume"), expected, rtol=1e-12)


def test_momenta_outside_the_unit_interval_are_refused():
    # mu = 0.9 with Delta = 0.1 gives mu_distil = 1.0: the buffer would never forget.
    problem = BlobClassification(
        {p.name: p.default for p in BlobClassification.params},
        1,
        torch.device("cpu"),
        torch.float64,
        0,
    )
    params = {
        **{p.name: p.default for p in DistillationOrientedTrainer.params},
        "momentum_gaps": [0.0, 0.1],
    }
    with pytest.raises(
        ParamError,
        match=r"algorithm.momentum_gaps: gap 0.1 with momentum 0.9 gives momenta 0.8 and 1;",
    ):
        DistillationOrientedTrainer(params, problem, 1, torch.device("cpu"), torch.float64, 0)
