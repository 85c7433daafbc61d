"""The hypervolume of a closed-form Pareto front, from a dense sampling with a proven error bound.

The regression problems' front is the image of the preference simplex under
w -> L(theta_w), L_k(theta_w) = c_k + (w - e_k)^T M (w - e_k) (see `problems.py`), and
each L_k is a convex function of w. We cut the simplex into cells (the intervals of
the grid with step h = 1 / divisions for two tasks; its triangles for three) and
bracket the true hypervolume HV* by

    HV(samples)  <=  HV*  <=  HV(corners),

- lower: the samples L(v) at the grid vertices lie on the front, so they dominate no
  more than the front does;
- upper: on a cell C with vertex set V, convexity gives for every vertex v
  L_k(w) >= L_k(v) + grad L_k(v) . (w - v) for all w in C, and the right side, linear in
  w, is smallest at a vertex. So corner_k(C) = max_v [L_k(v) + min_u grad L_k(v) . (u - v)]
  is at most every L_k on C, and the corner point weakly dominates the whole patch of
  front that C maps to.

Both bounds converge at rate O(h). Default densities: 4000 divisions for two tasks
(4,001 samples, 4,000 corners) and 200 for three (20,301 samples, 40,000 corners),
a few hundredths of a second per seed. The relative width of the bracket,
(upper - lower) / lower (`hypervolume_gap`), is checked by the tests for the default
problems: below 1e-3 for two tasks and 1e-2 for three. Runs record the conservative
ratio HV / upper, which understates how close a run came to the front by at most that.
"""

from __future__ import annotations

import numpy as np

from engine.metrics import hypervolume

DEFAULT_DIVISIONS = {2: 4000, 3: 200}


def simplex_grid(tasks: int, divisions: int) -> np.ndarray:
    """All w with w_k = i_k / divisions, i_k >= 0 integers summing to divisions; [N, tasks].

    Two tasks: N = divisions + 1, task-1 weight increasing. Three tasks:
    N = (divisions + 1)(divisions + 2) / 2, in lexicographic order of (i_1, i_2).
    """
    if tasks == 2:
        i = np.arange(divisions + 1)
        return np.stack([i, divisions - i], axis=1) / divisions
    if tasks == 3:
        rows = [
            (i, j, divisions - i - j)
            for i in range(divisions + 1)
            for j in range(divisions + 1 - i)
        ]
        return np.asarray(rows, dtype=np.float64) / divisions
    raise ValueError(f"simplex grids are implemented for 2 or 3 tasks, not {tasks}")


def grid_cells(tasks: int, divisions: int) -> np.ndarray:
    """Vertex indices (into `simplex_grid`) of each cell: [divisions, 2] intervals for two tasks,
    [divisions^2, 3] triangles (upward and downward) for three."""
    if tasks == 2:
        i = np.arange(divisions)
        return np.stack([i, i + 1], axis=1)
    # Row i of the lexicographic grid starts at sum_{r < i} (divisions + 1 - r).
    i, j = np.meshgrid(np.arange(divisions + 1), np.arange(divisions + 1), indexing="ij")
    i, j = i.ravel(), j.ravel()
    start = i * (divisions + 1) - i * (i - 1) // 2

    def index(a, b):
        return a * (divisions + 1) - a * (a - 1) // 2 + b

    up = i + j <= divisions - 1
    down = i + j <= divisions - 2
    cells_up = np.stack([start[up] + j[up], index(i[up] + 1, j[up]), start[up] + j[up] + 1], axis=1)
    cells_down = np.stack(
        [index(i[down] + 1, j[down]), start[down] + j[down] + 1, index(i[down] + 1, j[down] + 1)],
        axis=1,
    )
    return np.concatenate([cells_up, cells_down]).astype(np.int64)


def front_corners(problem, divisions: int) -> tuple[np.ndarray, np.ndarray]:
    """(samples [seeds, N, K], corners [seeds, cells, K]) as defined in the module docstring.

    With P = M w (row n of `grid @ M`), the slope of L_k at v towards u is
    grad L_k(v) . (u - v) = 2 (u - v)^T M (v - e_k) = 2 [(u - v) . P_v - (P_u - P_v)_k].
    """
    grid = simplex_grid(problem.tasks, divisions)
    cells = grid_cells(problem.tasks, divisions)
    samples = problem.front_losses(grid)  # [seeds, N, K]
    products = np.einsum(
        "nj,sjk->snk", grid, problem.front_form.cpu().numpy()
    )  # P = M w [seeds, N, K]
    corners = np.full((samples.shape[0], len(cells), problem.tasks), -np.inf)
    for a in range(cells.shape[1]):
        v = cells[:, a]
        lowest = np.zeros_like(corners)
        for b in range(cells.shape[1]):
            if b == a:
                continue
            u = cells[:, b]
            along = np.einsum("ck,sck->sc", grid[u] - grid[v], products[:, v])
            slope = 2 * (along[:, :, None] - (products[:, u] - products[:, v]))
            lowest = np.minimum(lowest, slope)
        corners = np.maximum(corners, samples[:, v] + lowest)
    return samples, corners


def sampled_front_hypervolume(
    problem, reference_point, divisions: int
) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bounds on the hypervolume of each seed's true front; each [seeds]."""
    samples, corners = front_corners(problem, divisions)
    ref = np.asarray(reference_point, dtype=np.float64)
    lower = np.array([hypervolume(p, ref) for p in samples])
    upper = np.array([hypervolume(c, ref) for c in corners])
    return lower, upper


def hypervolume_gap(problem, reference_point, divisions: int | None = None) -> np.ndarray:
    """Relative width (upper - lower) / lower of the bracket on each seed's true hypervolume."""
    lower, upper = sampled_front_hypervolume(
        problem, reference_point, divisions or DEFAULT_DIVISIONS[problem.tasks]
    )
    return (upper - lower) / lower
