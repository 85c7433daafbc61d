"""Running Lab 4's robust and private algorithms in memory on the CPU."""

import torch

from engine import registry
from engine.params import validate_params
from tests.labs.unlearning.unlearning_runs import MemoryRecorder

CPU = torch.device("cpu")


def build(
    algorithm_id, problem_id, seeds=3, seed=0, dtype=torch.float64, problem=None, **algorithm
):
    alg_cls, prob_cls = registry.algorithm(algorithm_id), registry.problem(problem_id)
    prob = prob_cls(
        validate_params(prob_cls.params, problem or {}, "problem"), seeds, CPU, dtype, seed
    )
    params = validate_params(alg_cls.params, algorithm, "algorithm")
    return alg_cls(params, prob, seeds, CPU, dtype, seed)


def run(algorithm_id, problem_id, steps, **kwargs):
    alg = build(algorithm_id, problem_id, **kwargs)
    rec = MemoryRecorder(steps)
    alg.run(steps, rec)
    return alg, rec
