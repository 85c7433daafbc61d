"""Numerical metrics for trade-off studies: Pareto fronts, hypervolume and
seed aggregation.

Numpy, and moocore (imported lazily) for the Pareto filter and for hypervolume in
>= 3 objectives; this package must not import torch or Qt, because the GUI uses it too.
"""

from engine.metrics.aggregate import seed_summary, t_quantile_975
from engine.metrics.hypervolume import hypervolume
from engine.metrics.pareto import non_dominated_mask, pareto_front, to_minimisation

__all__ = [
    "hypervolume",
    "non_dominated_mask",
    "pareto_front",
    "seed_summary",
    "t_quantile_975",
    "to_minimisation",
]
