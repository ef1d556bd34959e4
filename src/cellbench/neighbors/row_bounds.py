"""Each row's bound on its k-th smallest squared distance, from a search among nearby cells.

Why it exists: the symmetric search (`symmetric`) keeps, of every tile of products, only the entries
at most their row's or their column's bound, so each bound must be at least the row's true k-th
distance (every true neighbour below it) and should be as tight as a cheap search can make it:
the tighter it is, the fewer candidates the tiles write and the decision ranks.

How: cells are split into lists by a small seeded k-means on a sample (`kmeans_lists`; only speed
depends on it). Each list's cells are compared with the cells of the lists nearest to it, at least
max(BOUND_COLUMNS, per_k x k) of them (`row_bounds`); the k-th smallest upper bound of the
squared distance there is >= the true k-th distance, since the k nearest among any cells are no
nearer than the k nearest among all. The upper bound of a product S is S + 2 g (|x|^2 + |y|^2)
(`symmetric`'s margin, which covers any order of rounding). With the compiled loops the products
come from the register tiles (`tile_scan.all_products`, about 1.15-1.4x faster than BLAS's GEMM
here) and the k-th smallest from `block_decision.kth_per_row` (1.1 ns an element against numpy's
partition, 7.3).
"""

from __future__ import annotations

import numpy as np

#: Cells per k-means list, and the k-means' seed (fixed: only speed depends on it).
LIST_CELLS = 1024
LIST_SEED = 42
#: Each list's rows are bounded against at least max(BOUND_COLUMNS, per_k x k) nearby cells, per_k =
#: BOUND_PER_K up to LOOSE_BOUND_MAX_CELLS cells and TIGHT_BOUND_PER_K above: tighter bounds cost more
#: here and save in the tiles and the decision. Measured at k = 200 on the benchmark's data (row-side
#: candidates a row, all columns): 100k: 595 with 20 x k against 418 with 40 x k, and 20 x k 0.93x the
#: search in paired runs since the bit-mask scan made candidates cheap; 300k: 916 against 578, about
#: even; 1M: 2,297 against 1,341, so that 20 x k would hold about 5.7 GB of pairs at once, over
#: `symmetric.CANDIDATE_BYTES` (the search would fall back to row streaming), and cost more in the
#: decision than it saves in the bounds. The bound's nearby cells are a smaller share of all cells as
#: n grows. Smaller lists (512 or 256 cells) left 4-5 % fewer candidates at 100k and cost as much here.
BOUND_COLUMNS = 2048
BOUND_PER_K = 20
TIGHT_BOUND_PER_K = 40
LOOSE_BOUND_MAX_CELLS = 200_000
#: Rows of a list bounded at a time: their products with the nearby cells stay in cache for the
#: selection (64 rows: 1.30-1.32 s of one thread at 100k, k = 200; 256 rows: 1.37-1.47 s).
BOUND_ROWS = 64
#: Cells assigned to their nearest centroid at a time (the products stay in cache).
ASSIGN_ROWS = 4096


def float32_threshold(bound: np.ndarray) -> np.ndarray:
    """A float64 bound on squared distances as the float32 threshold on S: rounded up, and at least 0 so
    that a cell itself (S <= 0) is always a candidate, even for k = 1 with the cell itself included."""
    return np.nextafter(np.maximum(bound, 0.0).astype(np.float32), np.float32(np.inf))


def kmeans_lists(points: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(cells of each list, centroids): cells grouped by nearest centroid of a seeded 5-step k-means
    on a sample of n / LIST_CELLS x 64 cells."""
    n = points.shape[0]
    n_lists = max(1, n // LIST_CELLS)
    rng = np.random.default_rng(LIST_SEED)
    sample = points[np.sort(rng.choice(n, min(n, 64 * n_lists), replace=False))]
    centroids = sample[np.sort(rng.choice(len(sample), n_lists, replace=False))].copy()

    def nearest(cells):
        norms = np.einsum("ij,ij->i", centroids, centroids)
        scaled = -2.0 * centroids.T
        return np.concatenate([np.argmin(cells[s : s + ASSIGN_ROWS] @ scaled + norms, axis=1)
                               for s in range(0, len(cells), ASSIGN_ROWS)])

    for _ in range(5):
        assigned = nearest(sample)
        for c in np.unique(assigned):
            centroids[c] = sample[assigned == c].mean(axis=0)
    assigned = nearest(points)
    return [np.flatnonzero(assigned == c) for c in range(n_lists)], centroids


def _partition_kth(values: np.ndarray, k: int) -> np.ndarray:
    """The k-th smallest of each row by numpy (`block_decision.kth_per_row` gives the same, faster)."""
    values.partition(k - 1, axis=1)
    return values[:, k - 1]


def row_bounds(left: np.ndarray, right: np.ndarray, sq: np.ndarray, gamma: float, k: int, include_self: bool,
               compiled: bool, map_fn) -> np.ndarray:
    """Upper bound of each row's k-th smallest squared distance, as the float32 threshold on S.

    left, right: `symmetric`'s GEMM operands [c, 1, lo] and [-2 c, lo, 1] (n x (d + 2) float32); sq:
    |c|^2 in float64; compiled: make the products and selections by the compiled loops;
    map_fn(fn, items): runs fn(*item) for every item (on the search's threads) and yields as they end."""
    n, d = left.shape[0], left.shape[1] - 2
    lists, centroids = kmeans_lists(left[:, :d])
    sizes = np.array([len(m) for m in lists])
    # squared centroid distances by one product (the broadcast difference would hold lists^2 x d:
    # 240 MB at 1M cells); they only order the lists, so rounding changes speed, never the answer
    norms = np.einsum("ij,ij->i", centroids, centroids)
    between = norms[:, None] + norms[None, :] - 2.0 * (centroids @ centroids.T)
    per_k = BOUND_PER_K if n <= LOOSE_BOUND_MAX_CELLS else TIGHT_BOUND_PER_K
    want = min(n, max(BOUND_COLUMNS, per_k * k))
    shift = (2 * gamma * sq).astype(np.float32)
    bound = np.empty(n)
    kth_per_row = _partition_kth
    if compiled:
        from cellbench.neighbors.block_decision import kth_per_row
        from cellbench.neighbors.tile_scan import PANEL_COLS, all_products, pack_columns
    own_value = -np.inf if include_self else np.inf

    def one(c):
        rows = lists[c]
        if rows.size == 0:
            return
        order = np.argsort(between[c], kind="stable")
        order = np.concatenate([[c], order[order != c]])  # its own list first, whatever the ties
        take = order[: int(np.searchsorted(np.cumsum(sizes[order]), want)) + 1]
        cols = np.sort(np.concatenate([lists[o] for o in take]))
        near, col_shift = right[cols], shift[cols]
        if compiled:  # the register tiles' products: columns padded to whole panels, at +inf
            near = pack_columns(near.T)
            col_shift = np.concatenate([col_shift, np.full(-cols.size % PANEL_COLS, np.inf, np.float32)])
        pos = np.searchsorted(cols, rows)  # each list's rows are among its columns
        for s in range(0, rows.size, BOUND_ROWS):  # row chunks: the products stay in cache
            chunk = rows[s : s + BOUND_ROWS]
            ub = all_products(left[chunk], near, d + 2)[: chunk.size] if compiled else left[chunk] @ near.T
            ub += col_shift  # upper bound minus 2 g |x_i|^2
            ub[np.arange(chunk.size), pos[s : s + BOUND_ROWS]] = own_value
            bound[chunk] = kth_per_row(ub, k).astype(np.float64) + 2 * gamma * sq[chunk]

    for _ in map_fn(one, [(c,) for c in range(len(lists))]):
        pass
    return float32_threshold(bound)  # S <= d2 <= bound
