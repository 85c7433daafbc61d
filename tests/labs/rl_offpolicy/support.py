"""Building and running the off-policy algorithms in memory, on the CPU."""

import numpy as np
import torch

from engine import registry
from engine.params import validate_params

CPU = torch.device("cpu")


class MemoryRecorder:
    """The part of engine.runner.Recorder an algorithm uses, recording every step in memory."""

    def __init__(self):
        self.records = {}

    def should_record(self, step):
        return True

    def metrics(self, step, values):
        self.records[step] = {
            name: value.detach().double().numpy().copy() for name, value in values.items()
        }

    def progress(self, step):
        pass

    def series(self, name):
        """[steps, seeds] of one metric."""
        return np.stack([self.records[t][name] for t in sorted(self.records)])


def build_problem(problem_id, seeds=1, seed=0, dtype=torch.float64, **params):
    cls = registry.problem(problem_id)
    return cls(validate_params(cls.params, params, "problem"), seeds, CPU, dtype, seed)


def run(algorithm_id, problem, steps, seed=0, **params):
    """Run an algorithm on a built problem; return (algorithm, records)."""
    cls = registry.algorithm(algorithm_id)
    alg = cls(
        validate_params(cls.params, params, "algorithm"),
        problem,
        problem.seeds,
        CPU,
        problem.dtype,
        seed,
    )
    rec = MemoryRecorder()
    alg.run(steps, rec)
    return alg, rec
