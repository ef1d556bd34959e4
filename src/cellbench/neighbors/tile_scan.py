"""One pass over a tile of float32 products that picks both sides' candidates (a compiled loop).

Why it exists: `symmetric.SymmetricExactKnn._tile` tests each tile of products twice with numpy
(against the rows' bounds, then against the columns' bounds), and each test writes a boolean mask
and runs `flatnonzero` over it: four passes over 2M entries, plus index arithmetic, about as long
as the tile's GEMM itself. Here the products are made 64 rows at a time into a buffer that stays
in cache, and a compiled loop reads each product once and writes only the few candidates (about
0.4 % of the entries): at 100k x 64 on 2 cores, a tile's GEMM and tests took 5.0 ms instead of
10 ms, and the whole search a quarter less time (benchmarks/scale_curve.py times it against the
bare GEMM).

The comparisons are those of the numpy tests and the candidates come out in the same order
(row-major: by row, then column). The products come from GEMM calls of another shape, whose float32
rounding may differ in the last bit; the search's proven margin covers any such rounding, so its
answer is the same either way (tests/test_neighbors.py runs every tile test both ways). numba
compiles the loop on first use (about 0.5 s, once per process), so the search takes this path only
from `symmetric.SCAN_MIN_CELLS` cells on.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

#: Candidates each thread's output arrays hold at first (they grow when a tile has more).
START_CAPACITY = 1 << 16


@functools.cache
def compiled():
    """The compiled scan, built once per process (a `TileScanner` asks for it on the caller's thread)."""
    import numba

    @numba.njit(nogil=True, cache=False, boundscheck=False)
    def scan(S, row_bound, col_bound, flags, words, row_i, row_j, col_i, col_j):  # pragma: no cover
        """Row candidates (S[i, j] <= row_bound[i]) into row_i/row_j, column candidates
        (S[i, j] <= col_bound[j]) into col_i/col_j, both in row-major order. Returns the two counts;
        a count above its arrays' length means they overflowed (the caller reruns with more room).

        Per row, a branch-free loop (vectorised by LLVM) writes one flag byte per entry (1: row
        side, 2: column side) into `flags`; `words` views those bytes 8 at a time, and only the few
        non-zero words are looked at one byte at a time.
        """
        m, w = S.shape
        n_words = (w + 7) // 8
        n_row = 0
        n_col = 0
        cap_row = row_i.shape[0]
        cap_col = col_i.shape[0]
        for i in range(m):
            bound = row_bound[i]
            for j in range(w):
                v = S[i, j]
                flags[j] = (v <= bound) | ((v <= col_bound[j]) << 1)
            for q in range(n_words):
                if words[q] == 0:
                    continue
                for j in range(8 * q, min(8 * q + 8, w)):
                    f = flags[j]
                    if f & 1:
                        if n_row < cap_row:
                            row_i[n_row] = i
                            row_j[n_row] = j
                        n_row += 1
                    if f & 2:
                        if n_col < cap_col:
                            col_i[n_col] = i
                            col_j[n_col] = j
                        n_col += 1
        return n_row, n_col

    return scan


#: Rows of products made and scanned at a time: 64 x 4096 float32 (1 MB) stay in cache between the
#: GEMM that writes them and the scan that reads them (whole 512 x 4096 tiles went to memory and
#: back: GEMM and scan together 7.5 ms a tile against 5.0 ms in 64-row pieces at 100k x 64).
PIECE_ROWS = 64


class TileScanner:
    """Products and candidates of one tile, 64 rows at a time, in per-thread buffers reused from
    tile to tile (a fresh 8 MB product array per tile also costs its page faults)."""

    def __init__(self, cols: int):
        self.cols = cols
        self._local = threading.local()
        self.scan = compiled()

    def _buffers(self):
        local = self._local
        if not hasattr(local, "products"):
            local.products = np.empty(PIECE_ROWS * self.cols, np.float32)
            local.out = np.empty((4, START_CAPACITY), np.int32)
            local.words = np.zeros(-(-self.cols // 8), np.uint64)
            local.flags = local.words.view(np.uint8)
        return local

    def tile(self, left: np.ndarray, right_t: np.ndarray, row_bound: np.ndarray, col_bound: np.ndarray, first: int):
        """Candidates of the products left @ right_t: ((i, j, S) of the row side, (i, j, S) of the
        column side from column `first` on), i and j int64 positions in the tile, row-major order."""
        local = self._buffers()
        w = right_t.shape[1]
        col_bound = col_bound.copy()
        col_bound[:first] = -np.inf  # no column-side candidates left of `first`
        row_parts, col_parts = [], []
        for a in range(0, left.shape[0], PIECE_ROWS):
            piece = left[a : a + PIECE_ROWS]
            S = local.products[: piece.shape[0] * w].reshape(piece.shape[0], w)  # C-contiguous
            np.matmul(piece, right_t, out=S)
            (r, j), (i, jc) = self._candidates(local, S, row_bound[a : a + PIECE_ROWS], col_bound)
            row_parts.append((r + a, j, S[r, j]))
            col_parts.append((i + a, jc, S[i, jc]))
        return tuple(tuple(np.concatenate(x) for x in zip(*parts)) for parts in (row_parts, col_parts))

    def _candidates(self, local, S: np.ndarray, row_bound: np.ndarray, col_bound: np.ndarray):
        """((i, j) of the row side, (i, j) of the column side), int64, row-major order."""
        while True:
            out = local.out
            n_row, n_col = self.scan(S, row_bound, col_bound, local.flags, local.words, out[0], out[1], out[2], out[3])
            if n_row <= out.shape[1] and n_col <= out.shape[1]:
                break
            local.out = np.empty((4, 2 * max(n_row, n_col)), np.int32)
        return (
            (out[0, :n_row].astype(np.int64), out[1, :n_row].astype(np.int64)),
            (out[2, :n_col].astype(np.int64), out[3, :n_col].astype(np.int64)),
        )
