"""The label-permuted stream, the hand-written backpropagation, and what a run records."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.labs.continual.base import forward, loss_and_gradient
from engine.params import ParamError
from tests.labs.continual.support import build, run

SMALL = {"classes": 4, "dim": 3, "task_steps": 5, "eval_samples": 40, "hidden": [6, 5]}


def test_labels_are_each_tasks_permutation_of_the_latent_class():
    """Every task's labels are a permutation π_k of the classes, the same for all of a task's
    steps and new at each task: the label of every evaluation input under task k is
    π_k(its class), and the samples of a task with batch 2 are labelled consistently
    with one bijection from the nearest centre to the label."""
    alg = build("continual.sgd", seeds=3, problem=dict(SMALL, spread=0.01, batch=2))
    prob = alg.problem
    for task in range(4):
        perm = prob.permutation(task)
        assert sorted(perm[0].tolist()) == [0, 1, 2, 3]
        for step in range(task * 5 + 1, task * 5 + 6):
            assert prob.task_of(step) == task
            inputs, labels = prob.samples(step)
            # with a spread of 0.01 the nearest centre is the latent class
            latent = torch.cdist(inputs, prob.centres).argmin(-1)
            assert torch.equal(labels, perm.gather(1, latent))
    assert not all(torch.equal(prob.permutation(0), prob.permutation(k)) for k in range(1, 4))


def test_two_learners_with_one_seed_see_the_same_stream_and_start_alike():
    """Common random numbers: the problem's draws and the initial network depend on the
    seed, not on the learner; another seed gives other draws."""
    a, b = (
        build("continual.sgd", seeds=2, problem=SMALL),
        build("continual.upgd", seeds=2, problem=SMALL),
    )
    other = build("continual.sgd", seeds=2, seed=1, problem=SMALL)
    assert torch.equal(a.problem.initial_network(), b.problem.initial_network())
    for step in (1, 7, 12):
        assert all(
            torch.equal(x, y) for x, y in zip(a.problem.samples(step), b.problem.samples(step))
        )
    assert not torch.equal(a.problem.initial_network(), other.problem.initial_network())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hand_written_gradient_matches_autograd(dtype):
    """loss_and_gradient's backpropagation against autograd on the same network: each seed's
    mean cross-entropy and its gradient with respect to all weights and biases."""
    alg = build("continual.sgd", seeds=3, dtype=dtype, problem=dict(SMALL, batch=7))
    prob = alg.problem
    shapes = prob.layer_shapes()
    theta = prob.initial_network() + 0.3 * torch.randn(
        3, prob.initial_network().shape[1], dtype=dtype
    )
    inputs, labels = prob.samples(1)
    grad = torch.empty_like(theta)
    losses, _ = loss_and_gradient(theta, shapes, inputs, labels, grad)
    leaf = theta.clone().requires_grad_(True)
    logits, _ = forward(leaf, shapes, inputs)
    reference = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none").mean(1)
    (reference_grad,) = torch.autograd.grad(reference.sum(), leaf)
    torch.testing.assert_close(losses, reference.detach())
    torch.testing.assert_close(grad, reference_grad)


def test_what_a_run_records_and_when():
    """Running metrics are means over the current task so far: at a task's last step the
    running online accuracy equals that task's task_accuracy. Task-end metrics come at
    steps k·task_steps, only for complete tasks; accuracy_trend and backward_transfer from
    the second task on. The recorded average accuracy and backward transfer are those of
    the accuracy matrix's last row and diagonal as the run kept them; the last row is the
    final network's held-out accuracy under each task's labels, recomputed here by
    comparing its predictions with every task's labels, and the diagonal R[j, j] is the
    last row of a run stopped at the end of task j (the same stream, so the same network)."""
    alg, rec = run("continual.upgd", 23, seeds=2, every_step=True, problem=SMALL, lr=0.1)
    steps, task_accuracy = rec.series("task_accuracy")
    assert steps.tolist() == [5, 10, 15, 20]
    _, running = rec.series("online_accuracy")
    np.testing.assert_allclose(running[steps - 1], task_accuracy)
    np.testing.assert_allclose(task_accuracy.T, alg.task_accuracy.numpy())
    assert rec.series("accuracy_trend")[0].tolist() == [10, 15, 20]
    assert rec.series("backward_transfer")[0].tolist() == [10, 15, 20]
    row, diagonal = alg.accuracy_last_row.numpy(), alg.accuracy_diagonal.numpy()
    _, bwt = rec.series("backward_transfer")
    _, acc = rec.series("average_accuracy")
    np.testing.assert_allclose(acc[-1], row.mean(1))
    np.testing.assert_allclose(bwt[-1], (row[:, :3] - diagonal[:, :3]).mean(1))
    # held-out accuracies are multiples of 1/eval_samples (40 held-out inputs)
    np.testing.assert_allclose(row * 40, np.round(row * 40), atol=1e-9)
    # online accuracy over a task of 5 single samples is a multiple of 1/5
    np.testing.assert_allclose(task_accuracy * 5, np.round(task_accuracy * 5), atol=1e-9)
    for tasks in (1, 2, 3, 4):
        # the last row, recomputed from the network at the end of task `tasks`
        stopped, _ = run("continual.upgd", 5 * tasks, seeds=2, problem=SMALL, lr=0.1)
        prob = stopped.problem
        predicted = (
            forward(stopped.theta, prob.layer_shapes(), prob.eval_inputs)[0].argmax(-1).numpy()
        )
        for j in range(tasks):
            labels = prob.permutation(j).numpy()[np.arange(2)[:, None], prob.eval_classes.numpy()]
            np.testing.assert_allclose(
                stopped.accuracy_last_row[:, j].numpy(), (predicted == labels).mean(1)
            )
        np.testing.assert_allclose(
            diagonal[:, tasks - 1], stopped.accuracy_last_row[:, tasks - 1].numpy()
        )


def test_a_run_of_too_many_tasks_is_refused_before_it_starts():
    """Every task's labels are kept (for backward transfer): 6,000,000 one-step tasks of 2
    labels exceed the 10^7 labels per seed a run may keep, and the run stops at once with
    a message that says what to change."""
    alg = build("continual.sgd", problem={"classes": 2, "task_steps": 1})
    with pytest.raises(ValueError, match="6,000,000 tasks of 2 labels.*raise problem.task_steps"):
        alg.run(6_000_000, None)


def test_large_batches_are_drawn_a_block_of_steps_at_a_time():
    """With 50,000 samples of 16 numbers per step, a task's samples are drawn one step at a
    time (at most 2^20 numbers per seed and draw); each step's labels are still its task's
    permutation of the latent classes, and the steps' inputs differ."""
    alg = build(
        "continual.sgd",
        seeds=1,
        problem={
            "classes": 5,
            "dim": 16,
            "task_steps": 3,
            "batch": 50_000,
            "spread": 0.01,
            "eval_samples": 10,
        },
    )
    prob = alg.problem
    seen = []
    for step in range(1, 7):
        inputs, labels = prob.samples(step)
        assert inputs.shape == (1, 50_000, 16)
        latent = torch.cdist(inputs, prob.centres).argmin(-1)
        assert torch.equal(labels, prob.permutation(prob.task_of(step)).gather(1, latent))
        assert prob._task_draws[1] - prob._task_draws[0] == 1
        seen.append(inputs[0, 0].clone())
    assert not torch.equal(seen[0], seen[1])


@pytest.mark.parametrize(
    "problem, key, words",
    [
        ({"eval_samples": 1_000_000, "dim": 1000}, "problem.eval_samples", "held-out set"),
        ({"hidden": [20_000, 20_000]}, "problem.hidden", "network's weights"),
        ({"batch": 100_000, "dim": 2000}, "problem.batch", "one step's inputs"),
    ],
)
def test_sizes_that_would_exhaust_memory_are_refused(problem, key, words):
    """A held-out set, network or batch of more than 10^8 numbers per seed is refused with
    a ParamError naming the key (which `prepare` turns into a spec error before any run),
    before anything is allocated."""
    with pytest.raises(ParamError) as err:
        build("continual.sgd", problem=problem)
    assert (
        err.value.name == key
        and words in err.value.reason
        and "at most 100,000,000" in err.value.reason
    )
