"""A stand-in for the runner's Recorder that keeps what an algorithm records."""

import numpy as np
import torch

CPU = torch.device("cpu")


class FakeRecorder:
    def __init__(self, checkpoints):
        self.checkpoints = np.asarray(checkpoints)
        self._at = set(self.checkpoints.tolist())
        self.values, self.bounds = {}, {}

    def should_record(self, t):
        return t in self._at

    def metrics(self, t, values):
        self.values[t] = {k: torch.as_tensor(v).clone() for k, v in values.items()}

    def bound(self, name, steps, values):
        self.bounds[name] = np.asarray(values, dtype=float)

    def progress(self, t):
        pass

    def series(self, name):
        """The metric at every checkpoint: [checkpoints, seeds]."""
        return torch.stack([self.values[t][name] for t in self.checkpoints.tolist()])


def run(alg_cls, prob_cls, alg_params, prob_params, seeds, checkpoints, seed=0, steps=None):
    """Build the problem and the algorithm as the runner does and run them to the last checkpoint."""
    torch.manual_seed(seed)
    problem = prob_cls(prob_params, seeds, CPU, torch.float64, seed)
    alg = alg_cls(alg_params, problem, seeds, CPU, torch.float64, seed)
    rec = FakeRecorder(checkpoints)
    alg.run(int(steps or max(checkpoints)), rec)
    return alg, problem, rec
