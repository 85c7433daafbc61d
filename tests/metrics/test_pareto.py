import numpy as np
import pytest

from engine.metrics import non_dominated_mask, pareto_front, to_minimisation


def brute_force_mask(points, maximise=None):
    """Literal O(n^2) definition: row i is kept iff it has no NaN and no other
    NaN-free row j satisfies p_j <= p_i everywhere and p_j < p_i somewhere."""
    pts = np.array(points, dtype=float)
    if maximise is not None:
        pts[:, maximise] *= -1
    keep = []
    for i, p in enumerate(pts):
        if np.isnan(p).any():
            keep.append(False)
            continue
        dominated = False
        for j, q in enumerate(pts):
            if j == i or np.isnan(q).any():
                continue
            if np.all(q <= p) and np.any(q < p):
                dominated = True
                break
        keep.append(not dominated)
    return np.array(keep, dtype=bool)


def quadratic_mask(points, maximise=None):
    """The vectorised O(n^2 d) pairwise filter the engine used before moocore, kept here
    as an independent reference for sets too large for `brute_force_mask`."""
    pts = np.array(points, dtype=float)
    if maximise is not None:
        pts[:, maximise] *= -1
    valid = ~np.isnan(pts).any(axis=1)
    rows = pts[valid]
    dominated = np.zeros(len(rows), dtype=bool)
    block = max(1, (1 << 22) // max(1, rows.size))
    for start in range(0, len(rows), block):
        cand = rows[start : start + block, None, :]
        no_worse = np.all(rows[None] <= cand, axis=2)
        better = np.any(rows[None] < cand, axis=2)
        dominated[start : start + block] = np.any(no_worse & better, axis=1)
    mask = np.zeros(len(pts), dtype=bool)
    mask[valid] = ~dominated
    return mask


# --- to_minimisation -------------------------------------------------------


def test_to_minimisation_negates_only_maximised_columns_and_copies():
    pts = np.array([[1, 2, 3], [4, 5, 6]])  # integer input
    out = to_minimisation(pts, ["min", "max", "min"])
    # Column 1 negated by hand: 2 -> -2, 5 -> -5.
    np.testing.assert_array_equal(out, [[1.0, -2.0, 3.0], [4.0, -5.0, 6.0]])
    assert out.dtype == float
    out[0, 0] = 99
    assert pts[0, 0] == 1  # the input is untouched


@pytest.mark.parametrize(
    "points, directions, message",
    [
        ([[1, 2]], ["min"], "objectives"),  # too few directions
        ([[1, 2]], ["min", "max", "min"], "objectives"),  # too many
        ([[1, 2]], ["min", "maximise"], "'min' or 'max'"),
        ([[1, 2]], "min", "sequence"),  # a bare string is not per-objective
        ([1, 2], ["min", "min"], "2-D"),
        ([[[1, 2]]], ["min", "min"], "2-D"),
    ],
)
def test_to_minimisation_rejects_bad_input(points, directions, message):
    with pytest.raises(ValueError, match=message):
        to_minimisation(points, directions)


# --- non_dominated_mask: hand-computed cases ---------------------------------


def test_simple_front_with_dominated_points():
    # (3,3) is dominated by (2,2); (2,4) by (1,3) and (2,2); the staircase
    # (1,3), (2,2), (3,1) is mutually non-dominated.
    pts = [[1, 3], [3, 3], [2, 2], [2, 4], [3, 1]]
    np.testing.assert_array_equal(non_dominated_mask(pts), [True, False, True, False, True])


def test_exact_duplicates_are_all_kept():
    # Two copies of (1,2) do not dominate each other (no strict improvement);
    # both copies of the dominated (3,3) are removed by (1,2).
    pts = [[1, 2], [3, 3], [1, 2], [2, 1], [3, 3]]
    np.testing.assert_array_equal(non_dominated_mask(pts), [True, False, True, True, False])


def test_ties_in_first_objective():
    # Same x = 1: (1,2) beats (1,5) on y. (0,5) has smaller x than (1,5) and an
    # equal y, so it also dominates (1,5). (2,2) is dominated by (1,2): smaller
    # x, equal y. (2,1) survives: nothing has y <= 1.
    pts = [[1, 5], [1, 2], [0, 5], [2, 2], [2, 1]]
    np.testing.assert_array_equal(non_dominated_mask(pts), [False, True, True, False, True])


def test_ties_in_second_objective_only():
    # Equal y = 1, x 1 < 2: (1,1) weakly dominates (2,1).
    np.testing.assert_array_equal(non_dominated_mask([[2, 1], [1, 1]]), [False, True])


def test_nan_rows_are_never_on_front_and_dominate_nothing():
    # The NaN row would dominate (1,1) if its NaN were ignored; it must not.
    pts = [[1, 1], [0, np.nan], [np.nan, np.nan], [0.5, 2]]
    np.testing.assert_array_equal(non_dominated_mask(pts), [True, False, False, True])


def test_infinity_is_an_ordinary_value():
    # (-inf, 5) has the best x, so it is non-dominated; (inf, 0) has the best
    # y. (inf, 3) is dominated by (inf, 0) (equal x, smaller y); (1, inf) is
    # dominated by (-inf, 5).
    pts = [[-np.inf, 5], [np.inf, 0], [np.inf, 3], [1, np.inf], [2, 2]]
    np.testing.assert_array_equal(non_dominated_mask(pts), [True, True, False, False, True])


def test_all_infinite_duplicates_are_kept():
    # (inf, inf) twice and nothing else: neither strictly improves on the other.
    np.testing.assert_array_equal(
        non_dominated_mask([[np.inf, np.inf], [np.inf, np.inf]]), [True, True]
    )


def test_mixed_directions():
    # Objectives (loss: min, accuracy: max). (0.2, 0.9) beats (0.3, 0.8) on
    # both; (0.1, 0.5) has the lowest loss; (0.2, 0.7) is dominated by
    # (0.2, 0.9) (same loss, higher accuracy).
    pts = [[0.3, 0.8], [0.2, 0.9], [0.1, 0.5], [0.2, 0.7]]
    np.testing.assert_array_equal(
        non_dominated_mask(pts, ["min", "max"]), [False, True, True, False]
    )
    # Both maximised: the "best" corner flips, (0.3, 0.8) and (0.2, 0.9) survive
    # ((0.3,0.8) has the highest loss, (0.2,0.9) the highest accuracy).
    np.testing.assert_array_equal(
        non_dominated_mask(pts, ["max", "max"]), [True, True, False, False]
    )


def test_one_objective_keeps_all_minima():
    np.testing.assert_array_equal(
        non_dominated_mask([[3.0], [1.0], [np.nan], [1.0]]), [False, True, False, True]
    )


def test_three_objectives_hand_case():
    # (1,1,1) dominates (1,1,2) and (2,2,2); (0,5,5) and (5,0,5) trade off with
    # it; the duplicate (0,5,5) is kept; the NaN row is dropped.
    pts = [
        [1, 1, 1],
        [1, 1, 2],
        [2, 2, 2],
        [0, 5, 5],
        [5, 0, 5],
        [0, 5, 5],
        [0, 0, np.nan],
    ]
    np.testing.assert_array_equal(
        non_dominated_mask(pts), [True, False, False, True, True, True, False]
    )


@pytest.mark.parametrize("points", [[], np.empty((0, 2)), np.empty((0, 3))])
def test_empty_input(points):
    mask = non_dominated_mask(points)
    assert mask.shape == (0,)
    assert mask.dtype == bool


def test_all_nan_input():
    np.testing.assert_array_equal(
        non_dominated_mask([[np.nan, 1.0], [2.0, np.nan]]), [False, False]
    )


# --- non_dominated_mask: randomised comparison with the definition ----------


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(8))
def test_matches_brute_force_on_random_sets_with_ties(d, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    # A small integer range forces many ties and exact duplicates.
    pts = rng.integers(0, 5, size=(n, d)).astype(float)
    if n > 2:
        pts[rng.integers(0, n)] = pts[rng.integers(0, n)]  # explicit duplicate
        pts[rng.integers(0, n), rng.integers(0, d)] = np.nan
        pts[rng.integers(0, n), rng.integers(0, d)] = rng.choice([np.inf, -np.inf])
    maximise = rng.random(d) < 0.5
    directions = ["max" if m else "min" for m in maximise]

    np.testing.assert_array_equal(non_dominated_mask(pts), brute_force_mask(pts))
    np.testing.assert_array_equal(
        non_dominated_mask(pts, directions), brute_force_mask(pts, maximise)
    )


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("seed", range(3))
def test_matches_the_quadratic_filter_on_large_sets_with_ties_and_duplicates(d, seed):
    # Coarse values give many ties and exact copies (each front point appears several
    # times, and moocore's default would keep only its first copy); mixed directions; then
    # the same set with NaN and infinite entries (which moocore alone cannot take: -inf
    # crashes its three-objective sweep).
    rng = np.random.default_rng(100 + seed)
    pts = rng.integers(0, 12, size=(4000, d)).astype(float)
    pts = pts[pts.sum(axis=1) >= 5.5 * d]  # no ideal corner point: the front is a wide band
    pts = np.concatenate([pts, pts[quadratic_mask(pts)][:30], pts[rng.integers(0, len(pts), 200)]])
    pts = pts[rng.permutation(len(pts))]
    n = len(pts)
    maximise = np.arange(d) % 2 == 1
    directions = ["max" if m else "min" for m in maximise]
    for dirs, flags in ((None, None), (directions, maximise)):
        expected = quadratic_mask(pts, flags)
        mask = non_dominated_mask(pts, dirs)
        np.testing.assert_array_equal(mask, expected)
        front_rows = {tuple(r) for r in pts[expected]}
        assert mask.sum() > len(front_rows)  # duplicated front points: every copy kept

    odd = pts.copy()
    odd[rng.integers(0, n, 20), rng.integers(0, d, 20)] = np.nan
    odd[rng.integers(0, n, 10), rng.integers(0, d, 10)] = rng.choice([np.inf, -np.inf], 10)
    for dirs, flags in ((None, None), (directions, maximise)):
        np.testing.assert_array_equal(non_dominated_mask(odd, dirs), quadratic_mask(odd, flags))


def test_the_reference_filter_catches_a_wrong_convention():
    # Strict dominance (a <= b counted without "< somewhere") would drop every copy of a
    # duplicated point; keeping only the first copy (moocore's default) drops the second.
    pts = [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [2.0, 2.0, 3.0]]
    np.testing.assert_array_equal(quadratic_mask(pts), [True, True, False])
    np.testing.assert_array_equal(non_dominated_mask(pts), [True, True, False])


def test_no_objectives_keeps_every_row():
    np.testing.assert_array_equal(non_dominated_mask(np.empty((3, 0))), [True, True, True])


# --- pareto_front -------------------------------------------------------------


def test_pareto_front_sorted_by_first_objective():
    pts = [[3, 1], [1, 3], [3, 3], [2, 2]]
    front, idx = pareto_front(pts)
    # Non-dominated: rows 0, 1, 3 (row 2 is dominated by (2,2)); sorted by x.
    np.testing.assert_array_equal(front, [[1, 3], [2, 2], [3, 1]])
    np.testing.assert_array_equal(idx, [1, 3, 0])


def test_pareto_front_returns_original_values_for_maximised_objectives():
    # (loss: min, accuracy: max). Front: (0.1, 0.5) and (0.2, 0.9); rows keep
    # their original sign and are sorted by loss ascending.
    pts = [[0.2, 0.9], [0.3, 0.8], [0.1, 0.5]]
    front, idx = pareto_front(pts, ["min", "max"])
    np.testing.assert_array_equal(front, [[0.1, 0.5], [0.2, 0.9]])
    np.testing.assert_array_equal(idx, [2, 0])


def test_pareto_front_keeps_duplicates_and_empty_input():
    front, idx = pareto_front([[1, 1], [2, 2], [1, 1]])
    np.testing.assert_array_equal(front, [[1, 1], [1, 1]])
    np.testing.assert_array_equal(idx, [0, 2])

    front, idx = pareto_front(np.empty((0, 2)))
    assert front.shape == (0, 2)
    assert idx.shape == (0,)


def test_pareto_front_points_are_consistent_with_indices():
    rng = np.random.default_rng(7)
    pts = rng.random((200, 3))
    front, idx = pareto_front(pts)
    np.testing.assert_array_equal(front, pts[idx])
    assert np.all(np.diff(front[:, 0]) >= 0)
    assert len(idx) == non_dominated_mask(pts).sum()
