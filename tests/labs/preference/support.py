"""Building and running preference algorithms in memory, in float64 on the CPU."""

import numpy as np
import torch

from engine import registry
from engine.params import validate_params
from engine.runner import record_steps

CPU = torch.device("cpu")


class MemoryRecorder:
    """The part of engine.runner.Recorder an algorithm uses, keeping records in memory:
    at the runner's checkpoints, or at every step with `every_step`."""

    def __init__(self, steps, every_step=False):
        self.checkpoints = np.arange(1, steps + 1) if every_step else record_steps(steps)
        self._checkpoint_set = set(self.checkpoints.tolist())
        self.records = {}

    def should_record(self, step):
        return step in self._checkpoint_set

    def metrics(self, step, values):
        self.records[step] = {name: value.detach().numpy().copy() for name, value in values.items()}

    def progress(self, step):
        pass

    def series(self, name, seed=0):
        """(steps, values) of one metric for one seed."""
        steps = sorted(self.records)
        return np.array(steps), np.array([self.records[t][name][seed] for t in steps])


def build(
    algorithm_id, problem_id="preference.tabular_bt", seeds=1, seed=0, problem=None, **algorithm
):
    """The problem and the algorithm from their ids and parameters, in float64."""
    alg_cls, prob_cls = registry.algorithm(algorithm_id), registry.problem(problem_id)
    problem_params = validate_params(prob_cls.params, problem or {}, "problem")
    algorithm_params = validate_params(alg_cls.params, algorithm, "algorithm")
    built_problem = prob_cls(problem_params, seeds, CPU, torch.float64, seed)
    return alg_cls(algorithm_params, built_problem, seeds, CPU, torch.float64, seed)


def run(
    algorithm_id,
    steps,
    problem_id="preference.tabular_bt",
    seeds=1,
    seed=0,
    problem=None,
    every_step=False,
    **algorithm,
):
    """Build and run; return the algorithm (its final policy) and the records."""
    alg = build(algorithm_id, problem_id, seeds, seed, problem, **algorithm)
    rec = MemoryRecorder(steps, every_step)
    alg.run(steps, rec)
    return alg, rec


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def kl_regularised_optimum(reference, rewards, beta):
    """π*(y) = π_ref(y) exp(r_y / β) / Z  (the DPO paper, Eq. 4)."""
    weights = np.asarray(reference, dtype=float) * np.exp(np.asarray(rewards, dtype=float) / beta)
    return weights / weights.sum()
