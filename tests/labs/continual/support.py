"""Building and running continual learners in memory, on the CPU."""

import numpy as np
import torch

from engine import registry
from engine.params import validate_params
from engine.runner import record_steps

CPU = torch.device("cpu")
PROBLEM = "continual.label_permuted_blobs"


class MemoryRecorder:
    """The part of engine.runner.Recorder a learner uses, keeping records in memory: at the
    runner's checkpoints, or at every step with `every_step`."""

    def __init__(self, steps, every_step=False):
        self.checkpoints = np.arange(1, steps + 1) if every_step else record_steps(steps)
        self._checkpoint_set = set(self.checkpoints.tolist())
        self.records = {}

    def should_record(self, step):
        return step in self._checkpoint_set

    def metrics(self, step, values):
        self.records.setdefault(step, {}).update(
            {name: value.detach().double().numpy().copy() for name, value in values.items()}
        )

    def progress(self, step):
        pass

    def series(self, name):
        """(steps, values [steps, seeds]) of one metric, at the steps that recorded it."""
        steps = sorted(t for t, values in self.records.items() if name in values)
        return np.array(steps), np.array([self.records[t][name] for t in steps])


def build(algorithm_id, seeds=1, seed=0, dtype=torch.float64, problem=None, **algorithm):
    """The problem and the learner from their ids and parameters."""
    alg_cls, prob_cls = registry.algorithm(algorithm_id), registry.problem(PROBLEM)
    problem_params = validate_params(prob_cls.params, problem or {}, "problem")
    algorithm_params = validate_params(alg_cls.params, algorithm, "algorithm")
    built = prob_cls(problem_params, seeds, CPU, dtype, seed)
    return alg_cls(algorithm_params, built, seeds, CPU, dtype, seed)


def run(
    algorithm_id,
    steps,
    seeds=1,
    seed=0,
    dtype=torch.float64,
    problem=None,
    every_step=False,
    **algorithm,
):
    """Build and run; return the learner (its accuracy matrix and per-task accuracy) and the records."""
    alg = build(algorithm_id, seeds, seed, dtype, problem, **algorithm)
    rec = MemoryRecorder(steps, every_step)
    alg.run(steps, rec)
    return alg, rec


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
