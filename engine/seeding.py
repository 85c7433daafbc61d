"""Seeded torch generators, one independent stream per purpose.

A problem draws from stream PROBLEM_STREAM and an algorithm from ALGORITHM_STREAM, so
two algorithms run with the same base seed see exactly the same problem draws (common
random numbers) and their difference is paired.
"""

from __future__ import annotations

PROBLEM_STREAM = 1
ALGORITHM_STREAM = 2


def generator(device, seed: int, stream: int):
    import torch

    g = torch.Generator(device=device)
    # Distinct streams for distinct purposes; the mix keeps nearby seeds apart.
    g.manual_seed((seed * 0x9E3779B1 + stream * 0x85EBCA77) % (2**63 - 1))
    return g
