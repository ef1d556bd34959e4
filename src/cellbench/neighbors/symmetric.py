"""Exact kNN of every cell among all cells from half the distance products (symmetric tiles).

Why it exists: the all-cells exact search is bound by the n x n float32 products. `exact.ExactKnn`
computes every product twice (row i against j, later row j against i) plus a sampled product to
bound each row's k-th distance. Here each tile of products is computed once and tested for both of
its sides, and each row's bound comes from a cheap search among nearby cells. Measured at 100k x 64
on the benchmark machine's 2 cores: k = 200 neighbour sets in 7.5 s instead of 21 s, k = 15 with
distances in 5.3 s instead of 10 s, the same neighbours. From SCAN_MIN_CELLS cells on, each tile's
products are made 6 x 16 at a time in registers and tested for both sides there (`tile_scan`'s
compiled loop, faster than BLAS's GEMM of the same products, which must write them all out);
benchmarks/scale_curve.py compares the search with that bare GEMM (the floor).
Tried and left out: cells sorted by k-means list leave no tile free of candidates on the
benchmark's Gaussian mixture, so no tile can be skipped; in the register tiles, sorted cells took
1.52 ns a product at k = 200 against 1.69 in one measurement, no more than this host's noise, and
ties, broken by index, would need the original indices carried into the decision. Cells taken in the order
of their bounds need one threshold test per tile instead of two; that was 10 % faster for k = 15, no
faster for k = 200, and took 60 % more memory, because the answer must be held to put it back in
order.

How it stays exact (the same float32-candidates / float64-decision scheme as `ExactKnn`):
- On centred float32 data with lo = (1 - g) |x|^2, one GEMM of [x, 1, lo_x] . [-2 y, lo_y, 1] gives
  S = -2 x.y + lo_x + lo_y, and |x - y|^2 lies in [S, S + 2 g (|x|^2 + |y|^2)]: g = (4 d + 64) eps32
  is at least twice the rounding of inputs, the (d + 2)-term dot product and the additions.
- Bound (`row_bounds`): each row's k-th smallest upper bound among the cells of nearby k-means
  lists, >= its true k-th distance: every true neighbour lies below it.
- Tiles (`_tile`, or `_tile_scanned` with the compiled loop; in each row its columns ascend):
  rows of block I against the columns of blocks J >= I. Entries with S at most
  row i's bound are candidates of row i; entries at most column j's bound, candidates of row j.
- Decision (`_finish`): among a row's candidates, those whose lower bound exceeds the k-th
  smallest upper bound are out; those whose upper bound is below the k-th smallest lower bound are
  in; only the rest get their distance recomputed as sum((x - y)^2) in float64 and are ranked by
  (distance, index). The partition into blocks and tiles depends only on n, so the result never
  depends on the number of threads (and is exact anyway). Where it pays, the decision's first half
  (grouping by row, bounds, the k-th smallest upper and lower bounds) is one compiled pass
  (`block_decision`, the same survivors); `precompile` builds the compiled loops into numba's cache.
Candidates of a block are held until its last tile is done (a few times n x k pairs at most);
`fits` says when that is too much and the caller streams with `ExactKnn` instead.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from cellbench.neighbors.exact import EPS32, order_candidates, padded, within_kth_upper
from cellbench.neighbors.row_bounds import row_bounds

#: Rows per block; tiles are (rows x up to TILE_BLOCKS blocks) of float32 products, ~8 MB, or with the
#: compiled loop, which writes no products, SCAN_TILE_BLOCKS blocks wide: each tile's fixed costs (its
#: rows packed, its outputs copied, the call) are then spread over 4x the products; measured at 100k
#: x 64, k = 200: the tiles' thread time 8.2-8.9 s with 8 blocks, 7.9-8.3 s with 32.
BLOCK_ROWS = 512
TILE_BLOCKS = 8
SCAN_TILE_BLOCKS = 32
#: From this many cells on, tiles are tested by the compiled single pass (`tile_scan`; numba's
#: compile time, about 0.5 s once per process, is then small against the search).
SCAN_MIN_CELLS = 20_000
#: Memory the held candidates may take, in bytes, and the bytes of one held pair (row in its block
#: int16, column int32, product float32).
CANDIDATE_BYTES = 4 * 1024**3
PAIR_BYTES = 10
#: Rows of the operands made at a time (`_operands`).
OPERAND_ROWS = 4096


def held_pairs(rows: np.ndarray, cols: np.ndarray, products: np.ndarray) -> tuple:
    """Candidates as they wait for their block: (row in the block int16, column int32, S float32)."""
    return rows.astype(np.int16), cols.astype(np.int32), products.astype(np.float32, copy=False)


class TooManyCandidates(RuntimeError):
    """The bounds let through more candidate pairs than CANDIDATE_BYTES (masses of near-ties)."""


def fits(n: int, k: int) -> bool:
    """Whether n x (k + 16) held pairs fit in CANDIDATE_BYTES.

    A row has about 2-7 k candidates (595 for k = 200 at 100k x 64: 15M pairs held at most; 1,341 at
    1M, whose bounds come from 40 x k cells), and its column-side ones from earlier blocks wait for
    its own block: at the half-way point about a quarter of all pairs are held, so at 1M x 200 about
    3.4 GB of the 4 GiB; past the cap `blocks` raises TooManyCandidates.
    """
    return PAIR_BYTES * n * (k + 16) <= CANDIDATE_BYTES


def precompile() -> None:
    """Compile the search's compiled loops (`tile_scan`, `block_decision`) for the types the search
    passes them, on a small seeded input, so that numba keeps them on disk: the image build runs it,
    and its tasks then load the loops instead of compiling them (about 2.5 s a process)."""
    from cellbench.neighbors import block_decision

    X = np.random.default_rng(0).normal(size=(300, 8))
    for k, with_distance in ((5, True), (5, False)):
        impl = SymmetricExactKnn(X, k, True, with_distance, block_rows=16, scan=True)
        impl.decide = block_decision.survivors
        for _ in impl.blocks(1):
            pass


def _operands(X: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GEMM's operands [c, 1, lo] and [-2 c, lo, 1] (c = X centred, rounded to float32; lo =
    (1 - gamma) |c|^2 in float32) and |c|^2 in float64, written in row chunks of OPERAND_ROWS.
    Why chunks: whole-matrix temporaries (the float64 centred copy, the float64 casts) each take
    fresh pages from the system, 0.2 s of the 0.3 s these took at 100k x 64; chunks stay in cache."""
    n, d = X.shape
    mean = X.mean(axis=0)
    left = np.empty((n, d + 2), np.float32)
    right = np.empty((n, d + 2), np.float32)
    sq = np.empty(n)
    for s in range(0, n, OPERAND_ROWS):
        e = min(n, s + OPERAND_ROWS)
        c32 = (X[s:e] - mean).astype(np.float32)
        c64 = c32.astype(np.float64)
        sq[s:e] = np.einsum("ij,ij->i", c64, c64)
        lo = ((1 - gamma) * sq[s:e]).astype(np.float32)
        left[s:e, :d], left[s:e, d], left[s:e, d + 1] = c32, 1.0, lo
        right[s:e, :d], right[s:e, d], right[s:e, d + 1] = -2.0 * c32, lo, 1.0  # -2 x is exact in float32
    return left, right, sq


class SymmetricExactKnn:
    """`blocks()` yields (start, stop, indices, distances or None) for consecutive row blocks."""

    def __init__(
        self,
        X: np.ndarray,
        k: int,
        include_self: bool,
        return_distance: bool,
        block_rows: int = BLOCK_ROWS,
        scan: bool | None = None,
    ):
        self.X = X
        self.k = k
        self.include_self = include_self
        self.return_distance = return_distance
        self.n, self.d = X.shape
        self.rows = block_rows
        self.gamma = (4 * self.d + 64) * EPS32
        self.left, self.right, self.sq = _operands(X, self.gamma)
        self.cap = CANDIDATE_BYTES // PAIR_BYTES
        self.held = 0
        if scan is None:
            scan = self.n >= SCAN_MIN_CELLS
        self.tile_blocks = SCAN_TILE_BLOCKS if scan else TILE_BLOCKS
        if block_rows * self.tile_blocks >= 2**15:  # rows and tile columns are sorted as int16 (radix)
            raise ValueError(f"block_rows {block_rows} x {self.tile_blocks} tile blocks must stay below 32768")
        self.scanner = None
        self.decide = None  # the compiled first half of `_finish` (`block_decision`), where it pays
        if scan:
            from cellbench.neighbors import block_decision
            from cellbench.neighbors.tile_scan import TileScanner

            self.scanner = TileScanner(block_rows * self.tile_blocks, owner_rows=block_rows)
            if block_decision.worth_it(self.n, k):
                self.decide = block_decision.survivors
        self.right_packed = None  # with the compiled loop: every column packed once (`blocks`), each tile takes its panels

    # ---------------------------------------------------------------------------------------------
    # 1. each row's bound on its k-th squared distance: `row_bounds.row_bounds`, called by `blocks`
    # ---------------------------------------------------------------------------------------------

    # ---------------------------------------------------------------------------------------------
    # 2. tiles: candidates of both sides
    # ---------------------------------------------------------------------------------------------

    def _tile(self, block: int, c0: int, c1: int) -> dict[int, list]:
        """Products of block `block`'s rows with columns c0:c1 (c0 = the block's own start or later).

        Returns {block: [(row in block, column, S)]} for the row side and the column side. Each
        piece has each row's columns ascending (`_finish` groups pairs by row with a stable sort).
        """
        if self.scanner is not None:
            return self._tile_scanned(block, c0, c1)
        r0, r1 = block * self.rows, min(self.n, (block + 1) * self.rows)
        S = self.left[r0:r1] @ self.right[c0:c1].T
        # flatnonzero of a row-major mask: 8x faster than 2-d nonzero here
        flat = np.flatnonzero(S <= self.threshold[r0:r1, None])
        r, j = np.divmod(flat, c1 - c0)
        pieces = {block: [held_pairs(r, j + c0, S.ravel()[flat])]}
        first = max(c0, r1)  # the block's own columns are covered by its rows
        if first < c1:
            side = S[:, first - c0:]
            flat = np.flatnonzero(side <= self.threshold[None, first:c1])
            i, j = np.divmod(flat, c1 - first)
            self._add_column_side(pieces, i, j + first, side[i, j], r0)
        return pieces

    def _tile_scanned(self, block: int, c0: int, c1: int) -> dict[int, list]:
        """`_tile` with one compiled pass over the products (`tile_scan`), which writes the held pairs
        of both sides itself, the column side already split by owner block: the same pieces."""
        r0, r1 = block * self.rows, min(self.n, (block + 1) * self.rows)
        row_side, col_sides = self.scanner.tile(
            self.left[r0:r1], self.right.T[:, c0:c1], self.threshold[r0:r1], self.threshold[c0:c1], max(c0, r1) - c0,
            row_offset=r0, col_offset=c0, packed_columns=self.right_packed,
        )
        pieces = {block: [row_side]}
        for owner, side in enumerate(col_sides, start=c0 // self.rows):
            if side[0].size:
                pieces[owner] = [side]
        return pieces

    def _add_column_side(self, pieces: dict, i: np.ndarray, j: np.ndarray, values: np.ndarray, r0: int) -> None:
        """Column-side candidates (rows i of the tile, absolute columns j, row-major) to their owners."""
        owners = j // self.rows
        order = np.argsort(owners.astype(np.int16), kind="stable")  # radix; row-major order kept per owner
        i, j, values, owners = i[order], j[order], values[order], owners[order]
        cuts = np.flatnonzero(np.diff(owners)) + 1
        for ii, jj, vv in zip(np.split(i, cuts), np.split(j, cuts), np.split(values, cuts)):
            if jj.size:
                owner = int(jj[0] // self.rows)
                pieces.setdefault(owner, []).append(held_pairs(jj - owner * self.rows, ii + r0, vv))

    # ---------------------------------------------------------------------------------------------
    # 3. a block's k nearest from its candidates
    # ---------------------------------------------------------------------------------------------

    def _finish(self, block: int, pieces: list) -> tuple[int, int, np.ndarray, np.ndarray | None]:
        """Decide a block from its candidate pieces (in tile order: each row's columns ascend)."""
        k = self.k
        r0, r1 = block * self.rows, min(self.n, (block + 1) * self.rows)
        c = r1 - r0
        if self.decide is not None:
            r, cols, lower, upper, sure = self.decide(
                pieces, self.sq, r0, c, k, 2 * self.gamma, self.include_self, not self.return_distance
            )
        else:
            r, cols, lower, upper = self._survivors(r0, c, pieces)
            sure = None
        if self.return_distance:
            idx, d2 = order_candidates(r, cols, self._exact_d2(r0, r, cols), c, k, row_major=True)
            return r0, r1, idx, np.sqrt(np.maximum(d2, 0.0))
        if sure is None:
            # in: upper bound below the k-th smallest lower bound (fewer than k others can be closer)
            low_pad, _ = padded(r, lower, c, np.inf)
            kth_lower = np.partition(low_pad, k - 1, axis=1)[:, k - 1]
            sure = upper < kth_lower[r]
        need = k - np.bincount(r[sure], minlength=c)
        unsure = np.flatnonzero(~sure)
        ur = r[unsure]
        d2 = self._exact_d2(r0, ur, cols[unsure])
        order = np.lexsort((d2, ur))  # stable: by row, distance, then column
        ranked = unsure[order]
        rank = np.arange(ranked.size) - np.searchsorted(ur[order], ur[order], side="left")
        chosen = sure.copy()
        chosen[ranked[rank < need[r[ranked]]]] = True
        return r0, r1, cols[chosen].reshape(c, k), None

    def _survivors(self, r0: int, c: int, pieces: list):
        """The pairs that may be among their row's k nearest, by row (columns ascending): (rows,
        columns, lower, upper); `block_decision` gives the same in one compiled pass."""
        r = np.concatenate([p[0] for p in pieces]).astype(np.int16)
        order = np.argsort(r, kind="stable")  # radix sort by row; columns stay ascending within rows
        r = r[order].astype(np.int64)
        cols = np.concatenate([p[1] for p in pieces])[order].astype(np.int64)
        lower = np.concatenate([p[2] for p in pieces])[order].astype(np.float64)
        is_self = cols == r0 + r
        if not self.include_self:
            keep = ~is_self
            r, cols, lower, is_self = r[keep], cols[keep], lower[keep], is_self[keep]
        upper = lower + 2 * self.gamma * (self.sq[r0 + r] + self.sq[cols])
        lower[is_self] = upper[is_self] = -np.inf  # the cell itself first
        keep = within_kth_upper(r, lower, upper, c, self.k)
        return r[keep], cols[keep], lower[keep], upper[keep]

    def _exact_d2(self, r0: int, r: np.ndarray, cols: np.ndarray) -> np.ndarray:
        diff = self.X[r0 + r] - self.X[cols]
        d2 = np.einsum("ij,ij->i", diff, diff)
        d2[cols == r0 + r] = -1.0  # the cell itself first
        return d2

    # ---------------------------------------------------------------------------------------------
    # scheduling
    # ---------------------------------------------------------------------------------------------

    def blocks(self, workers: int):
        """Row blocks in order; tiles and block decisions run on `workers` threads (BLAS single-threaded)."""
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        n_blocks = -(-self.n // self.rows)
        tasks = []  # (block, c0, c1, last tile of the block's row?)
        for b in range(n_blocks):
            starts = list(range(b * self.rows, self.n, self.rows * self.tile_blocks))
            for s in starts:
                tasks.append((b, s, min(self.n, s + self.rows * self.tile_blocks), s == starts[-1]))
        held: dict[int, list] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        with threadpool_limits(limits=1, user_api="blas"), pool:

            def run_all(fn, items):  # the bound search's map, on the same pool, in order
                futures = [pool.submit(fn, *item) for item in items]
                return (f.result() for f in futures)

            if self.scanner is not None:  # packed on a worker while the bound search's k-means runs here
                from cellbench.neighbors.tile_scan import pack_columns

                packing = pool.submit(pack_columns, self.right.T)
            self.threshold = row_bounds(self.left, self.right, self.sq, self.gamma, self.k, self.include_self,
                                        self.scanner is not None, run_all)
            if self.scanner is not None:
                self.right_packed = packing.result()
            pending: deque = deque()
            next_task = 0
            try:
                while next_task < len(tasks) or pending:
                    while next_task < len(tasks) and len(pending) < 4 * max(1, workers):
                        b, c0, c1, last = tasks[next_task]
                        pending.append(("tile", b, last, pool.submit(self._tile, b, c0, c1)))
                        next_task += 1
                    kind, b, last, future = pending.popleft()
                    if kind == "done":
                        yield future.result()
                        continue
                    for owner, parts in future.result().items():
                        held.setdefault(owner, []).extend(parts)
                        self.held += sum(p[0].size for p in parts)
                    if self.held > self.cap:
                        raise TooManyCandidates(f"{self.held} candidate pairs")
                    if last:
                        parts = held.pop(b)
                        self.held -= sum(p[0].size for p in parts)
                        pending.append(("done", b, True, pool.submit(self._finish, b, parts)))
            finally:
                for item in pending:
                    item[3].cancel()
