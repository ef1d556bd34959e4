"""scanpy's neighbourhood graph (`scanpy.pp.neighbors`) reproduced: the clustering task's graph.

Why it exists: cz-benchmarks clusters on scanpy's connectivities, so the graph must be scanpy's to
the bit, without scanpy's cost and approximation:
- `sklearn_brute_knn`: scikit-learn's brute-force search reproduced bit for bit (its BLAS calls,
  tiles and rounding), which is what scanpy uses below 8192 cells.
- `umap_connectivities`: umap's `fuzzy_simplicial_set` (as called by `scanpy.pp.neighbors`),
  vectorised with the same arithmetic, without numba.
- `scanpy_connectivities`: `scanpy.pp.neighbors(use_rep=..., n_neighbors=15)` end to end; from
  8192 cells on, the search named by the caller's mode (`resolve_backend`; in mode "scanpy",
  scanpy itself: the reference's pynndescent graph).
"""

from __future__ import annotations

import numpy as np

from cellbench.neighbors.backends import knn, resolve_backend
from cellbench.neighbors.blocks import as_float64, block_ranges
from cellbench.neighbors.exact import order_candidates

#: scanpy switches from exact (sklearn brute force) to approximate (pynndescent) search here.
SCANPY_EXACT_LIMIT = 8192

#: sklearn's pairwise-distance tile (`pairwise_dist_chunk_size`).
SKLEARN_CHUNK = 256


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

    X = as_float64(X)
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
            idx, d2 = order_candidates(rows, cols, block[rows, cols], xe - xs, k)
            indices[xs:xe] = idx
            distances[xs:xe] = np.sqrt(d2.astype(np.float32)) if float32_input else np.sqrt(d2)
    return indices, distances


#: umap's tolerance of the sigma search, also the interpolation threshold of rho.
_SMOOTH_K_TOLERANCE = 1e-5


def _rho(distances: np.ndarray, local_connectivity: float) -> np.ndarray:
    """umap's rho: each row's distance to its local_connectivity-th non-zero neighbour (in row order)."""
    f32 = np.float32
    positive = distances > 0.0
    n_positive = positive.sum(axis=1)
    order = np.argsort(~positive, axis=1, kind="stable")
    nonzero_first = np.take_along_axis(distances, order, axis=1)
    rho = np.zeros(distances.shape[0], dtype=f32)
    index = int(np.floor(local_connectivity))
    interpolation = local_connectivity - index
    enough = n_positive >= local_connectivity
    if index > 0:
        rho[enough] = nonzero_first[enough, index - 1]
        if interpolation > _SMOOTH_K_TOLERANCE:
            rho[enough] += f32(interpolation) * (nonzero_first[enough, index] - nonzero_first[enough, index - 1])
    else:
        rho[enough] = f32(interpolation) * nonzero_first[enough, 0]
    some = ~enough & (n_positive > 0)
    if some.any():
        rho[some] = np.where(positive[some], distances[some], 0).max(axis=1)
    return rho


def _smooth_knn_dist(
    distances: np.ndarray, k: float, n_iter: int = 64, local_connectivity: float = 1.0, bandwidth: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """umap.umap_.smooth_knn_dist, vectorised over rows with umap's arithmetic (checked bit for bit)."""
    f32 = np.float32
    min_k_dist_scale = 1e-3
    floatmax = float(np.finfo(np.float32).max)
    n = distances.shape[0]
    target = np.log2(k) * bandwidth
    rho = _rho(distances, local_connectivity)

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
        done = np.abs(psum - target) < _SMOOTH_K_TOLERANCE
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
