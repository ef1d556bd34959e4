"""Which search runs: the one registry of kNN backends and modes, and `knn` / `knn_blocks` over it.

Why it exists: a caller names a search ("exact", "ivf") or, for the clustering graph, a mode
("auto", "scanpy") that `resolve_backend` turns into one. All names live in `KNN_SEARCHES`;
`KNN_BACKENDS` and `KNN_MODES` are views of it. Nothing here reads the environment: the CLI
(`cellbench clustering --knn`, or CELLBENCH_KNN there) passes the mode down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cellbench import device
from cellbench.neighbors import symmetric
from cellbench.neighbors.blocks import DEFAULT_BLOCK_BYTES, as_float64, block_ranges, map_blocks
from cellbench.neighbors.exact import ExactKnn, check_k, stream_rows
from cellbench.neighbors.ivf import ivf_knn_blocks
from cellbench.progress import Progress
from cellbench.threads import blas_threads

#: The "auto" mode switches the exact search to "ivf" from this many cells on.
AUTO_IVF_CELLS = 200_000

#: (X float64 C-contiguous, k, include_self, block_bytes, workers, return_distance) ->
#: (start, stop, indices, distances or None) row blocks in order
BlockSearch = Callable[..., Iterator[tuple[int, int, np.ndarray, "np.ndarray | None"]]]


def exact_knn_blocks(X, k, include_self, block_bytes, workers=None, return_distance=True):
    """The "exact" backend: symmetric tiles when their held candidates fit, else row streaming; with
    `cellbench.device` set to a torch device, row streaming with the products there (same answer)."""
    n = X.shape[0]
    done = 0
    if workers is None:
        workers = blas_threads()
    if device.current() is not None:
        from cellbench.neighbors.torch_exact import torch_knn_blocks

        yield from torch_knn_blocks(X, k, include_self, device.current(), workers, return_distance)
        return
    if symmetric.fits(n, k):
        # tile rows follow block_bytes down (tests force many tiles), never above BLOCK_ROWS
        tile_rows = int(min(symmetric.BLOCK_ROWS, max(16, block_bytes // (4096 * 9) // 16 * 16)))
        impl = symmetric.SymmetricExactKnn(X, k, include_self, return_distance, tile_rows)
        try:
            for block in impl.blocks(workers):
                yield block
                done = block[1]
            return
        except symmetric.TooManyCandidates:
            pass  # masses of near-ties: the row streaming below bounds memory per block
    impl = ExactKnn(X, k, include_self, return_distance)
    step = stream_rows(n, k, X.shape[1], block_bytes)
    yield from map_blocks(impl.block, block_ranges(n - done, step, done), workers)


@dataclass(frozen=True)
class KnnSearch:
    """One name of `KNN_SEARCHES`: a backend (`blocks` searches) or a mode (`resolve` picks one)."""

    description: str
    blocks: BlockSearch | None = None
    resolve: Callable[[int], str] | None = None


#: Every search name, in the order `--knn` lists them. Backends run in `knn_blocks`; modes only
#: choose the clustering graph's search (`resolve_backend`).
KNN_SEARCHES: dict[str, KnnSearch] = {
    "exact": KnnSearch("exact and deterministic (the default)", blocks=exact_knn_blocks),
    "ivf": KnnSearch("seeded faiss inverted file, candidates re-ranked exactly", blocks=ivf_knn_blocks),
    "auto": KnnSearch(
        f"ivf from {AUTO_IVF_CELLS:,} cells on, exact below",
        resolve=lambda n: "ivf" if n >= AUTO_IVF_CELLS else "exact",
    ),
    "scanpy": KnnSearch(
        "the reference's own graph: scanpy.pp.neighbors with pynndescent (approximate)",
        resolve=lambda n: "scanpy",
    ),
}
#: Names `knn(backend=...)` accepts.
KNN_BACKENDS = tuple(name for name, search in KNN_SEARCHES.items() if search.blocks is not None)
#: The clustering graph's search modes (`cellbench clustering --knn`).
KNN_MODES = tuple(KNN_SEARCHES)


def knn_mode(mode: str | None = None) -> str:
    """The clustering graph's search mode, normalised: `mode` if given, else "exact"."""
    mode = (mode or "").strip().lower() or "exact"
    if mode not in KNN_MODES:
        raise ValueError(f"unknown kNN mode {mode!r}: choose {', '.join(KNN_MODES)}")
    return mode


def resolve_backend(backend: str, n: int, mode: str | None = None) -> str:
    """The search the clustering kNN graph (`scanpy_connectivities`, >= 8192 cells) really uses.

    mode (`knn_mode`): "exact" (the default, also for None): exact. "ivf": the seeded inverted-file
    search. "auto": "ivf" from `AUTO_IVF_CELLS` cells on (atlases where the exact graph takes long),
    exact below. "scanpy": the reference's own graph, scanpy.pp.neighbors with pynndescent
    (approximate; same connectivities as cz-benchmarks). Measured on 100k x 64 synthetic cells
    (benchmarks/results): the reference's pynndescent graph holds 63 % of the exact 15 nearest
    neighbours, and Leiden's ARI on it is 0.035 higher than on the exact graph over five seeds; the
    IVF graph's ARI is within 0.005-0.02 of the reference's. Only the clustering graph switches: on
    entropy_per_cell the IVF neighbours are biased (-0.07 at 100k; the probed cells follow batch
    shifts), so large-atlas entropy uses `cellbench.metrics.entropy_sampled` instead. A backend other
    than "exact" named by the caller is used as is.
    """
    if backend != "exact":
        return backend
    name = knn_mode(mode)
    search = KNN_SEARCHES[name]
    return search.resolve(n) if search.resolve is not None else name


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
    X = as_float64(X)
    check_k(X.shape[0], k, include_self)
    search = KNN_SEARCHES.get(backend)
    if search is None or search.blocks is None:
        raise ValueError(f"unknown kNN backend {backend!r} (known: {', '.join(KNN_BACKENDS)})")
    yield from search.blocks(X, k, include_self, block_bytes, workers, return_distance)
