"""Running unlearning algorithms in memory on the CPU: a recorder that keeps what they emit."""

import numpy as np
import torch

from engine import registry
from engine.params import validate_params
from engine.runner import record_steps

CPU = torch.device("cpu")
PROBLEM = "unlearning.gaussian_blobs"
# A small problem that trains in about a second: 300 examples, 32 hidden units, 300 Adam steps.
SMALL = {"n_train": 300, "n_test": 500, "hidden": 32, "train_steps": 300}


class MemoryRecorder:
    """The part of engine.runner.Recorder an unlearning algorithm uses, kept in memory."""

    def __init__(self, steps):
        self.checkpoints = record_steps(steps)
        self.records, self.points = {}, {}
        self.declared = None

    def should_record(self, step):
        return step in set(self.checkpoints.tolist())

    def objectives(self, names, directions, reference_point):
        self.declared = (list(names), list(directions), list(reference_point))

    def metrics(self, step, values):
        self.records[step] = {
            k: np.asarray(torch.as_tensor(v).double()).copy() for k, v in values.items()
        }

    def pareto(self, step, points, seeds, labels):
        self.points[step] = (np.asarray(points, dtype=float), list(seeds), list(labels))

    def progress(self, step):
        pass

    def last(self, name):
        return self.records[max(self.records)][name]


def build(algorithm_id, seeds=3, seed=0, dtype=torch.float64, problem=None, **algorithm):
    alg_cls, prob_cls = registry.algorithm(algorithm_id), registry.problem(PROBLEM)
    problem_params = validate_params(prob_cls.params, {**SMALL, **(problem or {})}, "problem")
    prob = prob_cls(problem_params, seeds, CPU, dtype, seed)
    params = validate_params(alg_cls.params, algorithm, "algorithm")
    return alg_cls(params, prob, seeds, CPU, dtype, seed)


def run(algorithm_id, steps, **kwargs):
    alg = build(algorithm_id, **kwargs)
    rec = MemoryRecorder(steps)
    alg.run(steps, rec)
    return alg, rec
