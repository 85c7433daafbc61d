"""The behaviour the UPGD paper reports on label-permuted streams, on three seeds of the
small stream here: SGD's accuracy per task declines over tasks (loss of plasticity) while
UPGD's does not, so UPGD's late-task accuracy is above SGD's.

Settings, honestly chosen: the problem's defaults (10 blobs in R^16, spread 0.7, 200 steps
per task, an MLP 16-64-64-10, one sample per step), 30 tasks, each learner at the best step
size of a small grid by its mean online accuracy over the last 8 tasks (3 seeds, base seed
0, float32; measured once, outside the tests):

    SGD    α = 0.02: 0.670   α = 0.03: 0.703   α = 0.05: 0.727   α = 0.1: 0.272
    UPGD   α = 0.05: 0.743   α = 0.1:  0.839   (σ = 0.01, β_u = 0.999, λ = 0)

At those settings SGD falls from 0.779 (tasks 5-14) to 0.727 and UPGD rises from 0.813 to
0.839. The shape needs that care: at equal α the comparison is unfair either way, since
UPGD's gate 1 − ũ scales its step by about a half. At α = 0.05 for both UPGD is only a
little better than SGD (0.743 against 0.727); at α = 0.1 for both SGD collapses and UPGD
does not. The margin asserted below is under half the one measured; on 10 seeds of the
examples (resources/examples/continual-*.toml) UPGD's late accuracy is above SGD's on every
seed (0.826 against 0.723 on average).
"""

import torch

from tests.labs.continual.support import run

TASKS = 30
STEPS = 200 * TASKS
LATE = slice(-8, None)  # the last 8 tasks
EARLY_PEAK = slice(4, 14)  # tasks 5-14, after the first tasks' initial learning


def test_upgd_keeps_plasticity_where_sgd_loses_it():
    """Late-task accuracy (mean over the last 8 tasks and 3 seeds): UPGD's at least 0.05
    above SGD's; SGD's more than 0.03 below its own level of tasks 5-14 (loss of
    plasticity), UPGD's within 0.02 of its own (measured: above it; on 10 seeds of the
    example, level: 0.827 and 0.826).
    Backward transfer is strongly negative for both: on a label-permuted stream, relearning
    the labels overwrites the old mapping (UPGD protects useful features, not old labels)."""
    sgd, _ = run("continual.sgd", STEPS, seeds=3, dtype=torch.float32, lr=0.05)
    upgd, _ = run(
        "continual.upgd",
        STEPS,
        seeds=3,
        dtype=torch.float32,
        lr=0.1,
        sigma=0.01,
        beta_utility=0.999,
    )
    sgd_acc, upgd_acc = sgd.task_accuracy.double().numpy(), upgd.task_accuracy.double().numpy()
    sgd_late, upgd_late = sgd_acc[:, LATE].mean(), upgd_acc[:, LATE].mean()
    print(
        f"late: SGD {sgd_late:.3f}, UPGD {upgd_late:.3f}; tasks 5-14: SGD {sgd_acc[:, EARLY_PEAK].mean():.3f}, "
        f"UPGD {upgd_acc[:, EARLY_PEAK].mean():.3f}"
    )
    assert upgd_late >= sgd_late + 0.05
    assert sgd_late < sgd_acc[:, EARLY_PEAK].mean() - 0.03
    assert upgd_late > upgd_acc[:, EARLY_PEAK].mean() - 0.02
    for learner in (sgd, upgd):
        row, diagonal = (
            learner.accuracy_last_row.double().numpy(),
            learner.accuracy_diagonal.double().numpy(),
        )
        bwt = (row[:, :-1] - diagonal[:, :-1]).mean(1)
        assert (bwt < -0.3).all()
