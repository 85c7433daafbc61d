"""A stand-in for the runner's Recorder, and building a problem and an algorithm as the
runner does (parameters validated against their declarations)."""

import numpy as np
import torch

from engine.params import validate_params

CPU = torch.device("cpu")


class FakeRecorder:
    def __init__(self, checkpoints):
        self.checkpoints = np.asarray(checkpoints)
        self._at = set(self.checkpoints.tolist())
        self.values = {}

    def should_record(self, t):
        return t in self._at

    def metrics(self, t, values):
        self.values[t] = {k: torch.as_tensor(v).clone() for k, v in values.items()}

    def progress(self, t):
        pass

    def series(self, name):
        """The metric at every checkpoint: [checkpoints, seeds]."""
        return torch.stack([self.values[t][name] for t in self.checkpoints.tolist()])


def build(alg_cls, prob_cls, alg_params, prob_params, seeds, seed=0, dtype=torch.float64):
    problem = prob_cls(
        validate_params(prob_cls.params, prob_params, "problem"), seeds, CPU, dtype, seed
    )
    alg = alg_cls(
        validate_params(alg_cls.params, alg_params, "algorithm"), problem, seeds, CPU, dtype, seed
    )
    return alg, problem


def run(
    alg_cls, prob_cls, alg_params, prob_params, seeds, checkpoints, seed=0, dtype=torch.float64
):
    """Run to the last checkpoint; returns (algorithm, problem, recorder)."""
    torch.manual_seed(seed)
    alg, problem = build(alg_cls, prob_cls, alg_params, prob_params, seeds, seed, dtype)
    rec = FakeRecorder(checkpoints)
    alg.run(int(max(checkpoints)), rec)
    return alg, problem, rec
