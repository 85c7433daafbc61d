"""DOT: knowledge distillation with separate momenta for the task and distillation losses."""

from __future__ import annotations

import torch

from engine.labs.pareto.classification import (
    SGD_BATCH_SIZE,
    BlobClassification,
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

# Each evaluation runs the student and the teacher over the whole training set, so the
# front is read at about this many of the runner's checkpoints rather than all of them.
EVALUATIONS = 40


def dot_step(
    theta,
    velocity_task,
    velocity_distil,
    grad_task,
    grad_distil,
    lr,
    momentum_task,
    momentum_distil,
):
    """One DOT update; returns (theta, velocity_task, velocity_distil).

        v_task   <- mu_task   v_task   + g_task
        v_distil <- mu_distil v_distil + g_distil
        theta    <- theta - lr (v_task + v_distil)

    With mu_task = mu_distil = mu the sum v = v_task + v_distil obeys v <- mu v + (g_task +
    g_distil): plain heavy-ball momentum SGD on the summed loss.
    """
    velocity_task = momentum_task * velocity_task + grad_task
    velocity_distil = momentum_distil * velocity_distil + grad_distil
    return theta - lr * (velocity_task + velocity_distil), velocity_task, velocity_distil


def distillation_loss(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """tau^2 KL(softmax(z_T / tau) || softmax(z_S / tau)), averaged over the example axis."""
    teacher = torch.log_softmax(teacher_logits / temperature, dim=-1)
    student = torch.log_softmax(student_logits / temperature, dim=-1)
    return temperature**2 * (teacher.exp() * (teacher - student)).sum(dim=-1).mean(dim=-1)


class DistillationOrientedTrainer(Algorithm):
    """DOT: A Distillation-Oriented Trainer

    A teacher (wider network) is trained first on the task; then students learn from the
    task loss L_task = CE(z_S, y) and the distillation loss
    L_distil = tau^2 KL(softmax(z_T / tau) || softmax(z_S / tau)). DOT keeps their gradients
    apart, each with its own momentum buffer, the distillation loss getting the larger
    coefficient (`dot_step`):

        mu_task = mu - Delta,   mu_distil = mu + Delta,
        v_task <- mu_task v_task + grad L_task,   v_distil <- mu_distil v_distil + grad L_distil,
        theta <- theta - lr (v_task + v_distil).

    One student per momentum gap Delta in the list (Delta = 0 is ordinary momentum SGD on
    L_task + L_distil, the knowledge-distillation baseline), all from the same initial
    weights and mini-batches. Each student is a point of the trade-off the paper studies,
    (L_task, L_distil) on the training set, both minimised; the paper's claim is that a
    positive gap lowers the distillation loss and, the teacher's task loss being lower
    than the student's, does not give up task loss for it; a negative gap (the larger
    momentum on the task loss) trades the other way.

    Departures: the paper distils ResNets on CIFAR-100 and ImageNet with weight decay
    (applied with the task gradient) and a learning-rate schedule; here both networks are
    one-hidden-layer MLPs on the Gaussian-cluster task, with a constant learning rate and
    no weight decay, and the teacher is trained by the run itself (plain momentum SGD for
    `teacher_steps` mini-batches) before the students' `steps`.

    Metrics per seed: ``hypervolume`` of the students' points, ``teacher_task_loss`` and
    ``teacher_test_accuracy``.
    """

    id = "pareto.dot"
    family = "pareto"
    paper = "DOT: A Distillation-Oriented Trainer"
    summary = "Students distilled with separate task and distillation momenta; task loss against distillation loss."
    problems = (BlobClassification.id,)
    plot = "pareto"
    metrics = ("hypervolume", "teacher_task_loss", "teacher_test_accuracy")
    params = (
        Param(
            "momentum_gaps",
            "floats",
            [-0.05, 0.0, 0.05, 0.075],
            "Gaps Delta, one student each: mu_task = mu - Delta, "
            "mu_distil = mu + Delta (0 is the plain distillation baseline, negative favours the task loss).",
            low=-1.0,
            high=1.0,
            max_len=32,
        ),
        Param("momentum", "float", 0.9, "Base momentum mu.", low=0.0, high=1.0, high_open=True),
        Param(
            "temperature",
            "float",
            4.0,
            "Softmax temperature tau of the distillation loss.",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        Param("lr", "float", 0.005, "Students' learning rate.", low=0.0, low_open=True, high=100.0),
        Param("student_hidden", "int", 8, "Hidden units of each student.", low=1, high=4096),
        Param("teacher_hidden", "int", 128, "Hidden units of the teacher.", low=1, high=4096),
        Param(
            "teacher_steps",
            "int",
            1000,
            "Mini-batch steps that train the teacher before the students start.",
            low=0,
            high=1_000_000,
        ),
        Param(
            "teacher_lr",
            "float",
            0.02,
            "Teacher's learning rate (momentum mu).",
            low=0.0,
            low_open=True,
            high=100.0,
        ),
        SGD_BATCH_SIZE,
    )

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        mu = params["momentum"]
        for gap in params["momentum_gaps"]:
            if not all(0.0 <= m < 1.0 for m in (mu - gap, mu + gap)):
                raise ParamError(
                    "algorithm.momentum_gaps",
                    f"gap {gap} with momentum {mu} gives momenta "
                    f"{mu - gap:g} and {mu + gap:g}; both must lie in [0, 1)",
                )
        gaps = torch.tensor(params["momentum_gaps"], device=device, dtype=dtype)
        self.momentum_task = (mu - gaps).view(1, -1, 1, 1)
        self.momentum_distil = (mu + gaps).view(1, -1, 1, 1)

    def batch(self, g):
        prob = self.problem
        rows = torch.randint(
            0,
            prob.x_train.shape[1],
            (self.seeds, self.p["batch_size"]),
            generator=g,
            device=self.device,
        )
        return prob.x_train.gather(
            1, rows.unsqueeze(2).expand(-1, -1, prob.n_features)
        ), prob.y_train.gather(1, rows)

    def train_teacher(self, g):
        prob, p = self.problem, self.p
        teacher = init_mlp(
            MLPShape(prob.n_features, p["teacher_hidden"], prob.classes),
            (self.seeds,),
            g,
            self.device,
            self.dtype,
        )
        velocity = {name: torch.zeros_like(value) for name, value in teacher.items()}
        for _ in range(p["teacher_steps"]):
            x, y = self.batch(g)
            leaves = {name: value.requires_grad_(True) for name, value in teacher.items()}
            grads = torch.autograd.grad(
                cross_entropy(mlp_logits(leaves, x), y).sum(), list(leaves.values())
            )
            with torch.no_grad():
                for (name, value), grad in zip(leaves.items(), grads):
                    velocity[name] = p["momentum"] * velocity[name] + grad
                    teacher[name] = value.detach() - p["teacher_lr"] * velocity[name]
        return teacher

    def losses(self, student, x, y, teacher_logits):
        """(L_task, L_distil) per seed and student: [seeds, D] each."""
        logits = mlp_logits(student, x.unsqueeze(1))
        task = cross_entropy(logits, y.unsqueeze(1))
        return task, distillation_loss(logits, teacher_logits.unsqueeze(1), self.p["temperature"])

    def run(self, steps, rec):
        p, prob = self.p, self.problem
        gaps = len(p["momentum_gaps"])
        g = generator(self.device, self.seed, ALGORITHM_STREAM)
        teacher = self.train_teacher(g)
        with torch.no_grad():
            teacher_train = mlp_logits(teacher, prob.x_train)
            teacher_values = {
                "teacher_task_loss": cross_entropy(teacher_train, prob.y_train),
                "teacher_test_accuracy": accuracy(mlp_logits(teacher, prob.x_test), prob.y_test),
            }
        start = init_mlp(
            MLPShape(prob.n_features, p["student_hidden"], prob.classes),
            (self.seeds, 1),
            g,
            self.device,
            self.dtype,
        )
        student = {
            name: value.expand(-1, gaps, *value.shape[2:]).clone() for name, value in start.items()
        }
        with torch.no_grad():
            uniform = torch.zeros_like(teacher_train)
            knows_nothing = torch.stack(
                [
                    cross_entropy(uniform, prob.y_train),
                    distillation_loss(uniform, teacher_train, p["temperature"]),
                ],
                dim=1,
            )
        objectives = _LossObjectives((1.1 * knows_nothing.amax(dim=0)).double().cpu().tolist())
        front = FrontRecorder(
            rec,
            objectives,
            [
                {
                    "momentum_gap": gap,
                    "momentum_task": p["momentum"] - gap,
                    "momentum_distil": p["momentum"] + gap,
                }
                for gap in p["momentum_gaps"]
            ],
        )
        velocity_task = {name: torch.zeros_like(value) for name, value in student.items()}
        velocity_distil = {name: torch.zeros_like(value) for name, value in student.items()}
        evaluation_steps = thinned_checkpoints(rec.checkpoints, EVALUATIONS)
        for t in range(1, steps + 1):
            x, y = self.batch(g)
            with torch.no_grad():
                teacher_logits = mlp_logits(teacher, x)
            leaves = {name: value.requires_grad_(True) for name, value in student.items()}
            task, distil = self.losses(leaves, x, y, teacher_logits)
            grads_task = torch.autograd.grad(task.sum(), list(leaves.values()), retain_graph=True)
            grads_distil = torch.autograd.grad(distil.sum(), list(leaves.values()))
            with torch.no_grad():
                for (name, value), g_task, g_distil in zip(
                    leaves.items(), grads_task, grads_distil
                ):
                    shape = (*self.momentum_task.shape[:2], *([1] * (value.dim() - 2)))
                    student[name], velocity_task[name], velocity_distil[name] = dot_step(
                        value.detach(),
                        velocity_task[name],
                        velocity_distil[name],
                        g_task,
                        g_distil,
                        p["lr"],
                        self.momentum_task.view(shape),
                        self.momentum_distil.view(shape),
                    )
            if t in evaluation_steps:
                with torch.no_grad():
                    points = torch.stack(
                        self.losses(student, prob.x_train, prob.y_train, teacher_train), dim=2
                    )
                front.record(t, points.double().cpu().numpy(), teacher_values)
            rec.progress(t)


class _LossObjectives:
    """Task and distillation losses, both minimised. The reference point is 1.1 x the losses
    of the student that knows nothing, the uniform prediction (task loss ln C, distillation
    loss tau^2 KL(teacher || uniform)), the worst over seeds: a student that learnt anything
    from either loss lies inside it, and the front is not dwarfed by a random start's losses."""

    objective_names = ("task_loss", "distillation_loss")
    objective_directions = ("min", "min")

    def __init__(self, reference):
        self._reference = reference

    def reference_point(self):
        return list(self._reference)
