import itertools

import moocore
import numpy as np
import pytest

from engine.metrics import hypervolume

STAIRCASE = [[1, 3], [2, 2], [3, 1]]
# Hand value for STAIRCASE with ref (4,4): sweeping x ascending gives three
# disjoint rectangles [1,2]x[3,4] + [2,3]x[2,4] + [3,4]x[1,4]
# = 1*1 + 1*2 + 1*3 = 6.
STAIRCASE_HV = 6.0


def inclusion_exclusion_hv(points, ref):
    """Exact HV of minimisation points that all strictly dominate ``ref``:
    sum over non-empty subsets S of (-1)^(|S|+1) * volume(intersection of the
    boxes in S), the intersection being [max over S, ref]."""
    pts = np.asarray(points, dtype=float)
    ref = np.asarray(ref, dtype=float)
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(range(len(pts)), k):
            corner = pts[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(ref - corner)
    return total


def grid_count_hv(points, ref):
    """HV of integer points by counting unit cells: the cell with lower corner
    c (integer, c < ref) is covered iff some point p satisfies p <= c."""
    pts = np.asarray(points, dtype=int)
    ref = np.asarray(ref, dtype=int)
    lower = pts.min(axis=0)
    axes = [np.arange(lo, r) for lo, r in zip(lower, ref)]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(ref))
    covered = np.any(np.all(pts[None, :, :] <= cells[:, None, :], axis=2), axis=1)
    return float(covered.sum())


# --- two objectives: hand-computed values -------------------------------------


def test_staircase():
    assert hypervolume(STAIRCASE, [4, 4]) == pytest.approx(STAIRCASE_HV)


def test_single_point():
    # One box [1,4]x[2,6]: 3 * 4 = 12.
    assert hypervolume([[1, 2]], [4, 6]) == pytest.approx(12.0)


def test_dominated_points_add_nothing():
    # (3,3) lies inside the box of (2,2), (2,4) inside the box of (1,3): HV
    # stays the staircase value 6.
    pts = STAIRCASE + [[3, 3], [2, 3.5]]
    assert hypervolume(pts, [4, 4]) == pytest.approx(STAIRCASE_HV)


def test_duplicates_are_counted_once():
    # Copies enclose the same box, the union is unchanged: 6.
    pts = STAIRCASE + STAIRCASE + [[2, 2]]
    assert hypervolume(pts, [4, 4]) == pytest.approx(STAIRCASE_HV)


def test_points_on_or_beyond_reference_point_are_dropped():
    # (1,4) and (4,1) lie on the boundary (zero-area boxes); (5,0) and (0,5)
    # are outside in one objective; (6,6) outside in both. None adds area: 6.
    # (Were (0,5) not dropped, a careless sweep would let it extend the first
    # rectangle leftwards with a negative height.)
    pts = STAIRCASE + [[1, 4], [4, 1], [5, 0], [0, 5], [6, 6]]
    assert hypervolume(pts, [4, 4]) == pytest.approx(STAIRCASE_HV)


def test_all_points_outside_gives_zero():
    assert hypervolume([[4, 4], [5, 1], [1, 5]], [4, 4]) == 0.0


@pytest.mark.parametrize("points", [[], np.empty((0, 2))])
def test_empty_input_gives_zero(points):
    assert hypervolume(points, [4, 4]) == 0.0


def test_nan_rows_are_dropped():
    # A NaN row must neither crash nor count; remaining staircase: 6.
    pts = STAIRCASE + [[np.nan, 0.0], [0.0, np.nan]]
    assert hypervolume(pts, [4, 4]) == pytest.approx(STAIRCASE_HV)
    assert hypervolume([[np.nan, np.nan]], [4, 4]) == 0.0


def test_negative_infinity_gives_infinite_volume():
    # (-inf, 3) encloses [-inf,4]x[3,4], an unbounded box.
    assert hypervolume([[-np.inf, 3.0], [2, 2]], [4, 4]) == np.inf


def test_moocore_docstring_example_by_hand():
    # Points (5,5),(4,6),(2,7),(7,4), ref (10,10), minimised. Sweep x
    # ascending: (2,7): width 4-2=2, height 10-7=3 -> 6; (4,6): 1*4 = 4;
    # (5,5): 2*5 = 10; (7,4): 3*6 = 18. Total 38.
    dat = [[5, 5], [4, 6], [2, 7], [7, 4]]
    assert hypervolume(dat, [10, 10]) == pytest.approx(38.0)
    # Both maximised with ref (0,0): sweep x descending from 7: (7,4): 7*4=28;
    # (5,5) adds [0,5]x[4,5] = 5; (4,6) adds [0,4]x[5,6] = 4; (2,7) adds
    # [0,2]x[6,7] = 2. Total 39.
    assert hypervolume(dat, [0, 0], ["max", "max"]) == pytest.approx(39.0)


def test_mixed_directions_with_reference_below_maximised_objective():
    # Objectives (loss: min, accuracy: max), ref (loss 3, accuracy 0).
    # (1, 0.25) encloses [1,3]x[0,0.25] = 0.5; (2, 0.75) encloses
    # [2,3]x[0,0.75] = 0.75; overlap [2,3]x[0,0.25] = 0.25.
    # Union = 0.5 + 0.75 - 0.25 = 1.0.
    pts = [[1, 0.25], [2, 0.75]]
    assert hypervolume(pts, [3, 0], ["min", "max"]) == pytest.approx(1.0)
    # An accuracy at or below the reference (0.0, -0.1) encloses nothing: 1.0.
    more = pts + [[0.5, 0.0], [0.5, -0.1]]
    assert hypervolume(more, [3, 0], ["min", "max"]) == pytest.approx(1.0)
    # Same set with the accuracy column flipped by hand and minimised: 1.0.
    flipped = [[1, -0.25], [2, -0.75]]
    assert hypervolume(flipped, [3, 0]) == pytest.approx(1.0)


def test_one_objective():
    # Interval from the best value 1 to the reference 4: length 3.
    assert hypervolume([[2.0], [1.0], [5.0]], [4.0]) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "points, ref, directions, message",
    [
        (STAIRCASE, [4, np.nan], None, "finite"),
        (STAIRCASE, [4, np.inf], None, "finite"),
        (STAIRCASE, [4, 4, 4], None, "objectives"),
        (STAIRCASE, 4, None, "1-D"),
        (STAIRCASE, [4, 4], ["min"], "directions"),
        (STAIRCASE, [4, 4], ["min", "up"], "'min' or 'max'"),
    ],
)
def test_invalid_arguments(points, ref, directions, message):
    with pytest.raises(ValueError, match=message):
        hypervolume(points, ref, directions)


# --- two objectives: randomised comparison with independent methods ---------


@pytest.mark.parametrize("seed", range(10))
def test_2d_sweep_matches_inclusion_exclusion(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    pts = rng.random((n, 2))
    ref = np.array([1.0, 1.0])
    assert hypervolume(pts, ref) == pytest.approx(inclusion_exclusion_hv(pts, ref))


@pytest.mark.parametrize("seed", range(10))
def test_2d_sweep_matches_grid_count_with_ties_and_outside_points(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 25))
    # Integer coordinates in [0, 8] with ref (6,6): many ties, duplicates, and
    # points on or beyond the reference boundary.
    pts = rng.integers(0, 9, size=(n, 2))
    ref = [6, 6]
    inside = pts[np.all(pts < ref, axis=1)]
    expected = grid_count_hv(inside, ref) if len(inside) else 0.0
    assert hypervolume(pts, ref) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(5))
def test_2d_sweep_matches_moocore(seed):
    rng = np.random.default_rng(200 + seed)
    pts = rng.random((500, 2))
    ref = [0.9, 0.95]
    inside = pts[np.all(pts < ref, axis=1)]
    assert hypervolume(pts, ref) == pytest.approx(moocore.hypervolume(inside, ref=ref))


# --- three or more objectives -----------------------------------------------


def test_3d_single_box():
    # Box [1,2]x[1,3]x[1,4]: 1 * 2 * 3 = 6.
    pts = [[1, 1, 1]]
    ref = [2, 3, 4]
    assert hypervolume(pts, ref) == pytest.approx(6.0)
    assert moocore.hypervolume(np.array(pts, float), ref=ref) == pytest.approx(6.0)


def test_3d_two_overlapping_boxes():
    # A = [1,3]^3 has volume 8; B = [2,3]x[0,3]x[2,3] has volume 1*3*1 = 3;
    # A n B = [2,3]x[1,3]x[2,3] has volume 1*2*1 = 2. Union = 8 + 3 - 2 = 9.
    pts = [[1, 1, 1], [2, 0, 2]]
    ref = [3, 3, 3]
    assert hypervolume(pts, ref) == pytest.approx(9.0)
    assert moocore.hypervolume(np.array(pts, float), ref=ref) == pytest.approx(9.0)


def test_3d_filters_nan_duplicates_and_outside_points():
    # Same two boxes as above (union 9); the duplicate, the NaN row, the point
    # on the boundary (z = 3) and the point outside (x = 4) add nothing.
    pts = [[1, 1, 1], [2, 0, 2], [1, 1, 1], [np.nan, 0, 0], [0, 0, 3], [4, 0, 0]]
    assert hypervolume(pts, [3, 3, 3]) == pytest.approx(9.0)


def test_3d_mixed_directions():
    # Maximise the 3rd objective with ref 0: (1,1,-1) after negation, ref
    # (2,3,0): box 1 * 2 * 1 = 2.
    assert hypervolume([[1, 1, 1]], [2, 3, 0], ["min", "min", "max"]) == pytest.approx(2.0)


def test_4d_single_box_and_empty():
    # Box [0,1]x[0,2]x[0,3]x[0,4]: 1*2*3*4 = 24.
    assert hypervolume([[0, 0, 0, 0]], [1, 2, 3, 4]) == pytest.approx(24.0)
    assert hypervolume(np.empty((0, 4)), [1, 2, 3, 4]) == 0.0


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_nd_matches_inclusion_exclusion_and_grid(d, seed):
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(1, 8))
    pts = rng.random((n, d))
    ref = np.ones(d)
    assert hypervolume(pts, ref) == pytest.approx(inclusion_exclusion_hv(pts, ref))

    int_pts = rng.integers(0, 5, size=(n, d))
    int_ref = [5] * d
    assert hypervolume(int_pts, int_ref) == pytest.approx(grid_count_hv(int_pts, int_ref))
