"""The "ivf" backend: a seeded faiss inverted-file search for atlases of millions of cells.

Why it exists: the exact search grows as n^2 (about 10 minutes for the clustering graph at 1M
cells); the inverted file scans ~nprobe/nlist of the cells per query. It stays deterministic
whatever the thread count (seeded single-threaded training) and re-ranks its candidates on exact
float64 distances. Only the clustering graph may use it (`resolve_backend`): measured accuracy and
speed are in benchmarks/results.
"""

from __future__ import annotations

import numpy as np

from cellbench.neighbors.blocks import block_ranges
from cellbench.threads import blas_threads

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


def ivf_knn_blocks(X, k, include_self, block_bytes, workers=None, return_distance=True):
    """The "ivf" backend: row blocks of `IVF_QUERY_ROWS` queries (`block_bytes` is not needed here)."""
    if workers is None:
        workers = blas_threads()
    impl = _IvfKnn(X, k, include_self, return_distance, workers)
    for start, stop in block_ranges(X.shape[0], IVF_QUERY_ROWS):
        yield impl.block(start, stop)
