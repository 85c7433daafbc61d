"""Kernel-regression streams fixed by a test, shared by the kernel learners' tests."""

import torch

from engine.labs.online.kernel_stream import KernelRegressionStream, KernelStream
from tests.labs.online.recorder import CPU

T64 = torch.float64


def stream_params(dimension=1, bandwidth=1.0, noise=0.1):
    return {
        "dimension": dimension,
        "bandwidth": bandwidth,
        "centres": 8,
        "target_norm": 1.0,
        "noise": noise,
    }


class GivenStream(KernelRegressionStream):
    """A stream fixed by the test, the targets noiseless (no id: not registered)."""

    id = ""

    def __init__(self, xs, ys, bandwidth=1.0):
        super().__init__(stream_params(bandwidth=bandwidth), 1, CPU, T64, 0)
        x = torch.tensor(xs, dtype=T64).reshape(1, -1, 1)
        y = torch.tensor([ys], dtype=T64)
        self._stream = KernelStream(x, y, y)

    def stream(self, steps):
        return self._stream
