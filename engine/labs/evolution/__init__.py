"""Evolutionary algorithms: runtime to the optimum of bit-string benchmarks."""
