"""Exact k nearest database rows of query rows that are not in the database (the kNN classifier's search).

Why it exists: label prediction's kNN classifier searches each test fold (200k cells at 1M) among its
training cells (800k). faiss's flat search, used before, keeps a heap per query row and pushes every
one of the 200k x 800k distances through it: about 2.3 times the cost of their GEMM (657 s for one fold
at 1M on 2 cores). Here each row first gets a bound on its k-th distance from a strided sample of the
database, and the products are made and tested against it in registers by `tile_scan`'s compiled
loop; only the few candidates under the bound are kept.

It stays exact with the scheme of `symmetric` (whose margin it reuses): with float32 data centred at
the database mean and lo = (1 - g) |x|^2, one GEMM of [x, 1, lo_x] . [-2 y, lo_y, 1] gives S, and
|x - y|^2 lies in [S, S + 2 g (|x|^2 + |y|^2)]. The k-th smallest upper bound among the sample is at
least the true k-th distance, so every true neighbour is a candidate; among the candidates the ones
whose lower bound exceeds the k-th smallest upper bound are out, and the rest are ranked by their
distance recomputed in float64 as sum((x - y)^2) on the centred float64 data, then by index.
"""

from __future__ import annotations

import numpy as np

from cellbench.neighbors.blocks import block_ranges, map_blocks
from cellbench.neighbors.exact import EPS32, order_candidates, within_kth_upper
from cellbench.neighbors.row_bounds import float32_threshold

#: Query rows per block; database columns per tile (the scan's width, as `symmetric`'s tiles).
QUERY_ROWS = 512
TILE_COLUMNS = 4096
#: From this many database rows on, tiles are tested by the compiled scan (numba's compile time,
#: about 0.5 s once per process, is small against the search from there on).
SCAN_MIN_ROWS = 20_000
#: A block with more candidates than this many per row and neighbour is degenerate (masses of ties).
MAX_CANDIDATES_PER_K = 64


class TooManyCandidates(RuntimeError):
    """The bounds let through more than MAX_CANDIDATES_PER_K x k candidates a row (masses of near-ties)."""


class QueryKnn:
    """`block(start, stop)`: the k nearest database rows of queries start:stop, by (distance, index)."""

    def __init__(self, database: np.ndarray, queries: np.ndarray, k: int, scan: bool | None = None):
        n, d = database.shape
        if not 1 <= k <= n:
            raise ValueError(f"k={k} neighbours requested but the database has {n} rows")
        self.k, self.n = k, n
        mean = database.mean(axis=0)
        self.db = database - mean  # float64, the decision's distances
        self.q = queries - mean
        db32, q32 = self.db.astype(np.float32), self.q.astype(np.float32)
        self.sq_db = np.einsum("ij,ij->i", db32.astype(np.float64), db32.astype(np.float64))
        self.sq_q = np.einsum("ij,ij->i", q32.astype(np.float64), q32.astype(np.float64))
        self.gamma = (4 * d + 64) * EPS32
        lo_db = ((1 - self.gamma) * self.sq_db).astype(np.float32)[:, None]
        lo_q = ((1 - self.gamma) * self.sq_q).astype(np.float32)[:, None]
        self.left = np.hstack([q32, np.ones((len(q32), 1), np.float32), lo_q])
        right = np.hstack([-2.0 * db32, lo_db, np.ones((n, 1), np.float32)])  # -2 y is exact in float32
        self.right_t = np.ascontiguousarray(right.T)
        # the sample that bounds each row's k-th distance: its own products plus the upper-bound shift
        sample = int(min(n, max(2048, 8 * k, np.sqrt(64.0 * k * n))))
        stride = max(1, n // sample)
        self.sample_t = np.ascontiguousarray(right[::stride].T)
        self.sample_shift = (2 * self.gamma * self.sq_db[::stride]).astype(np.float32)
        if scan is None:
            scan = n >= SCAN_MIN_ROWS
        self.scanner = None
        if scan:
            from cellbench.neighbors.tile_scan import PANEL_COLS, TileScanner, pack_columns

            self.scanner = TileScanner(TILE_COLUMNS)
            self.no_columns = np.full(TILE_COLUMNS, -np.inf, np.float32)
            self.right_packed = None  # packed once where tiles start on whole panels, else tile by tile
            if TILE_COLUMNS % PANEL_COLS == 0:
                self.right_packed = pack_columns(right.T)  # the row-major operand packs panel by panel, in cache

    def _bounds(self, left: np.ndarray, sq_q: np.ndarray) -> np.ndarray:
        """Each row's float32 threshold on S: the k-th smallest upper bound among the sample, rounded up."""
        ub = left @ self.sample_t
        ub += self.sample_shift
        ub.partition(self.k - 1, axis=1)
        return float32_threshold(ub[:, self.k - 1].astype(np.float64) + 2 * self.gamma * sq_q)

    def _candidates(self, left: np.ndarray, bound: np.ndarray):
        """(row, column, S) of every product at most its row's bound, each row's columns ascending."""
        rows, cols, values = [], [], []
        for c0 in range(0, self.n, TILE_COLUMNS):
            c1 = min(self.n, c0 + TILE_COLUMNS)
            if self.scanner is not None:
                (r, j, v), _ = self.scanner.tile(left, self.right_t[:, c0:c1], bound, self.no_columns[: c1 - c0], c1 - c0,
                                                 col_offset=c0, packed_columns=self.right_packed)
                r = r.astype(np.int64)  # held as int16; row arithmetic below needs room
            else:
                S = left @ self.right_t[:, c0:c1]
                r, j = np.nonzero(S <= bound[:, None])
                v = S[r, j]
                j = j + c0
            rows.append(r)
            cols.append(j)
            values.append(v)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(values)

    def block(self, start: int, stop: int) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(start, stop, indices, squared distances): each row's k nearest by (distance, index)."""
        k, c = self.k, stop - start
        left, sq_q = self.left[start:stop], self.sq_q[start:stop]
        r, cols, lower = self._candidates(left, self._bounds(left, sq_q))
        if r.size > MAX_CANDIDATES_PER_K * c * (k + 16):
            raise TooManyCandidates(f"{r.size} candidates for {c} query rows")
        order = np.argsort(r, kind="stable")  # by row; the tiles' columns stay ascending
        r, cols, lower = r[order], cols[order].astype(np.int64), lower[order].astype(np.float64)
        upper = lower + 2 * self.gamma * (sq_q[r] + self.sq_db[cols])
        keep = within_kth_upper(r, lower, upper, c, k)
        r, cols = r[keep], cols[keep]
        diff = self.q[start + r] - self.db[cols]
        idx, d2 = order_candidates(r, cols, np.einsum("ij,ij->i", diff, diff), c, k, row_major=True)
        return start, stop, idx, d2


def query_knn(database: np.ndarray, queries: np.ndarray, k: int, workers: int | None = None):
    """(indices, squared distances), queries x k: the exact k nearest database rows of every query row,
    ordered by (distance, index); distances on the data centred at the database mean, in float64.
    Raises TooManyCandidates on masses of near-ties (the caller then searches another way)."""
    impl = QueryKnn(np.asarray(database, dtype=np.float64), np.asarray(queries, dtype=np.float64), k)
    idx = np.empty((len(queries), k), dtype=np.int64)
    d2 = np.empty((len(queries), k))
    for start, stop, i, d in map_blocks(impl.block, block_ranges(len(queries), QUERY_ROWS), workers):
        idx[start:stop], d2[start:stop] = i, d
    return idx, d2
