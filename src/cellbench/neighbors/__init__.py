"""The one place nearest neighbours and pairwise distances are computed.

Everything here is exact euclidean geometry done in row blocks (with BLAS, or with the compiled
register tiles of `tile_scan` for the large searches' products): memory stays at one
`rows x n` block per thread, never `n x n`, and blocks run in parallel on as many Python threads as
the BLAS may use (the CLI's --threads), each with single-threaded BLAS, over a partition that
depends only on the data size. So results never depend on the thread count.

Where to look (each module imports only the ones above it in this list):
- `blocks`: the row partition and thread map (`block_ranges`, `rows_per_block`, `map_blocks`) and
  float64 distance blocks (`squared_distance_blocks`, also used by the silhouette metrics).
- `exact`: the exact search by streamed row blocks (`ExactKnn`): float32 GEMM candidates within a
  proven rounding margin, the deciding distances recomputed as sum((x - y)^2) in float64, ranked by
  (distance, index). `knn_subset`: the same for a subset of query cells (sampled metrics).
- The compiled loops, compiled by `_jit` and kept in numba's disk cache where it can: `tile_scan`
  (the products made in registers and tested against the bounds there) and `block_decision` (each
  row's k-th smallest, and the first half of a block's decision).
- `row_bounds`: each row's bound on its k-th distance from a search among nearby cells (k-means
  lists), which the symmetric search's tiles test against.
- `symmetric`: the exact all-cells search from symmetric tiles (each product computed once, for
  both its cells); `exact` takes over where its held candidates would not fit.
- `query`: the exact search of query rows against another set of cells (the kNN classifier).
- `ivf`: a seeded faiss inverted-file search for atlases of millions of cells.
- `backends`: the one registry of searches (`KNN_SEARCHES`: backends "exact", "ivf"; modes "auto",
  "scanpy" that `resolve_backend` turns into one) and `knn` / `knn_blocks`, which dispatch to it.
- `scanpy_graph`: scanpy's neighbourhood graph reproduced (`sklearn_brute_knn`,
  `umap_connectivities`, `scanpy_connectivities`).
Nothing here reads environment variables: `cellbench clustering --knn` (or CELLBENCH_KNN, read by
the CLI) passes the clustering graph's mode down. Measured accuracy and speed: benchmarks/results.
"""

from cellbench.neighbors.backends import (
    AUTO_IVF_CELLS,
    KNN_BACKENDS,
    KNN_MODES,
    KNN_SEARCHES,
    KnnSearch,
    knn,
    knn_blocks,
    knn_mode,
    resolve_backend,
)
from cellbench.neighbors.blocks import (
    DEFAULT_BLOCK_BYTES,
    block_ranges,
    map_blocks,
    rows_per_block,
    squared_distance_blocks,
)
from cellbench.neighbors.exact import knn_subset
from cellbench.neighbors.scanpy_graph import (
    SCANPY_EXACT_LIMIT,
    scanpy_connectivities,
    sklearn_brute_knn,
    umap_connectivities,
)

__all__ = [
    "AUTO_IVF_CELLS",
    "DEFAULT_BLOCK_BYTES",
    "KNN_BACKENDS",
    "KNN_MODES",
    "KNN_SEARCHES",
    "SCANPY_EXACT_LIMIT",
    "KnnSearch",
    "block_ranges",
    "knn",
    "knn_blocks",
    "knn_mode",
    "knn_subset",
    "map_blocks",
    "resolve_backend",
    "rows_per_block",
    "scanpy_connectivities",
    "sklearn_brute_knn",
    "squared_distance_blocks",
    "umap_connectivities",
]
