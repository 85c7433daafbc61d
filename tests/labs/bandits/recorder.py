"""What the bandit tests share: a recorder that keeps everything, and a runner for one spec."""

import numpy as np
import torch

CPU = torch.device("cpu")


class FakeRecorder:
    """Keeps what an algorithm records, at chosen checkpoints."""

    def __init__(self, checkpoints):
        self.checkpoints = np.asarray(checkpoints)
        self._at = set(self.checkpoints.tolist())
        self.values, self.bounds = {}, {}
        self.progress_calls = 0

    def should_record(self, t):
        return t in self._at

    def metrics(self, t, values):
        self.values[t] = {k: v.clone() for k, v in values.items()}

    def bound(self, name, steps, values):
        self.bounds[name] = np.asarray(values)

    def progress(self, t):
        self.progress_calls += 1

    def series(self, metric):
        """[checkpoints, seeds] array of one recorded metric."""
        return np.stack([self.values[t][metric].double().numpy() for t in sorted(self.values)])


def assert_close(got, want, atol=1e-9, rtol=1e-9):
    """Tensors equal within tolerance (numpy's check: torch.testing's first call costs seconds)."""
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=atol, rtol=rtol
    )


def run(
    alg_cls, params, problem_cls, problem_params, seeds, checkpoints, seed=0, dtype=torch.float64
):
    """Build the problem and the algorithm as the runner does and run to the last checkpoint."""
    torch.manual_seed(seed)
    problem = problem_cls(problem_params, seeds, CPU, dtype, seed)
    alg = alg_cls(params, problem, seeds, CPU, dtype, seed)
    rec = FakeRecorder(checkpoints)
    alg.run(int(max(checkpoints)), rec)
    return alg, problem, rec
