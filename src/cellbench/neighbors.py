"""The one place nearest neighbours and pairwise distances are computed.

Everything here is exact euclidean geometry done with BLAS in row blocks: memory stays at one
`rows x n` block per thread, never `n x n`, and blocks run in parallel on as many Python threads as
the BLAS may use (the CLI's --threads), each with single-threaded BLAS, over a partition that
depends only on the data size. So results never depend on the thread count.

- `knn` / `knn_blocks`: the k nearest neighbours of every cell, ordered by (distance, index), the
  cell itself first when `include_self`. Candidates come from a float32 GEMM with a proven error
  margin (|x|^2 - 2 x.y + |y|^2 on centred data); the distances that decide are then recomputed
  directly as sum((x - y)^2) in float64, so the answer is exact and deterministic whatever BLAS
  does with its last bits. The exact backend searches all cells at once with symmetric tiles
  (`cellbench.knn_symmetric`: each product computed once, for both its cells) and streams row
  blocks with `_ExactKnn` where the tiles' held candidates would not fit in memory (1M cells with
  k = 200) or for a subset of query cells. Backends are registered in `KNN_BACKENDS`: "exact"
  (the default) and "ivf", a seeded faiss inverted-file search for atlases of millions of cells
  (deterministic whatever the thread count, candidates re-ranked exactly). `cellbench clustering
  --knn` or the environment variable CELLBENCH_KNN (exact | ivf | auto | scanpy) switches the
  clustering graph's search (`resolve_backend`); measured accuracy and speed are in
  benchmarks/results.
- `sklearn_brute_knn`: scikit-learn's brute-force search reproduced bit for bit (its BLAS calls,
  tiles and rounding), which is what scanpy uses below 8192 cells.
- `umap_connectivities`: umap's `fuzzy_simplicial_set` (as called by `scanpy.pp.neighbors`),
  vectorised with the same arithmetic, without numba.
- `scanpy_connectivities`: `scanpy.pp.neighbors(use_rep=..., n_neighbors=15)` end to end (or, in
  mode "scanpy" from 8192 cells, scanpy itself: the reference's pynndescent graph).
- `squared_distance_blocks`, `map_blocks`: float64 distance blocks and the deterministic block-parallel
  map that the silhouette metrics also use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from cellbench.progress import Progress

#: Memory for one block of pairwise distances and its temporaries, in bytes; one block is in flight
#: per thread. The partition into blocks depends only on the data size, never on the thread count.
DEFAULT_BLOCK_BYTES = 128 * 1024 * 1024

#: scanpy switches from exact (sklearn brute force) to approximate (pynndescent) search here.
SCANPY_EXACT_LIMIT = 8192

#: sklearn's pairwise-distance tile (`pairwise_dist_chunk_size`).
SKLEARN_CHUNK = 256

#: Columns per GEMM tile in the exact search: (rows x tile) float32 stays in cache.
COLUMN_TILE = 4096

_EPS32 = float(np.finfo(np.float32).eps)
_EPS64 = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------------
# blocks and threads
# --------------------------------------------------------------------------------------------------


def blas_threads() -> int:
    """Threads the BLAS may use right now (the CLI's `--threads` sets it via threadpoolctl)."""
    from threadpoolctl import threadpool_info

    counts = [info.get("num_threads", 1) for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(1, max(counts)) if counts else 1


def block_ranges(n: int, rows: int, offset: int = 0) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of `rows` rows covering offset .. offset + n."""
    return [(offset + s, offset + min(n, s + rows)) for s in range(0, n, rows)]


def rows_per_block(n_cols: int, block_bytes: int, bytes_per_entry: int) -> int:
    """Rows per block so that one block stays within `block_bytes`.

    A multiple of 16 (at least 16): BLAS kernels treat a few leftover rows differently, and one-row
    products go through gemv; with a partition fixed by the data size, every run computes the same
    products whatever the thread count.
    """
    rows = block_bytes // max(1, n_cols * bytes_per_entry)
    return int(max(16, (rows // 16) * 16))


def map_blocks(fn: Callable, ranges: list[tuple[int, int]], workers: int | None = None) -> Iterator:
    """fn(start, stop) for each range, in order, on `workers` threads with single-threaded BLAS."""
    from threadpoolctl import threadpool_limits

    if workers is None:
        workers = blas_threads()
    workers = max(1, min(workers, len(ranges)))
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            for start, stop in ranges:
                yield fn(start, stop)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            try:
                for start, stop in ranges:
                    pending.append(pool.submit(fn, start, stop))
                    if len(pending) > workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()


def _as_float64(X) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-d array, got shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float64)


def squared_distance_blocks(
    X, block_bytes: int = DEFAULT_BLOCK_BYTES, zero_diagonal: bool = True, workers: int | None = None,
    fn: Callable | None = None,
) -> Iterator:
    """For each row block: D2[i, j] = |x_(start+i) - x_j|^2 in float64 (clipped at 0, diagonal 0).

    Yields (start, stop, D2), or, with `fn`, fn(start, stop, D2) computed inside the worker thread
    (so reductions of the block run in parallel too). Computed as |x|^2 - 2 x.y + |y|^2 on centred
    data with one GEMM per block; with a fixed partition and single-threaded BLAS per block the
    values are the same whatever the thread count.
    """
    X = _as_float64(X)
    X = X - X.mean(axis=0)
    n = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    step = rows_per_block(n, block_bytes, 8 * 2)

    def one(start, stop):
        block = X[start:stop] @ X.T
        block *= -2.0
        block += sq[start:stop, None]
        block += sq[None, :]
        np.maximum(block, 0.0, out=block)
        if zero_diagonal:
            rows = np.arange(stop - start)
            block[rows, rows + start] = 0.0
        return (start, stop, block) if fn is None else fn(start, stop, block)

    yield from map_blocks(one, block_ranges(n, step), workers)


# --------------------------------------------------------------------------------------------------
# exact kNN
# --------------------------------------------------------------------------------------------------


def _mask_nonzero(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """np.nonzero of a boolean (rows, padded) mask, scanning it as 8-byte words (8x fewer elements)."""
    rows, padded = mask.shape
    words = mask.view(np.uint64)
    r, w = np.nonzero(words)
    inner_r, inner_b = np.nonzero(mask.reshape(rows, padded // 8, 8)[r, w])
    cols = w[inner_r] * 8 + inner_b
    keep = cols < width
    return r[inner_r][keep], cols[keep]


def _padded(rows: np.ndarray, values: np.ndarray, n_rows: int, fill) -> tuple[np.ndarray, np.ndarray]:
    """Row-grouped (rows sorted) values as a (n_rows, max count) array padded with `fill`; also positions."""
    counts = np.bincount(rows, minlength=n_rows)
    starts = np.zeros(n_rows, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    pos = np.arange(rows.size) - starts[rows]
    out = np.full((n_rows, max(1, int(counts.max(initial=0)))), fill, dtype=values.dtype)
    out[rows, pos] = values
    return out, pos


def _order_candidates(rows, cols, d2, n_rows: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """From candidate (row, col, d2), grouped by row with >= k per row: the k smallest by (d2, col)."""
    order = np.lexsort((cols, rows))  # row-major, columns ascending (usually already so)
    rows, cols, d2 = rows[order], cols[order], d2[order]
    d2_pad, pos = _padded(rows, d2, n_rows, np.inf)
    col_pad = np.zeros(d2_pad.shape, dtype=np.int64)
    col_pad[rows, pos] = cols
    best = np.argsort(d2_pad, axis=1, kind="stable")[:, :k]  # stable: ties keep column order
    return np.take_along_axis(col_pad, best, axis=1), np.take_along_axis(d2_pad, best, axis=1)


class _ExactKnn:
    """Exact kNN by blocks: float32 GEMM candidates within a rounding-error margin, float64 check.

    Any block of query rows against all cells, so memory stays per block: used for a sample of
    query cells (entropy_sampled) and where `cellbench.knn_symmetric`'s held candidates would not
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
        self.gamma = (4 * self.d + 64) * _EPS32
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

    def _self_value(self):
        return -np.inf if self.include_self else np.inf

    def _candidates32(self, start: int, stop: int):
        """Survivors (rows, cols) and their bounds (lower, upper) on d2 - |x_i|^2, or None."""
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
        r, cols = _mask_nonzero(mask, n)
        if r.size > 64 * c * (k + 16):
            return None
        # 3. tighten: k-th smallest upper bound among the candidates; their lower bounds evaluated
        # again as float32 (d + 1)-term dot products, within the same margin as the GEMM's value
        low = np.einsum("ij,ij->i", self.left[start + r], self.right_lo[cols])
        upper = low + self.col_gap[cols]
        is_self = cols == start + r
        upper[is_self] = self._self_value()
        upper_pad, _ = _padded(r, upper, c, np.float32(np.inf))
        upper_pad.partition(k - 1, axis=1)
        kth = upper_pad[:, k - 1].astype(np.float64) + self.slack[start:stop]
        keep = (low <= kth[r].astype(np.float32)) | is_self
        if not self.include_self:
            keep &= ~is_self
        r, cols, low, upper = r[keep], cols[keep], low[keep], upper[keep]
        half = 0.5 * self.slack[start + r]
        lower_b = low.astype(np.float64) - half
        upper_b = upper.astype(np.float64) + half
        if self.include_self:
            lower_b[cols == start + r] = -np.inf
        return r, cols, lower_b, upper_b

    def _candidates64(self, start: int, stop: int):
        k, c = self.k, stop - start
        rows = np.arange(c)
        A = self.centred[start:stop] @ self.centred.T
        A *= -2
        A += self.sq[None, :]
        A[rows, rows + start] = self._self_value()
        kth = np.partition(A, k - 1, axis=1)[:, k - 1]
        gamma = (4 * self.d + 64) * _EPS64
        margin = 2 * gamma * (self.sq[start:stop, None] + self.sq[None, :])
        return np.nonzero(A - margin <= kth[:, None] + 2 * gamma * self.sq[start:stop, None])

    def _exact_d2(self, start: int, r: np.ndarray, cols: np.ndarray) -> np.ndarray:
        diff = self.X[start + r] - self.X[cols]
        d2 = np.einsum("ij,ij->i", diff, diff)
        d2[cols == start + r] = -1.0 if self.include_self else np.inf  # the cell itself first
        return d2

    def _exact(self, start: int, c: int, r: np.ndarray, cols: np.ndarray):
        idx, d2 = _order_candidates(r, cols, self._exact_d2(start, r, cols), c, self.k)
        return idx, np.maximum(d2, 0.0)

    def _exact_set(self, start, c, r, cols, lower, upper) -> np.ndarray:
        """The k nearest as a set (ascending index), computing exact distances only where bounds overlap."""
        k = self.k
        low_pad, pos = _padded(r, lower, c, np.inf)
        up_pad, _ = _padded(r, upper, c, np.inf)
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


def _exact_knn_blocks(X, k, include_self, block_bytes, workers=None, return_distance=True):
    """Symmetric tiles (`cellbench.knn_symmetric`) when their held candidates fit, else row streaming."""
    from cellbench import knn_symmetric

    n = X.shape[0]
    done = 0
    if workers is None:
        workers = blas_threads()
    if knn_symmetric.fits(n, k):
        # tile rows follow block_bytes down (tests force many tiles), never above BLOCK_ROWS
        tile_rows = int(min(knn_symmetric.BLOCK_ROWS, max(16, block_bytes // (4096 * 9) // 16 * 16)))
        impl = knn_symmetric.SymmetricExactKnn(X, k, include_self, return_distance, tile_rows)
        try:
            for block in impl.blocks(workers):
                yield block
                done = block[1]
            return
        except knn_symmetric.TooManyCandidates:
            pass  # masses of near-ties: the row streaming below bounds memory per block
    impl = _ExactKnn(X, k, include_self, return_distance)
    # per entry: the float32 block and the boolean mask; candidates are a few per row
    step = rows_per_block(n, block_bytes, 4 + 1)
    step = min(step, max(16, (block_bytes // max(1, (k + 16) * X.shape[1] * 8 * 4)) // 16 * 16))
    yield from map_blocks(impl.block, block_ranges(n - done, step, done), workers)


def _exact_knn(X, k, include_self, block_bytes, workers=None) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    for start, stop, idx, dist in _exact_knn_blocks(X, k, include_self, block_bytes, workers):
        indices[start:stop] = idx
        distances[start:stop] = dist
    return indices, distances


# --------------------------------------------------------------------------------------------------
# seeded approximate kNN (faiss inverted file)
# --------------------------------------------------------------------------------------------------

#: Seed of the inverted file's k-means (fixed: the approximate graph must not change between runs).
IVF_SEED = 42
#: Candidates fetched beyond k, re-ranked on exact float64 distances.
IVF_EXTRA = 8
#: Query rows per faiss call (bounds the n x k result held at once).
IVF_QUERY_ROWS = 32768


def ivf_parameters(n: int) -> tuple[int, int]:
    """(nlist, nprobe): sqrt(n) lists, 16 probed (measured at 100k x 64: search k=16 in ~3 s on 2 threads)."""
    nlist = int(max(1, min(n // 39, round(np.sqrt(n)))))
    return nlist, int(min(nlist, 16))


class _IvfKnn:
    """faiss IndexIVFFlat, trained single-threaded from a fixed seed, searched in query blocks.

    What it beats: the exact search costs half an n x n float32 GEMM plus threshold tests (5.3 s
    for k = 15 at 100k x 64 on 2 cores, and n^2 growth: ~10 min at 1M); the inverted file scans
    ~nprobe/nlist of the cells per query (~3 s at 100k).
    Deterministic: k-means training runs on one thread with `IVF_SEED`; each query's probes and
    scan do not depend on how queries are split over threads; candidates are re-ranked on exact
    float64 distances (ties by index), so the order is the exact backend's order among them.
    """

    def __init__(self, X: np.ndarray, k: int, include_self: bool, return_distance: bool, workers: int):
        import faiss

        self.faiss = faiss
        self.X = X
        self.k = k
        self.include_self = include_self
        self.return_distance = return_distance
        self.workers = workers
        n, d = X.shape
        self.centred = X - X.mean(axis=0)
        self.x32 = np.ascontiguousarray(self.centred, dtype=np.float32)
        nlist, nprobe = ivf_parameters(n)
        quantizer = faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist)
        index.cp.seed = IVF_SEED
        faiss.omp_set_num_threads(1)
        index.train(self.x32)
        faiss.omp_set_num_threads(max(1, workers))
        index.add(self.x32)
        index.nprobe = nprobe
        self.index = index
        self.n = n
        # self is dropped or moved first after the search; one more candidate covers it
        self.k_search = int(min(n, k + 1 + (IVF_EXTRA if return_distance else 0)))

    def block(self, start: int, stop: int):
        faiss = self.faiss
        faiss.omp_set_num_threads(max(1, self.workers))
        _, cand = self.index.search(self.x32[start:stop], self.k_search)
        rows = stop - start
        selfcol = np.arange(start, stop)
        cand = cand.astype(np.int64)
        is_self = cand == selfcol[:, None]
        missing = cand < 0
        if not self.return_distance:
            # the neighbour set: self first (when included), then faiss's order (ties as faiss scans)
            cand = np.where(is_self | missing, self.n, cand)
            order = np.argsort(cand == self.n, axis=1, kind="stable")
            cand = np.take_along_axis(cand, order, axis=1)
            k_other = self.k - 1 if self.include_self else self.k
            body = cand[:, :k_other]
            if self.include_self:
                body = np.hstack([selfcol[:, None], body])
            return start, stop, np.sort(body, axis=1), None
        d2 = np.empty(cand.shape)
        chunk = max(1, (64 * 1024 * 1024) // (cand.shape[1] * self.X.shape[1] * 8))
        safe = np.where(missing, 0, cand)
        for s in range(0, rows, chunk):
            e = min(rows, s + chunk)
            diff = self.X[start + s:start + e, None, :] - self.X[safe[s:e]]
            d2[s:e] = np.einsum("ijk,ijk->ij", diff, diff)
        d2[missing] = np.inf
        d2[is_self] = -1.0 if self.include_self else np.inf
        if self.include_self:  # the cell itself first even if the probes missed it
            absent = ~is_self.any(axis=1)
            cand[absent, -1] = selfcol[absent]
            d2[absent, -1] = -1.0
        order = np.lexsort((cand, d2), axis=1)[:, : self.k]
        idx = np.take_along_axis(cand, order, axis=1)
        dist = np.sqrt(np.maximum(np.take_along_axis(d2, order, axis=1), 0.0))
        return start, stop, idx, dist


def _ivf_knn_blocks(X, k, include_self, block_bytes, workers=None, return_distance=True):
    if workers is None:
        workers = blas_threads()
    impl = _IvfKnn(X, k, include_self, return_distance, workers)
    for start, stop in block_ranges(X.shape[0], IVF_QUERY_ROWS):
        yield impl.block(start, stop)


def _ivf_knn(X, k, include_self, block_bytes, workers=None) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    for start, stop, idx, dist in _ivf_knn_blocks(X, k, include_self, block_bytes, workers):
        indices[start:stop] = idx
        distances[start:stop] = dist
    return indices, distances


#: name -> function(X float64 C-contiguous, k, include_self, block_bytes, workers) -> (indices, distances)
KNN_BACKENDS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {"exact": _exact_knn, "ivf": _ivf_knn}
#: streaming versions (row blocks), used by `knn_blocks` when present
_BLOCK_BACKENDS: dict[str, Callable] = {"exact": _exact_knn_blocks, "ivf": _ivf_knn_blocks}


#: `CELLBENCH_KNN=auto` switches the default exact search to "ivf" from this many cells on.
AUTO_IVF_CELLS = 200_000


#: The clustering graph's search modes (`--knn` of `cellbench clustering`, or CELLBENCH_KNN).
KNN_MODES = ("exact", "ivf", "auto", "scanpy")


def knn_mode(mode: str | None = None) -> str:
    """The clustering graph's search mode: `mode` if given, else CELLBENCH_KNN, else "exact"."""
    import os

    if mode is None:
        mode = os.environ.get("CELLBENCH_KNN", "exact")
    mode = mode.strip().lower() or "exact"
    if mode not in KNN_MODES:
        raise ValueError(f"kNN mode {mode!r} (CELLBENCH_KNN or --knn): choose {', '.join(KNN_MODES)}")
    return mode


def resolve_backend(backend: str, n: int, mode: str | None = None) -> str:
    """The search the clustering kNN graph (`scanpy_connectivities`, >= 8192 cells) really uses.

    mode (`knn_mode`): "exact" (the default): exact. "ivf": the seeded inverted-file search.
    "auto": "ivf" from `AUTO_IVF_CELLS` cells on (atlases where the exact graph takes long), exact
    below. "scanpy": the reference's own graph, scanpy.pp.neighbors with pynndescent (approximate;
    same connectivities as cz-benchmarks). Measured on 100k x 64 synthetic cells
    (benchmarks/results): the reference's pynndescent graph holds 63 % of the exact 15 nearest
    neighbours, and Leiden's ARI on it is 0.035 higher than on the exact graph over five seeds; the
    IVF graph's ARI is within 0.005-0.02 of the reference's. Only the clustering graph switches: on
    entropy_per_cell the IVF neighbours are biased (-0.07 at 100k; the probed cells follow batch
    shifts), so large-atlas entropy uses `cellbench.metrics.entropy_sampled` instead. A backend other
    than "exact" named by the caller is used as is.
    """
    if backend != "exact":
        return backend
    mode = knn_mode(mode)
    if mode == "ivf" or (mode == "auto" and n >= AUTO_IVF_CELLS):
        return "ivf"
    return "scanpy" if mode == "scanpy" else "exact"


def _check_k(n: int, k: int, include_self: bool) -> None:
    available = n if include_self else n - 1
    if not 1 <= k <= available:
        raise ValueError(f"k={k} neighbours requested but only {available} cells are available")


def knn(
    X,
    k: int,
    *,
    include_self: bool = True,
    return_distance: bool = True,
    backend: str = "exact",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The k nearest neighbours (euclidean) of every row of X among the rows of X.

    Returns (indices int64 (n, k), distances float64 (n, k)), each row ordered by distance, ties by
    index. With `include_self` the cell itself is column 0 with distance 0 (and counts towards k),
    even when other cells coincide with it; without, the cell never appears in its own row.
    With `return_distance=False` only the neighbour *sets* are computed (faster for large k): each
    row in ascending index order, distances None. `workers` threads (default: the BLAS thread
    limit) never change the result.
    """
    indices = np.empty((np.shape(X)[0], k), dtype=np.int64)
    distances = np.empty((np.shape(X)[0], k)) if return_distance else None
    progress = Progress(f"kNN (k={k}, {backend}) of cells", len(indices))
    for start, stop, idx, dist in knn_blocks(X, k, include_self=include_self, return_distance=return_distance,
                                             backend=backend, block_bytes=block_bytes, workers=workers):
        progress.step(stop)
        indices[start:stop] = idx
        if return_distance:
            distances[start:stop] = dist
    return indices, distances


def knn_blocks(
    X,
    k: int,
    *,
    include_self: bool = True,
    return_distance: bool = True,
    backend: str = "exact",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    workers: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """`knn` as a stream of (start, stop, indices, distances) row blocks, for callers that reduce
    each cell's neighbourhood at once (entropy with k = 200) and need not hold all n x k indices."""
    X = _as_float64(X)
    _check_k(X.shape[0], k, include_self)
    if backend in _BLOCK_BACKENDS:
        yield from _BLOCK_BACKENDS[backend](X, k, include_self, block_bytes, workers, return_distance)
        return
    try:
        impl = KNN_BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown kNN backend {backend!r} (known: {', '.join(KNN_BACKENDS)})") from None
    indices, distances = impl(X, k, include_self, block_bytes, workers)
    if not return_distance:
        indices, distances = np.sort(indices, axis=1), None
    yield 0, X.shape[0], indices, distances


# --------------------------------------------------------------------------------------------------
# scanpy-compatible neighbourhood graph
# --------------------------------------------------------------------------------------------------


def sklearn_brute_knn(X, k: int, *, float32_input: bool) -> tuple[np.ndarray, np.ndarray]:
    """`NearestNeighbors(algorithm="brute").kneighbors(X)` (self included by computation), bit for bit.

    scikit-learn computes squared distances as (|x|^2 + (-2 x.y)) + |y|^2 in float64: norms by BLAS
    ddot, the middle term by one single-threaded dgemm per 256 x 256 tile, clipped at 0; for float32
    input it rounds them to float32 before the square root. The self-distance is therefore often
    ~1e-7 rather than 0. The same BLAS calls (scipy's, as sklearn uses), tiles and rounding are made
    here; rows are ordered by squared distance, ties by index. For n < 8192 (dense row blocks).
    """
    from scipy.linalg import blas
    from threadpoolctl import threadpool_limits

    X = _as_float64(X)
    n = X.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k={k} neighbours requested but only {n} cells are available")
    tile = min(n, SKLEARN_CHUNK)
    tiles = block_ranges(n, tile)
    Xt = np.asfortranarray(X.T)  # (d, n) in Fortran order = X in C order
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        sq = np.array([blas.ddot(row, row) for row in X])
        for xs, xe in tiles:
            block = np.empty((xe - xs, n))
            for ys, ye in tiles:
                # sklearn's row-major C = -2 X_c Y_c^T is the Fortran call dgemm('T', 'N', Y_c, X_c)
                middle = blas.dgemm(-2.0, Xt[:, ys:ye], Xt[:, xs:xe], trans_a=1)
                block[:, ys:ye] = sq[xs:xe, None] + middle.T
            block += sq[None, :]
            np.maximum(block, 0.0, out=block)
            rows, cols = np.nonzero(block <= np.partition(block, k - 1, axis=1)[:, k - 1][:, None])
            idx, d2 = _order_candidates(rows, cols, block[rows, cols], xe - xs, k)
            indices[xs:xe] = idx
            distances[xs:xe] = np.sqrt(d2.astype(np.float32)) if float32_input else np.sqrt(d2)
    return indices, distances


def _smooth_knn_dist(
    distances: np.ndarray, k: float, n_iter: int = 64, local_connectivity: float = 1.0, bandwidth: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """umap.umap_.smooth_knn_dist, vectorised over rows with umap's arithmetic (checked bit for bit)."""
    f32 = np.float32
    smooth_k_tolerance = 1e-5
    min_k_dist_scale = 1e-3
    floatmax = float(np.finfo(np.float32).max)
    n = distances.shape[0]
    target = np.log2(k) * bandwidth

    # rho: distance to the local_connectivity-th non-zero neighbour (in row order)
    positive = distances > 0.0
    n_positive = positive.sum(axis=1)
    order = np.argsort(~positive, axis=1, kind="stable")
    nonzero_first = np.take_along_axis(distances, order, axis=1)
    rho = np.zeros(n, dtype=f32)
    index = int(np.floor(local_connectivity))
    interpolation = local_connectivity - index
    enough = n_positive >= local_connectivity
    if index > 0:
        rho[enough] = nonzero_first[enough, index - 1]
        if interpolation > smooth_k_tolerance:
            rho[enough] += f32(interpolation) * (nonzero_first[enough, index] - nonzero_first[enough, index - 1])
    else:
        rho[enough] = f32(interpolation) * nonzero_first[enough, 0]
    some = ~enough & (n_positive > 0)
    if some.any():
        rho[some] = np.where(positive[some], distances[some], 0).max(axis=1)

    # Binary search for sigma such that sum_j exp(-(d_j - rho) / sigma) = log2(k). umap declares
    # these float32, but inside numba's prange the declarations are lost: lo/hi/mid/psum are float64,
    # only d_j - rho is float32.
    lo = np.zeros(n)
    hi = np.full(n, floatmax)
    mid = np.ones(n)
    active = np.arange(n)
    shifted = distances[:, 1:] - rho[:, None]  # float32, as umap's `d = distances[i, j] - rho[i]`
    for _ in range(n_iter):
        if active.size == 0:
            break
        sub = shifted[active].astype(np.float64)
        mid_a = mid[active]
        psum = np.zeros(active.size)
        for j in range(sub.shape[1]):
            d = sub[:, j]
            psum += np.where(d > 0, np.exp(-(d / mid_a)), 1.0)
        done = np.abs(psum - target) < smooth_k_tolerance
        go_down = ~done & (psum > target)
        go_up = ~done & ~go_down
        a_down, a_up = active[go_down], active[go_up]
        hi[a_down] = mid[a_down]
        mid[a_down] = (lo[a_down] + hi[a_down]) / 2.0
        lo[a_up] = mid[a_up]
        doubling = hi[a_up] >= floatmax
        a_double, a_half = a_up[doubling], a_up[~doubling]
        mid[a_double] = mid[a_double] * 2.0
        mid[a_half] = (lo[a_half] + hi[a_half]) / 2.0
        active = active[~done]

    result = mid.astype(f32)
    row_means = distances.mean(axis=1, dtype=np.float64)
    global_mean = float(distances.mean(dtype=np.float64))
    floor = np.where(rho > 0.0, min_k_dist_scale * row_means, min_k_dist_scale * global_mean)
    low = result.astype(np.float64) < floor
    result[low] = floor[low].astype(f32)
    return result, rho


def umap_connectivities(
    knn_indices: np.ndarray,
    knn_dists: np.ndarray,
    n_neighbors: int | None = None,
    *,
    set_op_mix_ratio: float = 1.0,
    local_connectivity: float = 1.0,
):
    """umap's fuzzy simplicial set from a kNN graph (scanpy's `connectivities`), as float32 CSR.

    Same inputs and semantics as `umap.umap_.fuzzy_simplicial_set(..., knn_indices, knn_dists)`:
    `knn_dists` are cast to float32, `n_neighbors` (default: the number of columns) sets the target
    log2(k), a cell's edge to itself gets weight 0, and the fuzzy union is A + A^T - A * A^T. The
    one difference: umap's float32 exp is libm's expf, here it is exp rounded from float64, which
    differs by one float32 ulp in about 2 of 10^4 weights.
    """
    import scipy.sparse as sp

    knn_indices = np.asarray(knn_indices)
    dists = np.ascontiguousarray(knn_dists, dtype=np.float32)
    n, m = dists.shape
    if n_neighbors is None:
        n_neighbors = m
    sigmas, rhos = _smooth_knn_dist(dists, float(n_neighbors), local_connectivity=float(local_connectivity))

    f32 = np.float32
    shifted = dists - rhos[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = -(shifted / sigmas[:, None])
        vals = np.exp(ratio.astype(np.float64)).astype(f32)
    vals[(shifted <= 0.0) | (sigmas[:, None] == 0.0)] = f32(1.0)
    rows = np.repeat(np.arange(n, dtype=np.int64), m).reshape(n, m)
    vals[knn_indices == rows] = f32(0.0)
    keep = (knn_indices != -1) & (vals != 0)
    a = sp.coo_matrix((vals[keep], (rows[keep], knn_indices[keep])), shape=(n, n)).tocsr()
    a.sum_duplicates()
    at = a.transpose().tocsr()
    prod = a.multiply(at)
    result = set_op_mix_ratio * (a + at - prod) + (1.0 - set_op_mix_ratio) * prod
    result = sp.csr_matrix(result, dtype=np.float32)
    result.eliminate_zeros()
    result.sort_indices()
    return result


def scanpy_connectivities(
    X, n_neighbors: int = 15, *, float32_input: bool | None = None, mode: str | None = None, seed: int = 0
):
    """`scanpy.pp.neighbors(adata, use_rep=<X>, n_neighbors=15, random_state=seed)` connectivities.

    Below 8192 cells scanpy searches exactly with sklearn (reproduced here, rounding included); from
    8192 on it uses pynndescent, which is approximate (and, with pynndescent >= 0.6, crashes inside
    scanpy 1.11). There the search follows `mode` (`resolve_backend`): exact by default, IVF, or
    "scanpy", which runs scanpy.pp.neighbors itself (pynndescent 0.5, one thread, random_state=seed:
    the reference's graph to the bit; then the returned indices and distances are None). scanpy zeroes
    the self-distances (its kNN distances are a view of the matrix whose diagonal it clears).
    `float32_input`: whether the representation is float32 data (sklearn rounds distances for
    float32 input); default: yes if every value is exactly representable in float32.
    Returns (connectivities float32 CSR, knn_indices, knn_distances).
    """
    X = np.asarray(X)
    n = X.shape[0]
    if float32_input is None:
        float32_input = X.dtype == np.float32 or bool(np.array_equal(X, X.astype(np.float32)))
    if n_neighbors > n:  # scanpy: "n_obs too small: adjusting"
        n_neighbors = 1 + int(0.5 * n)
    if n < SCANPY_EXACT_LIMIT:
        # KNeighborsTransformer(n_neighbors=min(n - 1, k)) asks for one more (the cell itself);
        # scanpy then keeps the first n_neighbors columns.
        k_search = min(min(n - 1, n_neighbors) + 1, n)
        indices, distances = sklearn_brute_knn(X, k_search, float32_input=float32_input)
        indices, distances = indices[:, :n_neighbors], distances[:, :n_neighbors].copy()
        distances[indices == np.arange(n)[:, None]] = 0.0
    else:
        backend = resolve_backend("exact", n, mode)
        if backend != "exact":
            import logging

            logging.getLogger("cellbench").warning(
                "kNN graph of %d cells: approximate search (%s), not exact", n,
                "faiss IVF, seeded" if backend == "ivf" else "scanpy.pp.neighbors: pynndescent, as the reference",
            )
        if backend == "scanpy":
            return _scanpy_neighbors(X.astype(np.float32) if float32_input else X, n_neighbors, seed), None, None
        indices, distances = knn(X, n_neighbors, include_self=True, backend=backend)
    conn = umap_connectivities(indices, distances, n_neighbors)
    return conn, indices, distances


def _scanpy_neighbors(X: np.ndarray, n_neighbors: int, seed: int):
    """scanpy.pp.neighbors itself, as the reference calls it: its connectivities (float32 CSR)."""
    import anndata as ad
    import pandas as pd
    import scanpy as sc

    adata = ad.AnnData(obs=pd.DataFrame(index=np.arange(X.shape[0]).astype(str)), obsm={"X_rep": X})
    sc.pp.neighbors(adata, use_rep="X_rep", n_neighbors=n_neighbors, random_state=seed)
    return adata.obsp["connectivities"].tocsr()


__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "KNN_BACKENDS",
    "KNN_MODES",
    "blas_threads",
    "knn",
    "knn_blocks",
    "knn_mode",
    "map_blocks",
    "resolve_backend",
    "scanpy_connectivities",
    "sklearn_brute_knn",
    "squared_distance_blocks",
    "umap_connectivities",
]
