"""The online loop every continual learner shares: an MLP trained one step at a time on the
label-permuted stream, seeds as a batch dimension; each learner gives its update rule."""

from __future__ import annotations

import torch

from engine.labs.continual.problems import LabelPermutedBlobs
from engine.labs.continual.transfer import (
    average_accuracy_of,
    backward_transfer_of,
    least_squares_slope,
)
from engine.params import Param
from engine.registry import Algorithm
from engine.seeding import ALGORITHM_STREAM, generator

CONTINUAL_PROBLEMS = ("continual.label_permuted_blobs",)
STEP_METRICS = ("online_accuracy", "loss")
TASK_METRICS = (
    "task_accuracy",
    "accuracy_trend",
    "average_accuracy",
    "backward_transfer",
    "dead_units",
    "weight_magnitude",
)
CONTINUAL_METRICS = STEP_METRICS + TASK_METRICS

MAX_TASK_LABELS = 10**7  # per seed: every task's permutation is kept, for backward transfer
LEARNING_RATE = Param("lr", "float", 0.05, "Step size α.", low=0.0, low_open=True, high=100.0)


def layer_views(theta: torch.Tensor, shapes) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(W_l [seeds, fan_in, fan_out], b_l [seeds, fan_out]) of each layer: views into the
    flat vectors theta [seeds, P], laid out as `LabelPermutedBlobs.initial_network` says."""
    seeds = theta.shape[0]
    views, offset = [], 0
    for (fan_in, fan_out), _ in shapes:
        weight = theta[:, offset : offset + fan_in * fan_out].view(seeds, fan_in, fan_out)
        offset += fan_in * fan_out
        views.append((weight, theta[:, offset : offset + fan_out]))
        offset += fan_out
    return views


def forward(
    theta: torch.Tensor, shapes, inputs: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The MLP of flat weights theta [seeds, P] (layer shapes `shapes`) on inputs
    [seeds, n, d]: logits [seeds, n, C] and the hidden ReLU activations [seeds, n, width]
    of each hidden layer."""
    hidden = []
    h = inputs
    layers = layer_views(theta, shapes)
    for layer, (weight, bias) in enumerate(layers):
        h = torch.baddbmm(bias.unsqueeze(1), h, weight)
        if layer < len(layers) - 1:
            h = torch.relu(h)
            hidden.append(h)
    return h, hidden


def loss_and_gradient(
    theta: torch.Tensor, shapes, inputs: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor
):
    """Each seed's mean cross-entropy over its n samples, [seeds], the logits [seeds, n, C],
    and the gradient of each seed's loss with respect to its weights, written into `grad`
    [seeds, P] (laid out like theta). Backpropagation by hand: with one small network per
    seed, autograd's bookkeeping costs more than the arithmetic.

    With p = softmax(logits): ∂L/∂logits = (p − onehot(label)) / n; for a layer
    h_out = h_in W + b, ∂L/∂W = h_inᵀ δ, ∂L/∂b = Σ_n δ, δ_in = (δ Wᵀ) ∘ [h_in > 0].
    """
    logits, hidden = forward(theta, shapes, inputs)
    log_p = torch.log_softmax(logits, dim=-1)
    losses = -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(1)
    delta = log_p.exp()
    delta.scatter_add_(
        -1, labels.unsqueeze(-1), -torch.ones_like(labels.unsqueeze(-1), dtype=delta.dtype)
    )
    delta /= labels.shape[1]
    layer_inputs = [inputs, *hidden]
    for (weight, _), (grad_weight, grad_bias), h_in in zip(
        reversed(layer_views(theta, shapes)),
        reversed(layer_views(grad, shapes)),
        reversed(layer_inputs),
    ):
        torch.bmm(h_in.transpose(1, 2), delta, out=grad_weight)
        torch.sum(delta, dim=1, out=grad_bias)
        if h_in is not inputs:
            delta = torch.bmm(delta, weight.transpose(1, 2)).mul_(h_in > 0)
    return losses, logits


class ContinualLearner(Algorithm):
    """Base of the continual learners: the network and the stream from the problem, and
    one update of all weights per step.

    Step t: the learner predicts this step's samples, is scored (online: the prediction
    is made before the sample is learnt from), takes the gradient of the mean
    cross-entropy over the step's batch and updates every weight by its rule. Seeds are a
    batch: the weights are one flat vector per seed, theta [seeds, P], and each seed's
    gradient is backpropagated by hand into a buffer of the same shape.

    Metrics at recorded steps: `online_accuracy` and `loss`, the means over the current
    task's steps so far (they restart at each task: the sawtooth of relearning). At the
    end of each task k (step k·task_steps, after that step's update): `task_accuracy`,
    the online accuracy over the whole task (the paper's measure); `accuracy_trend`, the
    least-squares slope of task_accuracy over the tasks so far (per task; negative is
    loss of plasticity); `average_accuracy` and `backward_transfer` of the accuracy
    matrix R[i, j] on the held-out set (engine.labs.continual.transfer; the run keeps
    the diagonal R[j, j] and the latest row, all that they read); `dead_units`,
    the fraction of hidden ReLU units that are zero on every held-out input; and
    `weight_magnitude`, the mean |w| over all weights and biases. A run's last,
    incomplete task has running metrics but no task-end record.

    Not registered itself (no id); subclasses give `update`.
    """

    family = "continual"
    problems = CONTINUAL_PROBLEMS
    plot = "curves"
    metrics = CONTINUAL_METRICS
    params = (LEARNING_RATE,)

    problem: LabelPermutedBlobs

    def __init__(self, params, problem, seeds, device, dtype, seed):
        super().__init__(params, problem, seeds, device, dtype, seed)
        self.noise_stream = generator(device, seed, ALGORITHM_STREAM)

    def update(self, theta: torch.Tensor, grad: torch.Tensor, step: int) -> None:
        """Change the weights theta [seeds, P] in place, given their gradient [seeds, P],
        at step t (from 1)."""
        raise NotImplementedError

    def gaussian(self, like: torch.Tensor, std: float) -> torch.Tensor:
        """N(0, std²) noise shaped like `like`, from the algorithm's own stream."""
        return std * torch.randn(
            like.shape, generator=self.noise_stream, device=like.device, dtype=like.dtype
        )

    def run(self, steps, rec):
        prob = self.problem
        theta = prob.initial_network()
        grad = torch.empty_like(theta)
        self.theta, self.shapes = theta, prob.layer_shapes()
        task_steps = prob.task_steps
        tasks = steps // task_steps
        if tasks * prob.classes > MAX_TASK_LABELS:
            raise ValueError(
                f"{steps:,} steps of {task_steps:,} make {tasks:,} tasks of {prob.classes} labels; "
                f"a run keeps every task's labels and accuracy, so tasks × classes may be at most "
                f"{MAX_TASK_LABELS:,}: raise problem.task_steps or lower run.steps"
            )
        zeros = torch.zeros(self.seeds, device=self.device, dtype=self.dtype)
        self.task_accuracy = torch.zeros(self.seeds, tasks, device=self.device, dtype=self.dtype)
        # R[j, j] of every task, and the latest row R[k, :k+1]: all that ACC and BWT read
        self.accuracy_diagonal = torch.zeros(
            self.seeds, tasks, device=self.device, dtype=self.dtype
        )
        self.accuracy_last_row = torch.zeros(self.seeds, 0, device=self.device, dtype=self.dtype)
        self._labels_of_tasks = torch.zeros(
            self.seeds, tasks, prob.classes, dtype=torch.int64, device=self.device
        )
        correct_sum, loss_sum = zeros.clone(), zeros.clone()
        for t in range(1, steps + 1):
            inputs, labels = prob.samples(t)
            losses, logits = loss_and_gradient(theta, self.shapes, inputs, labels, grad)
            if (t - 1) % task_steps == 0:
                correct_sum.zero_()
                loss_sum.zero_()
            correct_sum += (logits.argmax(-1) == labels).to(self.dtype).mean(1)
            loss_sum += losses
            done = (t - 1) % task_steps + 1
            values = {}
            if rec.should_record(t):
                values = {"online_accuracy": correct_sum / done, "loss": loss_sum / done}
            self.update(theta, grad, t)
            if t % task_steps == 0:
                values.update(self.end_of_task(t // task_steps - 1, correct_sum / task_steps))
            if values:
                rec.metrics(t, values)
            rec.progress(t)

    @torch.no_grad()
    def end_of_task(self, task: int, online_accuracy: torch.Tensor) -> dict:
        """Score task `task` (from 0) as it ends; return its task-end metrics."""
        prob = self.problem
        self.task_accuracy[:, task] = online_accuracy
        logits, hidden = forward(self.theta, self.shapes, prob.eval_inputs)
        predicted = logits.argmax(-1)
        # confusion[s, y, c]: held-out inputs of class y predicted c. Task j labels y as
        # π_j(y), so R[k, j] = Σ_y confusion[y, π_j(y)] / n: one gather scores every task.
        classes = prob.classes
        confusion = torch.zeros(self.seeds, classes * classes, device=self.device, dtype=self.dtype)
        confusion.scatter_add_(
            1, prob.eval_classes * classes + predicted, torch.ones_like(predicted, dtype=self.dtype)
        )
        confusion = confusion.view(self.seeds, 1, classes, classes) / predicted.shape[1]
        self._labels_of_tasks[:, task] = prob.permutation(task)
        seen = self._labels_of_tasks[:, : task + 1]
        row = (
            confusion.expand(-1, task + 1, -1, -1).gather(3, seen.unsqueeze(-1)).squeeze(-1).sum(2)
        )
        self.accuracy_last_row = row
        self.accuracy_diagonal[:, task] = row[:, task]
        diagonal = self.accuracy_diagonal[:, : task + 1]
        dead = torch.cat([(h <= 0).all(1) for h in hidden], dim=1).to(self.dtype).mean(1)
        magnitude = self.theta.abs().mean(1)
        values = {
            "task_accuracy": online_accuracy,
            "average_accuracy": average_accuracy_of(row),
            "dead_units": dead,
            "weight_magnitude": magnitude,
        }
        if task >= 1:
            values["accuracy_trend"] = least_squares_slope(self.task_accuracy[:, : task + 1])
            values["backward_transfer"] = backward_transfer_of(row, diagonal)
        return values
