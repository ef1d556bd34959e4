"""The exact search by streamed row blocks (`ExactKnn`) and the candidate helpers it shares.

Why it exists: any block of query rows can be searched against all cells with memory per block,
exact to the last bit: candidates come from a float32 GEMM with a proven error margin, the
distances that decide are recomputed as sum((x - y)^2) in float64 and ranked by (distance,
index). It serves a subset of query cells (`knn_subset`, the sampled entropy) and the all-cells
search where `cellbench.neighbors.symmetric`'s held candidates would not fit; `symmetric` reuses
its margin (`EPS32`) and `padded`. `stream_rows` is the one block-size formula of this search.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cellbench.neighbors.blocks import (
    DEFAULT_BLOCK_BYTES,
    as_float64,
    block_ranges,
    map_blocks,
    rows_per_block,
)

#: Columns per GEMM tile in the exact search: (rows x tile) float32 stays in cache.
COLUMN_TILE = 4096

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)


def check_k(n: int, k: int, include_self: bool) -> None:
    """Raise ValueError unless 1 <= k <= the cells available as neighbours."""
    available = n if include_self else n - 1
    if not 1 <= k <= available:
        raise ValueError(f"k={k} neighbours requested but only {available} cells are available")


def stream_rows(n: int, k: int, d: int, block_bytes: int) -> int:
    """Query rows per `ExactKnn` block for n cells of d dimensions, within `block_bytes`.

    Per entry: the float32 block and the boolean mask; the candidates are a few per row, (k + 16)
    of them held in float64 with their temporaries.
    """
    step = rows_per_block(n, block_bytes, 4 + 1)
    return min(step, max(16, (block_bytes // max(1, (k + 16) * d * 8 * 4)) // 16 * 16))


def _mask_nonzero(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """np.nonzero of a boolean (rows, padded) mask, scanning it as 8-byte words (8x fewer elements)."""
    rows, padded = mask.shape
    words = mask.view(np.uint64)
    r, w = np.nonzero(words)
    inner_r, inner_b = np.nonzero(mask.reshape(rows, padded // 8, 8)[r, w])
    cols = w[inner_r] * 8 + inner_b
    keep = cols < width
    return r[inner_r][keep], cols[keep]


def padded(rows: np.ndarray, values: np.ndarray, n_rows: int, fill) -> tuple[np.ndarray, np.ndarray]:
    """Row-grouped (rows sorted) values as a (n_rows, max count) array padded with `fill`; also positions."""
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.zeros(n_rows, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    pos = np.arange(rows.size) - starts[rows]
    out = np.full((n_rows, max(1, int(counts.max(initial=0)))), fill, dtype=values.dtype)
    out[rows, pos] = values
    return out, pos


def order_candidates(rows, cols, d2, n_rows: int, k: int, row_major: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """From candidate (row, col, d2) with >= k per row: the k smallest of each row by (d2, col).
    `row_major`: the candidates already come by row, columns ascending (the sort is skipped)."""
    if not row_major:
        order = np.lexsort((cols, rows))
        rows, cols, d2 = rows[order], cols[order], d2[order]
    d2_pad, pos = padded(rows, d2, n_rows, np.inf)
    col_pad = np.zeros(d2_pad.shape, dtype=np.int64)
    col_pad[rows, pos] = cols
    best = np.argsort(d2_pad, axis=1, kind="stable")[:, :k]  # stable: ties keep column order
    return np.take_along_axis(col_pad, best, axis=1), np.take_along_axis(d2_pad, best, axis=1)


def within_kth_upper(rows, lower, upper, n_rows: int, k: int) -> np.ndarray:
    """Which candidates (rows sorted) may be among their row's k nearest: those whose lower bound is at
    most the row's k-th smallest upper bound (above it, k others are surely closer)."""
    up_pad, _ = padded(rows, upper, n_rows, np.inf)
    kth_upper = np.partition(up_pad, k - 1, axis=1)[:, k - 1]
    return lower <= kth_upper[rows]


class ExactKnn:
    """Exact kNN by blocks: float32 GEMM candidates within a rounding-error margin, float64 check.

    Any block of query rows against all cells, so memory stays per block: used for a sample of
    query cells (`knn_subset`) and where `cellbench.neighbors.symmetric`'s held candidates would not
    fit; the all-cells search is otherwise that module's (half the products).

    With A_ij = -2 x_i.y_j + |y_j|^2 from one float32 GEMM on centred data, the true squared
    distance minus |x_i|^2 lies within +-g (|x_i|^2 + |y_j|^2) of A_ij (g bounds input rounding,
    the d-term dot product and the additions, with a factor 2 to spare). A strided sample of the
    columns gives an upper bound of each row's k-th smallest upper bound; every column whose lower
    bound is below it is a candidate; the k-th smallest upper bound among candidates tightens the
    cut. The survivors are recomputed exactly as sum((x - y)^2) in float64 and sorted; when only
    the neighbour set is wanted, only survivors whose interval overlaps the k-th boundary are.
    """

    def __init__(self, X: np.ndarray, k: int, include_self: bool, return_distance: bool = True):
        self.X = X
        self.k = k
        self.include_self = include_self
        self.return_distance = return_distance
        self.n, self.d = X.shape
        self.centred = X - X.mean(axis=0)
        c32 = self.centred.astype(np.float32)
        self.c32 = c32
        self.m2 = -2.0 * c32  # exact scaling
        sq = np.einsum("ij,ij->i", c32.astype(np.float64), c32.astype(np.float64))
        self.sq = sq
        self.gamma = (4 * self.d + 64) * EPS32
        self.col_lo = ((1 - self.gamma) * sq).astype(np.float32)
        self.col_hi = ((1 + self.gamma) * sq).astype(np.float32)
        self.col_gap = (self.col_hi.astype(np.float64) - self.col_lo).astype(np.float32)
        # the column terms ride in the GEMM: [x, 1] . [-2 y, lo_y] = -2 x.y + lo_y (one more product
        # in a (d + 1)-term dot product, inside the margin g), so no full pass adds them afterwards
        self.left = np.hstack([c32, np.ones((self.n, 1), np.float32)])
        self.right_lo = np.ascontiguousarray(np.hstack([self.m2, self.col_lo[:, None]]))
        self.slack = 2 * self.gamma * sq
        # sample size balancing the sample's partition against the candidates it lets through
        sample = int(min(self.n, max(2048, 8 * k, np.sqrt(64.0 * k * self.n))))
        stride = max(1, self.n // sample)
        self.stride = stride if -(-self.n // stride) >= k else 1
        self.right_hi_sample = np.ascontiguousarray(
            np.hstack([self.m2[:: self.stride], self.col_hi[:: self.stride, None]])
        )
        self.width8 = -(-self.n // 8) * 8

    def block(self, start: int, stop: int) -> tuple[int, int, np.ndarray, np.ndarray | None]:
        found = self._candidates32(start, stop)
        if found is None:  # degenerate block (masses of near-ties): plain float64 selection
            r, cols = self._candidates64(start, stop)
            idx, d2 = self._exact(start, stop - start, r, cols)
        elif self.return_distance:
            idx, d2 = self._exact(start, stop - start, found[0], found[1])
        else:
            return start, stop, self._exact_set(start, stop - start, *found), None
        dist = np.sqrt(d2)
        if self.include_self:
            dist[:, 0] = 0.0
        return start, stop, idx, dist

    def max_candidates(self, rows: int) -> int:
        """Candidates a block of `rows` may hold before it falls back to the plain float64 selection
        (masses of near-ties, where the float32 cut lets through most columns)."""
        return 64 * rows * (self.k + 16)

    def _self_value(self):
        return -np.inf if self.include_self else np.inf

    def _candidates32(self, start: int, stop: int):
        """Survivors (rows, cols) and their bounds (lower, upper) on d2 - |x_i|^2, or None."""
        k, c = self.k, stop - start
        r, cols = self._below_cut(start, stop)
        if r.size > self.max_candidates(c):
            return None
        # 3. tighten: k-th smallest upper bound among the candidates; their lower bounds evaluated
        # again as float32 (d + 1)-term dot products, within the same margin as the GEMM's value
        low = np.einsum("ij,ij->i", self.left[start + r], self.right_lo[cols])
        upper = low + self.col_gap[cols]
        is_self = cols == start + r
        upper[is_self] = self._self_value()
        upper_pad, _ = padded(r, upper, c, np.float32(np.inf))
        upper_pad.partition(k - 1, axis=1)
        kth = upper_pad[:, k - 1].astype(np.float64) + self.slack[start:stop]
        keep = (low <= kth[r].astype(np.float32)) | is_self
        if not self.include_self:
            keep &= ~is_self
        return self._bounds64(start, r[keep], cols[keep], low[keep], upper[keep])

    def _bounds64(self, start: int, r, cols, low, upper):
        """The survivors with their float64 bounds on d2 - |x_i|^2: each float32 bound widened by half the
        row's slack (the rounding of the float32 value), the cell itself first when it is included."""
        half = 0.5 * self.slack[start + r]
        lower_b = low.astype(np.float64) - half
        upper_b = upper.astype(np.float64) + half
        if self.include_self:
            lower_b[cols == start + r] = -np.inf
        return r, cols, lower_b, upper_b

    def _below_cut(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps 1 and 2 of the search: every (row, column) whose float32 lower bound is at most the
        row's cut, row-major; the cell itself in or out as include_self says."""
        k, c, n, stride = self.k, stop - start, self.n, self.stride
        rows = np.arange(c)
        selfcol = rows + start
        left = self.left[start:stop]
        # 1. upper bound of the k-th smallest from a strided column sample (its own small GEMM)
        sub = left @ self.right_hi_sample.T  # -2 x.y + hi_y on the sampled columns
        on_grid = selfcol % stride == 0
        sub[rows[on_grid], selfcol[on_grid] // stride] = self._self_value()
        sub.partition(k - 1, axis=1)  # in place (a temporary): no second (rows x sample) array
        cut = sub[:, k - 1].astype(np.float64) + self.slack[start:stop]
        # 2. candidates: lower bound (-2 x.y + lo_y, from the GEMM) below the cut, computed in column
        # tiles that stay in cache. Beats one (c, n) GEMM followed by full passes over it (add the
        # column term, compare) by ~2x at 100k x 64 (memory traffic, not flops, was the cost).
        cut32 = cut[:, None].astype(np.float32)
        mask = np.zeros((c, self.width8), dtype=bool)
        buf = np.empty((c, COLUMN_TILE), dtype=np.float32)
        for j0 in range(0, n, COLUMN_TILE):
            j1 = min(n, j0 + COLUMN_TILE)
            tile = buf[:, : j1 - j0]
            np.matmul(left, self.right_lo[j0:j1].T, out=tile)
            np.less_equal(tile, cut32, out=mask[:, j0:j1])
        mask[rows, selfcol] = self.include_self
        return _mask_nonzero(mask, n)

    def _candidates64(self, start: int, stop: int):
        k, c = self.k, stop - start
        rows = np.arange(c)
        A = self.centred[start:stop] @ self.centred.T
        A *= -2
        A += self.sq[None, :]
        A[rows, rows + start] = self._self_value()
        kth = np.partition(A, k - 1, axis=1)[:, k - 1]
        gamma = (4 * self.d + 64) * EPS64
        margin = 2 * gamma * (self.sq[start:stop, None] + self.sq[None, :])
        return np.nonzero(A - margin <= kth[:, None] + 2 * gamma * self.sq[start:stop, None])

    def _exact_d2(self, start: int, r: np.ndarray, cols: np.ndarray) -> np.ndarray:
        diff = self.X[start + r] - self.X[cols]
        d2 = np.einsum("ij,ij->i", diff, diff)
        d2[cols == start + r] = -1.0 if self.include_self else np.inf  # the cell itself first
        return d2

    def _exact(self, start: int, c: int, r: np.ndarray, cols: np.ndarray):
        idx, d2 = order_candidates(r, cols, self._exact_d2(start, r, cols), c, self.k)
        return idx, np.maximum(d2, 0.0)

    def _exact_set(self, start, c, r, cols, lower, upper) -> np.ndarray:
        """The k nearest as a set (ascending index), computing exact distances only where bounds overlap."""
        k = self.k
        low_pad, pos = padded(r, lower, c, np.inf)
        up_pad, _ = padded(r, upper, c, np.inf)
        # j is surely in if fewer than k others may be closer; surely out if k others surely are
        below = (low_pad[:, None, :] < up_pad[:, :, None]).sum(axis=2) - (low_pad < up_pad)
        beaten = (up_pad[:, None, :] < low_pad[:, :, None]).sum(axis=2)
        valid = np.isfinite(up_pad) | (low_pad == -np.inf)
        sure_in = valid & (below <= k - 1)
        unsure = valid & ~sure_in & (beaten < k)
        col_pad = np.full(low_pad.shape, -1, dtype=np.int64)
        col_pad[r, pos] = cols
        d2 = np.full(low_pad.shape, np.inf)
        ur, upos = np.nonzero(unsure)
        d2[ur, upos] = self._exact_d2(start, ur, col_pad[ur, upos])
        d2[sure_in] = -np.inf  # taken first
        best = np.lexsort((col_pad, d2), axis=1)[:, :k]
        return np.sort(np.take_along_axis(col_pad, best, axis=1), axis=1)


def knn_subset(
    X,
    k: int,
    rows,
    *,
    include_self: bool = True,
    return_distance: bool = True,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    workers: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """The exact k nearest neighbours of the cells `rows` (distinct indices) among all rows of X.

    For sampled metrics: the cost is len(rows) x n, not n x n. Yields (start, stop, indices,
    distances) for consecutive blocks of positions in `rows`; indices are rows of X. The search
    runs on X with `rows` moved first, so equidistant cells are ordered by their position there
    (`rows`, then the other cells ascending). Without distances each row's set is in ascending
    index order. `workers` threads (default: the BLAS thread limit) never change the result.
    """
    X = as_float64(X)
    n = X.shape[0]
    check_k(n, k, include_self)
    rows = np.asarray(rows)
    rest = np.setdiff1d(np.arange(n), rows, assume_unique=True)
    perm = np.concatenate([rows, rest])  # the query cells first: their rows are the first blocks
    impl = ExactKnn(X[perm], k, include_self, return_distance)
    ranges = block_ranges(rows.size, stream_rows(n, k, X.shape[1], block_bytes))
    for start, stop, idx, dist in map_blocks(impl.block, ranges, workers):
        idx = perm[idx]
        yield start, stop, idx if return_distance else np.sort(idx, axis=1), dist
