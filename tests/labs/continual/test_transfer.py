"""Average accuracy, backward transfer and the trend over tasks on hand-made numbers."""

import math

import pytest
import torch

from engine.labs.continual.transfer import average_accuracy, backward_transfer, least_squares_slope

NAN = math.nan
# R[i, j]: accuracy on task j after task i. Entries above the diagonal of earlier rows are
# never read (NaN here: reading one would show).
R = [[0.9, NAN, NAN], [0.3, 0.8, NAN], [0.2, 0.4, 0.7]]
R2 = [[0.5, NAN, NAN], [0.6, 0.5, NAN], [0.7, 0.6, 0.5]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_average_accuracy_and_backward_transfer_on_hand_matrices(dtype):
    """ACC = mean of the last row; BWT = mean over j < T−1 of R[T−1, j] − R[j, j]:
    forgetting  ACC = (0.2 + 0.4 + 0.7)/3 = 0.43333, BWT = ((0.2 − 0.9) + (0.4 − 0.8))/2 = −0.55;
    improving   ACC = (0.7 + 0.6 + 0.5)/3 = 0.6,     BWT = ((0.7 − 0.5) + (0.6 − 0.5))/2 = 0.15.
    Both matrices at once: leading dimensions (seeds) are kept apart."""
    accuracy = torch.tensor([R, R2], dtype=dtype)
    torch.testing.assert_close(
        average_accuracy(accuracy), torch.tensor([1.3 / 3, 0.6], dtype=dtype)
    )
    torch.testing.assert_close(
        backward_transfer(accuracy), torch.tensor([-0.55, 0.15], dtype=dtype)
    )
    # after two tasks only: ACC = (0.3 + 0.8)/2, BWT = 0.3 − 0.9
    torch.testing.assert_close(
        average_accuracy(accuracy[0, :2, :2]), torch.tensor(0.55, dtype=dtype)
    )
    torch.testing.assert_close(
        backward_transfer(accuracy[0, :2, :2]), torch.tensor(-0.6, dtype=dtype)
    )


def test_backward_transfer_needs_two_tasks():
    with pytest.raises(ValueError, match="at least two tasks"):
        backward_transfer(torch.tensor([[0.9]]))


def test_trend_is_the_least_squares_slope():
    """Through (0, 0.5), (1, 0.6), (2, 0.4), (3, 0.8): k − mean k = [−1.5, −0.5, 0.5, 1.5],
    slope = Σ (k − k̄) v / Σ (k − k̄)² = 0.35 / 5 = 0.07; a falling line has its own slope."""
    values = torch.tensor([[0.5, 0.6, 0.4, 0.8], [0.9, 0.8, 0.7, 0.6]], dtype=torch.float64)
    torch.testing.assert_close(
        least_squares_slope(values), torch.tensor([0.07, -0.1], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="two points"):
        least_squares_slope(torch.tensor([0.5]))
