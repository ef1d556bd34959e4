"""cellbench.neighbors: exact kNN against brute force, determinism and ties, scanpy/umap/sklearn agreement."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from cellbench.leiden import graph_from_connectivities, leiden
from cellbench.neighbors import (
    KNN_BACKENDS,
    knn,
    knn_blocks,
    knn_subset,
    scanpy_connectivities,
    sklearn_brute_knn,
    squared_distance_blocks,
    umap_connectivities,
)
from cellbench.neighbors.row_bounds import kmeans_lists

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(PBMC)


@pytest.fixture(scope="module")
def X(pbmc):
    return pbmc.obsm["X_pca"]


def brute_force(X, k, include_self):
    """Neighbours from the full distance matrix, sorted by (distance, index)."""
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    n = len(X)
    if not include_self:
        D[np.arange(n), np.arange(n)] = np.inf
    else:
        D[np.arange(n), np.arange(n)] = -1.0
    order = np.lexsort((np.broadcast_to(np.arange(n), D.shape), D), axis=1)[:, :k]
    dist = np.take_along_axis(D, order, axis=1)
    dist[dist < 0] = 0.0
    return order, dist


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_knn_equals_brute_force(X, k, include_self):
    idx, dist = knn(X, k, include_self=include_self)
    ref_idx, ref_dist = brute_force(X, k, include_self)
    assert idx.shape == (len(X), k) and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-9, atol=1e-9)
    if include_self:
        assert np.array_equal(idx[:, 0], np.arange(len(X))) and np.all(dist[:, 0] == 0)
    else:
        assert not np.any(idx == np.arange(len(X))[:, None])
    assert np.all(np.diff(dist, axis=1) >= 0)


def test_block_size_does_not_change_the_answer(X):
    a_idx, a_dist = knn(X, 20)
    b_idx, b_dist = knn(X, 20, block_bytes=1)  # one row per block
    np.testing.assert_array_equal(a_idx, b_idx)
    np.testing.assert_array_equal(a_dist, b_dist)
    blocks = list(knn_blocks(X, 20, block_bytes=50_000))
    assert len(blocks) > 1
    np.testing.assert_array_equal(np.vstack([b[2] for b in blocks]), a_idx)
    np.testing.assert_array_equal(np.vstack([b[3] for b in blocks]), a_dist)


def test_ties_break_by_index_and_self_stays_first(X):
    # every real cell twice: each cell has a zero-distance twin, which must come right after itself
    Y = np.vstack([X[:100], X[:100]])
    idx, dist = knn(Y, 4)
    n = 100
    np.testing.assert_array_equal(idx[:, 0], np.arange(2 * n))
    twin = np.concatenate([np.arange(n) + n, np.arange(n)])
    np.testing.assert_array_equal(idx[:, 1], twin)
    assert np.all(dist[:, :2] == 0)
    # further neighbours come in pairs (j, j + n) at equal distance, lower index first
    assert np.all(idx[:, 2] < idx[:, 3]) and np.all(dist[:, 2] == dist[:, 3])
    idx_ns, _ = knn(Y, 1, include_self=False)
    np.testing.assert_array_equal(idx_ns[:, 0], twin)


def test_knn_validates_k_and_backend(X):
    with pytest.raises(ValueError, match="k=701"):
        knn(X, 701)
    with pytest.raises(ValueError, match="k=700"):
        knn(X, 700, include_self=False)
    with pytest.raises(ValueError, match="unknown kNN backend"):
        knn(X, 5, backend="nope")
    assert "exact" in KNN_BACKENDS


@pytest.mark.parametrize("include_self", [True, False])
def test_knn_subset_equals_the_full_search_on_its_rows(X, include_self):
    rows = np.sort(np.random.default_rng(0).choice(len(X), 90, replace=False))
    idx, dist = knn(X, 15, include_self=include_self)
    blocks = list(knn_subset(X, 15, rows, include_self=include_self, block_bytes=1))
    assert [b[0] for b in blocks] == list(range(0, 90, 16)) and blocks[-1][1] == 90
    np.testing.assert_array_equal(np.vstack([b[2] for b in blocks]), idx[rows])
    np.testing.assert_array_equal(np.vstack([b[3] for b in blocks]), dist[rows])
    sets = np.vstack([b[2] for b in knn_subset(X, 15, rows, include_self=include_self, return_distance=False)])
    np.testing.assert_array_equal(sets, np.sort(idx[rows], axis=1))
    with pytest.raises(ValueError, match="k=701"):
        next(knn_subset(X, 701, rows))


def test_squared_distance_blocks_match_cdist(X):
    ref = cdist(X.astype(np.float64), X.astype(np.float64), "sqeuclidean")
    got = np.vstack([b for _, _, b in squared_distance_blocks(X, block_bytes=100_000)])
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    assert np.all(np.diag(got) == 0)


def test_sklearn_brute_knn_is_bit_identical_to_sklearn(X):
    from sklearn.neighbors import NearestNeighbors

    d_sk, i_sk = NearestNeighbors(n_neighbors=16, algorithm="brute").fit(X).kneighbors(X)
    idx, dist = sklearn_brute_knn(X, 16, float32_input=True)
    np.testing.assert_array_equal(idx, i_sk)
    np.testing.assert_array_equal(dist, d_sk)
    X64 = X.astype(np.float64) * 1.1
    d_sk, i_sk = NearestNeighbors(n_neighbors=16, algorithm="brute").fit(X64).kneighbors(X64)
    idx, dist = sklearn_brute_knn(X64, 16, float32_input=False)
    np.testing.assert_array_equal(idx, i_sk)
    np.testing.assert_allclose(dist, d_sk, rtol=1e-12, atol=1e-12)


def test_umap_connectivities_match_umap(X):
    umap_ = pytest.importorskip("umap.umap_")
    idx, dist = sklearn_brute_knn(X, 15, float32_input=True)
    dist[:, 0] = 0
    ref, _, _ = umap_.fuzzy_simplicial_set(sp.coo_matrix((len(X), 1)), 15, None, None, knn_indices=idx,
                                                   knn_dists=dist)
    ref = ref.tocsr()
    ref.sort_indices()
    got = umap_connectivities(idx, dist, 15)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.indptr, ref.indptr)
    np.testing.assert_array_equal(got.indices, ref.indices)
    # float32 precision: umap's exp is libm's expf, ours is the correctly rounded one (1 ulp, rarely)
    np.testing.assert_allclose(got.data, ref.data, rtol=2.5e-7, atol=0)
    assert np.mean(got.data == ref.data) > 0.999


@pytest.mark.slow
def test_scanpy_connectivities_and_leiden_identical_to_scanpy(pbmc, X):
    """The whole graph as scanpy builds it (pp.neighbors + tl.leiden igraph), on the reference data."""
    sc = pytest.importorskip("scanpy")
    b = ad.AnnData(X=X.copy())
    sc.pp.neighbors(b, use_rep="X", random_state=42)
    sc.tl.leiden(b, flavor="igraph", n_iterations=2, random_state=42)
    ref = b.obsp["connectivities"].tocsr()
    ref.sort_indices()
    conn, _, _ = scanpy_connectivities(X)
    np.testing.assert_array_equal(conn.indptr, ref.indptr)
    np.testing.assert_array_equal(conn.indices, ref.indices)
    np.testing.assert_allclose(conn.data, ref.data, rtol=2.5e-7, atol=0)
    clusters = leiden(conn, resolution=1.0, n_iterations=2, seed=42)
    np.testing.assert_array_equal(clusters.astype(str), b.obs["leiden"].astype(str).to_numpy())


def test_scanpy_connectivities_float32_detection_and_small_n(X):
    a, _, _ = scanpy_connectivities(X)
    b, _, _ = scanpy_connectivities(X.astype(np.float64))  # same values: detected as float32 data
    assert (a != b).nnz == 0
    # fewer cells than neighbours: scanpy's 1 + n // 2
    conn, idx, _ = scanpy_connectivities(X[:10])
    assert idx.shape == (10, 6) and conn.shape == (10, 10)


def test_connectivities_are_symmetric_without_self_loops(X):
    conn, _, _ = scanpy_connectivities(X)
    assert abs(conn - conn.T).max() == 0
    assert conn.diagonal().max() == 0
    assert conn.data.min() > 0 and conn.data.max() <= 1


def test_graph_has_each_edge_twice_like_scanpy(X):
    conn, _, _ = scanpy_connectivities(X)
    g = graph_from_connectivities(conn)
    assert g.vcount() == conn.shape[0] and g.ecount() == conn.nnz
    assert not g.is_directed()
    np.testing.assert_allclose(sorted(g.es["weight"]), np.sort(conn.data.astype(np.float64)))


def test_leiden_is_seeded_and_restores_igraph_rng(X):
    import random

    import igraph as ig

    conn, _, _ = scanpy_connectivities(X)
    a = leiden(conn, seed=42)
    b = leiden(conn, seed=42)
    np.testing.assert_array_equal(a, b)
    random.seed(0)
    first = random.random()
    random.seed(0)
    leiden(conn, seed=1)
    assert random.random() == first  # the global RNG was neither used nor replaced
    assert ig.Graph.Erdos_Renyi(n=5, m=3) is not None


def test_leiden_does_not_import_matplotlib_and_leaves_it_importable():
    """igraph is imported without its plotting backend (0.5-0.8 s); matplotlib still imports after."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, scipy.sparse as sp\n"
        "from cellbench.leiden import leiden\n"
        "conn = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]], float))\n"
        "print(len(leiden(conn)), 'matplotlib' in sys.modules)\n"
        "import matplotlib.pyplot\n"
        "print(matplotlib.pyplot.figure is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["4", "False", "True"]


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_neighbour_sets_without_distances(X, k, include_self):
    idx, dist = knn(X, k, include_self=include_self, return_distance=False)
    assert dist is None
    ref_idx, _ = brute_force(X, k, include_self)
    np.testing.assert_array_equal(idx, np.sort(ref_idx, axis=1))
    # duplicates: the tie at the k-th place still breaks by index
    Y = np.vstack([X[:50], X[:50], X[:50]])
    idx, _ = knn(Y, 2, include_self=include_self, return_distance=False)
    ref_idx, _ = brute_force(Y, 2, include_self)
    np.testing.assert_array_equal(idx, np.sort(ref_idx, axis=1))


# --------------------------------------------------------------------------------------------------
# the symmetric-tile search (cellbench.neighbors.symmetric) with many lists, blocks and tiles
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["numpy", "compiled"])
def small_tiles(monkeypatch, request):
    """Lists of ~50 cells, tiles of 16 rows x 32 columns: every code path of the tiles runs on pbmc,
    tested by numpy or by the compiled passes (`tile_scan`, with outputs that must grow, and the
    first half of each block's decision, `block_decision`)."""
    from cellbench.neighbors import block_decision, row_bounds, symmetric, tile_scan

    monkeypatch.setattr(symmetric, "SCAN_MIN_CELLS", 0 if request.param == "compiled" else 10**9)
    monkeypatch.setattr(tile_scan, "START_CAPACITY", 4)
    monkeypatch.setattr(block_decision, "CACHED_MIN_CELLS_X_K", 0)
    monkeypatch.setattr(block_decision, "UNCACHED_MIN_CELLS_X_K", 0)

    monkeypatch.setattr(row_bounds, "LIST_CELLS", 50)
    monkeypatch.setattr(row_bounds, "BOUND_COLUMNS", 64)
    monkeypatch.setattr(row_bounds, "BOUND_PER_K", 2)
    monkeypatch.setattr(symmetric, "TILE_BLOCKS", 2)
    monkeypatch.setattr(symmetric, "SCAN_TILE_BLOCKS", 2)
    return symmetric


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_symmetric_tiles_equal_brute_force(small_tiles, X, k, include_self):
    ref_idx, ref_dist = brute_force(X, k, include_self)
    impl = small_tiles.SymmetricExactKnn(np.asarray(X, np.float64), k, include_self, True, block_rows=16)
    assert len(kmeans_lists(impl.left[:, : impl.d])[0]) > 5
    assert (impl.scanner is not None) == (small_tiles.SCAN_MIN_CELLS == 0)
    for workers in (1, 2):
        blocks = list(knn_blocks(X, k, include_self=include_self, block_bytes=1, workers=workers))
        assert len(blocks) == -(-len(X) // 16)
        np.testing.assert_array_equal(np.vstack([b[2] for b in blocks]), ref_idx)
        np.testing.assert_allclose(np.vstack([b[3] for b in blocks]), ref_dist, rtol=1e-9, atol=1e-9)
    sets, _ = knn(X, k, include_self=include_self, return_distance=False, block_bytes=1)
    np.testing.assert_array_equal(sets, np.sort(ref_idx, axis=1))


def test_kth_smallest_equals_numpys_partition():
    """The branch-free selection of block_decision: numpy's k-th smallest for every k, on runs short
    (insertion sort only) and long, with ties, -inf (the cell itself) and all-equal values."""
    from cellbench.neighbors import block_decision

    block_decision.compiled()
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 16, 17, 40, 333, 1200):
        for kind in ("normal", "ties", "equal"):
            values = {"normal": rng.normal(size=m), "ties": rng.integers(0, 4, size=m).astype(float),
                      "equal": np.full(m, 2.5)}[kind]
            values[rng.integers(m)] = -np.inf
            for k in sorted({1, min(2, m), m // 3 + 1, m // 2 + 1, m}):
                work = np.concatenate([values, rng.normal(size=3)])  # values beyond m are not looked at
                got = block_decision.kth_smallest(work, m, k, np.empty(m + 3))
                assert got == np.partition(values, k - 1)[k - 1], (m, kind, k)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_block_decision_gives_numpys_survivors(small_tiles, X, k, include_self):
    """The compiled first half of a block's decision: numpy's survivors, bounds and sure flags, to the bit."""
    from cellbench.neighbors import block_decision
    from cellbench.neighbors.exact import padded

    Y = np.vstack([X, X[:200]])  # exact ties too
    impl = small_tiles.SymmetricExactKnn(np.asarray(Y, np.float64), k, include_self, False, block_rows=16)
    seen = []
    real_finish = impl._finish

    def check(block, pieces):
        r0 = block * impl.rows
        c = min(impl.n, r0 + impl.rows) - r0
        want = impl._survivors(r0, c, pieces)
        low_pad, _ = padded(want[0], want[2], c, np.inf)
        sure = want[3] < np.partition(low_pad, k - 1, axis=1)[:, k - 1][want[0]]
        got = block_decision.survivors(pieces, impl.sq, r0, c, k, 2 * impl.gamma, include_self, True)
        for a, b in zip((*want, sure), got):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        seen.append(block)
        return real_finish(block, pieces)

    impl._finish = check
    list(impl.blocks(2))
    assert len(seen) == -(-len(Y) // 16)


def test_symmetric_tiles_break_ties_by_index(small_tiles, X):
    # three copies of each cell: ties at zero distance and at every further distance
    Y = np.vstack([X[:120], X[:120], X[:120]])
    for include_self in (True, False):
        for k in (2, 5):
            ref_idx, ref_dist = brute_force(Y, k, include_self)
            idx, dist = knn(Y, k, include_self=include_self, block_bytes=1)
            np.testing.assert_array_equal(idx, ref_idx)
            np.testing.assert_allclose(dist, ref_dist, rtol=1e-9, atol=1e-9)
            sets, _ = knn(Y, k, include_self=include_self, return_distance=False, block_bytes=1)
            np.testing.assert_array_equal(sets, np.sort(ref_idx, axis=1))


def test_symmetric_tiles_hand_over_to_row_streaming_when_candidates_pile_up(small_tiles, monkeypatch, X):
    """Past CANDIDATE_BYTES the search goes on from the next row with the streaming search, still exact."""
    monkeypatch.setattr(small_tiles, "fits", lambda n, k: True)
    monkeypatch.setattr(small_tiles, "CANDIDATE_BYTES", small_tiles.PAIR_BYTES * 6000)
    raised = []
    real = small_tiles.SymmetricExactKnn.blocks

    def spy(self, workers):
        yielded = 0
        try:
            for block in real(self, workers):
                yielded += 1
                yield block
        except small_tiles.TooManyCandidates:
            raised.append(yielded)
            raise

    monkeypatch.setattr(small_tiles.SymmetricExactKnn, "blocks", spy)
    blocks = list(knn_blocks(X, 30, block_bytes=1))
    assert raised and 0 < raised[0] < len(blocks)  # some symmetric blocks came first, then the hand-over
    starts = [b[0] for b in blocks]
    assert starts == sorted(starts) and blocks[-1][1] == len(X)
    ref_idx, ref_dist = brute_force(X, 30, True)
    np.testing.assert_array_equal(np.vstack([b[2] for b in blocks]), ref_idx)
    np.testing.assert_allclose(np.vstack([b[3] for b in blocks]), ref_dist, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("width", [1, 7, 16, 61, 256])
def test_tile_scan_writes_numpys_candidates(monkeypatch, width, sparse):
    """The register-tile loop (6 x 16 products tested in registers, packed panels with padding,
    arrays grown and the tile made again on overflow) against the numpy definition: every product at
    most its row's bound (row side) or its column's bound from `first` on (column side, per owner
    block), as held pairs, each row's columns and each column's rows ascending (what the searches'
    stable grouping by row needs). Ties with the bound are in, NaN never; widths below, at and off a
    multiple of 16 and rows off a multiple of 6 (the padding never yields a candidate); a row with
    every column in; a few candidates only, fewer than the arrays' first length. Integer-valued
    inputs make every product exact, whatever order sums it, and bounds tie with many."""
    from cellbench.neighbors import tile_scan

    monkeypatch.setattr(tile_scan, "START_CAPACITY", 4)
    monkeypatch.setattr(tile_scan, "CHUNK_PANELS", 5)  # several chunks of row panels
    rng = np.random.default_rng(width)
    rows, dim, owner_rows = 70, 5, 16
    left = rng.integers(-8, 9, size=(rows, dim)).astype(np.float32)  # small integers: every product
    right_t = rng.integers(-8, 9, size=(dim, width)).astype(np.float32)  # exact, ties plenty
    S = left @ right_t
    row_bound = np.quantile(S, 0.1, axis=1, method="lower").astype(np.float32)  # products: ties
    col_bound = np.quantile(S, 0.1, axis=0, method="lower").astype(np.float32)
    row_bound[3] = np.inf  # a whole row in
    if sparse:  # a handful of candidates: fewer than the arrays' first length
        row_bound[:] = -np.inf
        row_bound[0] = S[0].min()
        col_bound[:] = -np.inf
    left[9, :] = np.nan  # a row of NaN products: never a candidate
    S = left @ right_t
    first = width // 3
    scanner = tile_scan.TileScanner(max(width, 16), owner_rows=owner_rows)
    row_side, col_sides = scanner.tile(left, right_t, row_bound, col_bound, first, row_offset=1000, col_offset=64)

    def by_row(r, c, v):
        """Grouped by row as the searches do (stable); checks the columns already ascend in each row."""
        order = np.argsort(r, kind="stable")
        r, c, v = r[order], c[order], v[order]
        assert np.all((np.diff(r) > 0) | (np.diff(c) > 0))
        return r, c, v

    i, j = np.nonzero(S <= row_bound[:, None])
    assert [x.dtype for x in row_side] == [np.int16, np.int32, np.float32]
    r, c, v = by_row(*row_side)
    np.testing.assert_array_equal(r, i)
    np.testing.assert_array_equal(c, j + 64)
    np.testing.assert_array_equal(v, S[i, j])
    mask = S <= col_bound[None, :]
    mask[:, :first] = False
    j, i = np.nonzero(mask.T)  # by column, then row
    owner = j // scanner.owner_rows
    assert len(col_sides) == -(-width // scanner.owner_rows)
    for o, side in enumerate(col_sides):
        r, c, v = by_row(*side)
        keep = owner == o
        np.testing.assert_array_equal(r, j[keep] - o * scanner.owner_rows)
        np.testing.assert_array_equal(c, i[keep] + 1000)
        np.testing.assert_array_equal(v, S[i[keep], j[keep]])
    assert 0 < row_side[0].size <= 4 if sparse else row_side[0].size > width and sum(len(side[0]) for side in col_sides)


def test_tile_scan_packs_panels_with_zero_padding():
    """Row panels of 6 and column panels of 16, each k-major: the layout the register tile reads."""
    from cellbench.neighbors import tile_scan

    left = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    rows = tile_scan.pack_rows(left).reshape(2, 3, 6)
    np.testing.assert_array_equal(rows[0], left[:6].T)
    np.testing.assert_array_equal(rows[1], np.hstack([left[6:].T, np.zeros((3, 4), np.float32)]))
    right_t = np.arange(3 * 20, dtype=np.float32).reshape(3, 20)
    cols = tile_scan.pack_columns(right_t).reshape(2, 3, 16)
    np.testing.assert_array_equal(cols[0], right_t[:, :16])
    np.testing.assert_array_equal(cols[1], np.hstack([right_t[:, 16:], np.zeros((3, 12), np.float32)]))


def test_tile_scan_packs_the_transpose_of_row_major_operands_the_same():
    """The searches pack right.T (a view of a row-major array): the same panels as a contiguous copy."""
    from cellbench.neighbors import tile_scan

    right = np.random.default_rng(0).normal(size=(37, 5)).astype(np.float32)
    np.testing.assert_array_equal(tile_scan.pack_columns(right.T), tile_scan.pack_columns(np.ascontiguousarray(right.T)))


@pytest.mark.parametrize("m,w", [(1, 1), (7, 33), (13, 48)])
def test_all_products_are_numpys_products(m, w):
    """The bound search's products by the register tiles: numpy's products on inputs whose products are
    exact (small integers), padding rows and columns 0."""
    from cellbench.neighbors import tile_scan

    rng = np.random.default_rng(m)
    left = rng.integers(-8, 9, size=(m, 5)).astype(np.float32)
    right = rng.integers(-8, 9, size=(w, 5)).astype(np.float32)
    out = tile_scan.all_products(left, tile_scan.pack_columns(right.T), 5)
    assert out.shape == (-(-m // 6) * 6, -(-w // 16) * 16)
    np.testing.assert_array_equal(out[:m, :w], left @ right.T)
    assert not out[m:].any() and not out[:, w:].any()


def test_tile_scan_needs_owner_blocks_of_whole_panels():
    from cellbench.neighbors.tile_scan import TileScanner, pack_columns

    with pytest.raises(ValueError, match="multiple of 16"):
        TileScanner(64, owner_rows=24)
    right_t = np.ones((3, 64), np.float32)
    none = np.full(64, -np.inf, np.float32)
    with pytest.raises(ValueError, match="col_offset 8 is not a multiple of 16"):  # no packed panel starts there
        TileScanner(64).tile(np.ones((4, 3), np.float32), right_t[:, 8:], none[:4], none[:56], 56, col_offset=8,
                             packed_columns=pack_columns(right_t))


def test_symmetric_tiles_only_when_their_candidates_fit():
    from cellbench.neighbors import symmetric

    assert symmetric.fits(100_000, 200) and symmetric.fits(1_000_000, 15) and symmetric.fits(1_000_000, 200)
    assert not symmetric.fits(4_000_000, 200)  # 4M x 200 streams by rows instead


def test_precompile_fills_numbas_cache_for_the_search(tmp_path):
    """The image build runs `symmetric.precompile()`: afterwards a search large enough for the compiled
    loops (30k cells, k = 200) loads both from numba's cache and compiles nothing."""
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    subprocess.run([sys.executable, "-c", "from cellbench.neighbors.symmetric import precompile; precompile()"],
                   env=env, check=True)
    assert len(list((tmp_path / "numba").rglob("*.nbi"))) >= 3  # scan, survivors, kth_smallest
    search = ("import numpy as np; from cellbench.neighbors import knn; "
              "X = np.random.default_rng(1).normal(size=(30000, 16)); knn(X, 200, include_self=True, return_distance=False)")
    out = subprocess.run([sys.executable, "-c", search], env={**env, "NUMBA_DEBUG_CACHE": "1"},
                         capture_output=True, text=True, check=True)
    log = out.stdout + out.stderr
    assert "tile_scan" in log and "_survivors" in log and "data saved" not in log
    assert log.count("data loaded") >= 2


def test_kth_per_row_equals_numpys_partition():
    """The bounds' compiled selection (a sampled pivot, the values at most it, then a selection among
    those): numpy's k-th smallest of every row, with ties, infinities, rows whose pivot keeps fewer
    than k values (the whole row is selected from then), k = 1 and k = the row's length."""
    from cellbench.neighbors import block_decision

    rng = np.random.default_rng(5)
    for w, k in ((4096, 200), (4096, 300), (2500, 15), (300, 200), (200, 200), (5000, 1), (33, 7)):
        values = rng.normal(size=(40, w)).astype(np.float32)
        values[1] = rng.integers(0, 3, size=w)  # ties with the pivot and the k-th
        values[2, ::2] = -np.inf
        values[3, 0] = np.inf
        values[4] = 1.0
        values[4, :: max(1, w // block_decision.PIVOT_SAMPLE)] = -1.0  # the sample alone below: fallback when k large
        got = block_decision.kth_per_row(np.ascontiguousarray(values), k)
        np.testing.assert_array_equal(got, np.partition(values, k - 1, axis=1)[:, k - 1], err_msg=f"w={w} k={k}")
