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
(row-major: by row, then column), already as the search holds them (row in block int16, column
int32, product float32) and with the column side split by the block that owns each column: the
numpy steps that did that after the scan (int64 index arrays, a gather of the products, a sort by
owner and a split: about a third of the tile's time beyond its GEMM at k = 200) are gone, about
5-10 % of the search at 100k x 64 and k = 200 on 2 cores. The products come from GEMM calls of
another shape, whose float32 rounding may differ in the last bit; the search's proven margin covers
any such rounding, so its answer is the same either way (tests/test_neighbors.py runs every tile
test both ways). numba compiles the loop on first use (about 1 s) and keeps it on disk where it
can (`_jit`); the search takes this path only from `symmetric.SCAN_MIN_CELLS` cells on.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from cellbench.neighbors._jit import jit

#: Candidates each thread's output arrays hold at first (they grow when a tile has more).
START_CAPACITY = 1 << 16


@functools.cache
def compiled():
    """The compiled scan, built once per process (a `TileScanner` asks for it on the caller's thread)."""
    def scan(S, row_bound, col_bound, piece_row, row_offset, col_offset, owner_rows, flags, words,
             row_r, row_c, row_v, n_row, col_r, col_c, col_v, col_n):  # pragma: no cover
        """Candidates of one piece of products (rows piece_row.. of the tile), written as they are held.

        Row side (S[i, j] <= row_bound[i]): (tile row, col_offset + j, S) into row_r/row_c/row_v from
        position n_row on. Column side (S[i, j] <= col_bound[j]): to owner o = j // owner_rows, as
        (j - o * owner_rows, row_offset + tile row, S) into col_r[o]/col_c[o]/col_v[o] from col_n[o] on.
        Both in row-major order. Returns the new n_row and advances col_n; a count above its arrays'
        length means they overflowed (the caller restores the counts and reruns with more room).

        Per row, a branch-free loop (vectorised by LLVM) writes one flag byte per entry (1: row
        side, 2: column side) into `flags`; `words` views those bytes 8 at a time, and only the few
        non-zero words are looked at one byte at a time.
        """
        m, w = S.shape
        n_words = (w + 7) // 8
        cap_row = row_r.shape[0]
        cap_col = col_r.shape[1]
        for i in range(m):
            bound = row_bound[i]
            for j in range(w):
                v = S[i, j]
                flags[j] = (v <= bound) | ((v <= col_bound[j]) << 1)
            tile_row = piece_row + i
            for q in range(n_words):
                if words[q] == 0:
                    continue
                for j in range(8 * q, min(8 * q + 8, w)):
                    f = flags[j]
                    if f & 1:
                        if n_row < cap_row:
                            row_r[n_row] = tile_row
                            row_c[n_row] = col_offset + j
                            row_v[n_row] = S[i, j]
                        n_row += 1
                    if f & 2:
                        o = j // owner_rows
                        at = col_n[o]
                        if at < cap_col:
                            col_r[o, at] = j - o * owner_rows
                            col_c[o, at] = row_offset + tile_row
                            col_v[o, at] = S[i, j]
                        col_n[o] = at + 1
        return n_row

    return jit(scan)[0]


#: Rows of products made and scanned at a time: 64 x 4096 float32 (1 MB) stay in cache between the
#: GEMM that writes them and the scan that reads them (whole 512 x 4096 tiles went to memory and
#: back: GEMM and scan together 7.5 ms a tile against 5.0 ms in 64-row pieces at 100k x 64).
PIECE_ROWS = 64

#: A held candidate: (row in its block int16, column int32, product float32); blocks stay below 32768 rows.
HELD = (np.int16, np.int32, np.float32)


class TileScanner:
    """Products and candidates of one tile, 64 rows at a time, in per-thread buffers reused from
    tile to tile (a fresh 8 MB product array per tile also costs its page faults)."""

    def __init__(self, cols: int, owner_rows: int | None = None):
        self.cols = cols
        self.owner_rows = owner_rows or cols
        self.owners = -(-cols // self.owner_rows)
        self._local = threading.local()
        self.scan = compiled()

    def _buffers(self):
        local = self._local
        if not hasattr(local, "products"):
            local.products = np.empty(PIECE_ROWS * self.cols, np.float32)
            local.words = np.zeros(-(-self.cols // 8), np.uint64)
            local.flags = local.words.view(np.uint8)
            local.row = [np.empty(START_CAPACITY, t) for t in HELD]
            local.col = [np.empty((self.owners, START_CAPACITY), t) for t in HELD]
            local.col_n = np.zeros(self.owners, np.int64)
        return local

    def tile(self, left: np.ndarray, right_t: np.ndarray, row_bound: np.ndarray, col_bound: np.ndarray, first: int,
             row_offset: int = 0, col_offset: int = 0):
        """Candidates of the products left @ right_t (tile rows are rows row_offset.. of the search,
        tile columns its columns col_offset..; col_offset a multiple of owner_rows), as held pairs:
        the row side (tile row, column, S), and per owner block o of the columns from `first` on
        (columns col_offset + o * owner_rows ..) its column side (row in that block, row, S). Each in
        row-major order of the tile; arrays of dtypes HELD."""
        local = self._buffers()
        w = right_t.shape[1]
        col_bound = col_bound.copy()
        col_bound[:first] = -np.inf  # no column-side candidates left of `first`
        n_row = 0
        local.col_n[:] = 0
        for a in range(0, left.shape[0], PIECE_ROWS):
            piece = left[a : a + PIECE_ROWS]
            S = local.products[: piece.shape[0] * w].reshape(piece.shape[0], w)  # C-contiguous
            np.matmul(piece, right_t, out=S)
            n_row = self._scan_piece(local, S, row_bound[a : a + PIECE_ROWS], col_bound, a, row_offset, col_offset, n_row)
        row_side = tuple(x[:n_row].copy() for x in local.row)
        col_sides = [tuple(x[o, : local.col_n[o]].copy() for x in local.col) for o in range(-(-w // self.owner_rows))]
        return row_side, col_sides

    def _scan_piece(self, local, S, row_bound, col_bound, a, row_offset, col_offset, n_row) -> int:
        """Scan one piece into the held arrays from n_row and local.col_n on; grows them and rescans on overflow."""
        while True:
            before = local.col_n.copy()
            new = self.scan(S, row_bound, col_bound, a, row_offset, col_offset, self.owner_rows, local.flags,
                            local.words, *local.row, n_row, *local.col, local.col_n)
            need_col = int(local.col_n.max())
            row_cap, col_cap = local.row[0].shape[0], local.col[0].shape[1]
            if new <= row_cap and need_col <= col_cap:
                return new
            local.col_n[:] = before  # this piece's pairs are written again, into the grown arrays
            if new > row_cap:
                extra = max(new, 2 * row_cap) - row_cap
                local.row = [np.concatenate([x, np.empty(extra, x.dtype)]) for x in local.row]
            if need_col > col_cap:
                extra = max(need_col, 2 * col_cap) - col_cap
                local.col = [np.concatenate([x, np.empty((x.shape[0], extra), x.dtype)], axis=1) for x in local.col]
