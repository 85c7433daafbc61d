"""Average accuracy and backward transfer from an accuracy matrix.

R[i, j] is the accuracy on task j of the network as it stands at the end of task i
(tasks counted from 0). With T tasks seen (Lopez-Paz & Ranzato, "Gradient Episodic
Memory for Continual Learning", 2017):

    ACC = (1/T) Σ_j R[T−1, j]                         (every task, scored at the end)
    BWT = 1/(T−1) Σ_{j<T−1} (R[T−1, j] − R[j, j])     (what later training did to task j)

BWT < 0 is forgetting; BWT > 0, later training improving earlier tasks.
"""

from __future__ import annotations

import torch


def average_accuracy(accuracy: torch.Tensor) -> torch.Tensor:
    """ACC of R [..., T, T] (only R[i, j] with j ≤ i is read); [...]."""
    return average_accuracy_of(accuracy[..., -1, :])


def backward_transfer(accuracy: torch.Tensor) -> torch.Tensor:
    """BWT of R [..., T, T], T ≥ 2 (only R[i, j] with j ≤ i is read); [...]."""
    return backward_transfer_of(accuracy[..., -1, :], accuracy.diagonal(dim1=-2, dim2=-1))


def average_accuracy_of(final_row: torch.Tensor) -> torch.Tensor:
    """ACC from the last row R[T−1, :] [..., T]; [...]."""
    return final_row.mean(-1)


def backward_transfer_of(final_row: torch.Tensor, diagonal: torch.Tensor) -> torch.Tensor:
    """BWT from the last row R[T−1, :] and the diagonal R[j, j], [..., T] each, T ≥ 2; [...]."""
    if final_row.shape[-1] < 2:
        raise ValueError("backward transfer needs at least two tasks")
    return (final_row[..., :-1] - diagonal[..., :-1]).mean(-1)


def least_squares_slope(values: torch.Tensor) -> torch.Tensor:
    """Slope of the least-squares line through (k, values[..., k]), k = 0..K−1, K ≥ 2; [...].
    On the online accuracy per task it is the trend over tasks: below zero, the learner
    loses plasticity."""
    count = values.shape[-1]
    if count < 2:
        raise ValueError("a slope needs at least two points")
    k = torch.arange(count, dtype=values.dtype, device=values.device)
    centred = k - k.mean()
    return (values * centred).sum(-1) / (centred * centred).sum()
