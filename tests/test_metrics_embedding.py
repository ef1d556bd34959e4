"""Embedding metrics by hand: silhouettes, entropy per cell, sequential alignment, ARI/NMI, Leiden."""

from __future__ import annotations

import math
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from cellbench.metrics.adjusted_rand_index import adjusted_rand_index
from cellbench.metrics.entropy_per_cell import entropy_per_cell, entropy_per_cell_values
from cellbench.metrics.normalized_mutual_info import normalized_mutual_info
from cellbench.metrics.sequential_alignment import (
    adaptive_k_values,
    mean_neighbor_time_distance,
    random_baseline,
    sequential_alignment,
)
from cellbench.metrics.silhouette_batch import silhouette_batch
from cellbench.metrics.silhouette_label import silhouette_label, silhouette_samples

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(DATA / "pbmc68k_reduced.h5ad")


# ---------------------------------------------------------------- silhouette


def test_silhouette_two_blobs_by_hand():
    # label a at 0 and 1, label b at 10 and 11 (one dimension)
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array(["a", "a", "b", "b"])
    # cell at 0: a = 1, b = (10 + 11) / 2; cell at 1: a = 1, b = (9 + 10) / 2; symmetric for b
    expected = np.array([(10.5 - 1) / 10.5, (9.5 - 1) / 9.5, (9.5 - 1) / 9.5, (10.5 - 1) / 10.5])
    np.testing.assert_allclose(silhouette_samples(X, labels), expected, rtol=1e-6)
    assert silhouette_label(X, labels) == pytest.approx((expected.mean() + 1) / 2, rel=1e-6)
    assert silhouette_label(X, labels, rescale=False) == pytest.approx(expected.mean(), rel=1e-6)


def test_silhouette_singleton_label_scores_zero_and_one_label_scores_half():
    X = np.array([[0.0], [1.0], [5.0]])
    s = silhouette_samples(X, ["a", "a", "b"])
    assert s[2] == 0.0  # a singleton's silhouette is 0 (sklearn / scib convention)
    assert s[0] == pytest.approx((5.0 - 1.0) / 5.0)
    assert silhouette_label(X, ["a", "a", "a"]) == 0.5  # every s is NaN -> 0, rescaled


def test_silhouette_equals_sklearn_on_real_data(pbmc):
    from sklearn.metrics import silhouette_samples as sk_samples

    X = pbmc.obsm["X_pca"]
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    np.testing.assert_allclose(silhouette_samples(X, labels), sk_samples(X.astype(np.float64), labels),
                               rtol=0, atol=1e-6)


def test_silhouette_rounds_float64_input_to_float32_like_the_reference(pbmc):
    X = pbmc.obsm["X_pca"].astype(np.float64) + 1e-9  # float64 detail the reference never sees
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    assert silhouette_label(X, labels) == silhouette_label(X.astype(np.float32), labels)


def test_silhouette_does_not_depend_on_threads(pbmc):
    from threadpoolctl import threadpool_limits

    X = pbmc.obsm["X_pca"]
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    # the partition into blocks (fixed by the data size) fixes every product: threads never matter
    values = set()
    for threads in (1, 2, 3):
        with threadpool_limits(threads):
            values.add(silhouette_label(X, labels))
    assert len(values) == 1
    # another tiling (one tile, or many with label runs split across tiles) changes float32 rounding only
    (value,) = values
    for tile in (16, 100, 5000):
        assert silhouette_label(X, labels, tile=tile) == pytest.approx(value, abs=1e-7)


def test_silhouette_float32_distances_close_to_float64(pbmc):
    from sklearn.metrics import silhouette_score

    X = pbmc.obsm["X_pca"]
    for key in ("bulk_labels", "phase", "louvain"):
        labels = pbmc.obs[key].astype(str).to_numpy()
        exact = (silhouette_score(X.astype(np.float64), labels) + 1) / 2
        assert silhouette_label(X, labels) == pytest.approx(exact, abs=1e-7)


def test_silhouette_batch_by_hand():
    # group g1: batches interleaved on a line; group g2: a single batch (skipped);
    # group g3: two cells in two batches (as many batches as cells: skipped)
    X = np.array([[0.0], [1.0], [2.0], [3.0], [50.0], [51.0], [90.0], [99.0]])
    labels = np.array(["g1", "g1", "g1", "g1", "g2", "g2", "g3", "g3"])
    batch = np.array(["x", "y", "x", "y", "x", "x", "x", "y"])
    s = silhouette_samples(X[:4], batch[:4])
    # by hand, cell at 0 (batch x): a = 2, b = mean(1, 3) = 2 -> s = 0
    assert s[0] == pytest.approx(0.0, abs=1e-6)
    # cell at 1 (batch y): a = |1 - 3| = 2, b = mean(1, 1) = 1 -> s = (1 - 2) / 2 = -0.5
    assert s[1] == pytest.approx(-0.5)
    expected = np.mean(1 - np.abs(s))
    assert silhouette_batch(X, labels, batch) == pytest.approx(expected, rel=1e-6)


def test_silhouette_batch_is_mean_of_group_means(pbmc):
    from sklearn.metrics import silhouette_samples as sk_samples

    X = pbmc.obsm["X_pca"].astype(np.float64)
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    batch = pbmc.obs["phase"].astype(str).to_numpy()
    means = []
    for group in np.unique(labels):
        m = labels == group
        nb = len(np.unique(batch[m]))
        if nb == 1 or nb == m.sum():
            continue
        means.append(np.mean(1 - np.abs(sk_samples(X[m], batch[m]))))
    assert silhouette_batch(X, labels, batch) == pytest.approx(np.mean(means), abs=1e-7)


def test_silhouette_batch_undefined_without_mixed_groups():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert math.isnan(silhouette_batch(X, ["a", "a", "b", "b"], ["x", "x", "y", "y"]))


# ---------------------------------------------------------------- entropy per cell


def test_entropy_known_values():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    # k = min(200, 4) = 4: every neighbourhood is the whole data, two batches half/half -> H = 1
    assert entropy_per_cell(X, ["x", "y", "x", "y"]) == pytest.approx(1.0)
    # three batches with shares 2/4, 1/4, 1/4: H = -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) / ln 3
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    assert entropy_per_cell(X, ["x", "x", "y", "z"]) == pytest.approx(h)
    # two far-apart groups, each one batch, k = 2: every neighbourhood is pure -> H = 0
    Y = np.array([[0.0], [0.1], [100.0], [100.1]])
    assert entropy_per_cell(Y, ["x", "x", "y", "y"], k=2) == 0.0
    # a single batch has no entropy scale (ln 1 = 0): undefined, as in the reference
    assert math.isnan(entropy_per_cell(X, ["x"] * 4))


def test_entropy_equals_brute_force_on_real_data(pbmc):
    X = pbmc.obsm["X_pca"].astype(np.float64)
    batch = pbmc.obs["phase"].astype(str).to_numpy()
    D = cdist(X, X)
    D[np.arange(len(X)), np.arange(len(X))] = -1  # the cell itself first
    nbrs = np.argsort(D, axis=1, kind="stable")[:, :200]
    cats = np.unique(batch)
    p = np.stack([(batch[nbrs] == c).mean(axis=1) for c in cats], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.where(p > 0, p * np.log(p), 0), axis=1) / np.log(len(cats))
    np.testing.assert_allclose(entropy_per_cell_values(X, batch), h, rtol=0, atol=1e-12)


def test_entropy_counts_few_and_many_batches_to_the_same_bits(monkeypatch):
    """A comparison pass per batch (few batches) and one bincount (many) count the same shares."""
    import importlib

    module = importlib.import_module("cellbench.metrics.entropy_per_cell")  # the module, not the function
    codes = np.random.default_rng(1).integers(0, 7, size=(300, 200)).astype(np.uint8)
    few = module.neighborhood_entropy(codes, 7)
    monkeypatch.setattr(module, "FEW_BATCHES", 0)
    np.testing.assert_array_equal(module.neighborhood_entropy(codes, 7), few)
    assert np.isfinite(few).all() and (few > 0).all()


# ---------------------------------------------------------------- sequential alignment


def test_sequential_alignment_by_hand():
    # cells on a line, time = position: the nearest other cell is one step away in time
    X = np.arange(10, dtype=float)[:, None]
    t = np.arange(10, dtype=float)
    # k = 1: neighbour of cell 0 is 1 (|dt| = 1); for the others both sides tie at 1 -> index order
    assert sequential_alignment(X, t, k=1, normalize=False) == pytest.approx(1.0)
    # k = 2: ends see 1 and 2 (mean 1.5), inner cells see both sides (mean 1)
    assert sequential_alignment(X, t, k=2, normalize=False) == pytest.approx((1.5 * 2 + 1.0 * 8) / 10)
    # all time labels equal: perfectly aligned by definition
    assert sequential_alignment(X, np.zeros(10), k=2) == 1.0
    assert sequential_alignment(X, np.zeros(10), k=2, normalize=False) == 0.0
    with pytest.raises(ValueError, match="at least 11 cells"):
        sequential_alignment(X, t, k=10)


def test_sequential_alignment_normalised_against_seeded_baseline():
    X = np.arange(10, dtype=float)[:, None]
    t = np.arange(10, dtype=float)
    D = sequential_alignment(X, t, k=2, normalize=False)
    B = random_baseline(t, 2, seed=42)
    assert sequential_alignment(X, t, k=2, seed=42) == pytest.approx(min(1.0, max(0.0, 1 - D / B)))
    assert random_baseline(t, 2, seed=42) == B  # seeded
    # k = n - 1: the baseline is exact, the mean |t_i - t_j| over all ordered pairs i != j
    full = np.abs(t[:, None] - t[None, :]).sum() / (10 * 9)
    assert random_baseline(t, 9, seed=0) == pytest.approx(full, rel=0.05)
    # scrambled time: neighbours' times are unrelated -> score near 0
    rng = np.random.default_rng(0)
    assert sequential_alignment(X, rng.permutation(t), k=2) < 0.5


def test_sequential_alignment_equals_reference_formula_on_real_data(pbmc):
    from sklearn.neighbors import NearestNeighbors

    X = pbmc.obsm["X_pca"].astype(np.float64)
    t = pbmc.obs["n_counts"].to_numpy(dtype=float)
    _, idx = NearestNeighbors(n_neighbors=16).fit(X).kneighbors(X)
    ref = np.mean([np.mean(np.abs(t[i] - t[idx[i, 1:16]])) for i in range(len(X))])
    assert sequential_alignment(X, t, k=15, normalize=False) == pytest.approx(ref, rel=1e-12, abs=1e-9)


def test_adaptive_k_within_bounds(pbmc):
    X = pbmc.obsm["X_pca"].astype(np.float64)
    k = adaptive_k_values(X, 15)
    assert k.min() >= 3 and k.max() <= min(50, len(X) // 2)
    assert len(np.unique(k)) > 1  # density varies on real data
    t = pbmc.obs["n_counts"].to_numpy(dtype=float)
    D = mean_neighbor_time_distance(X, t, k)
    assert D == sequential_alignment(X, t, k=15, normalize=False, adaptive_k=True)


# ---------------------------------------------------------------- ARI / NMI


def test_ari_nmi_known_values():
    a = ["x", "x", "y", "y"]
    assert adjusted_rand_index(a, [1, 1, 0, 0]) == 1.0
    assert normalized_mutual_info(a, [1, 1, 0, 0]) == 1.0
    # independent partitions: NMI 0; ARI of this 2x2 split by hand: -0.5
    assert normalized_mutual_info(a, [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert adjusted_rand_index(a, [0, 1, 0, 1]) == pytest.approx(-0.5)
    # labels are compared as strings: 1 and "1" are the same label
    assert adjusted_rand_index([1, 1, 2, 2], ["1", "1", "2", "2"]) == 1.0


def _labelings():
    """Random labelings of every shape the metrics meet (one class, one cluster, equal and unequal
    counts, more clusters than cells of a class), and pbmc's cell types against its louvain clusters."""
    rng = np.random.default_rng(7)
    for n, n_true, n_pred in [(2, 1, 1), (5, 1, 3), (6, 3, 1), (40, 2, 2), (300, 5, 9), (3000, 11, 30), (20000, 40, 7)]:
        true = rng.integers(0, n_true, n)
        yield true, rng.integers(0, n_pred, n)
        yield true, np.where(rng.random(n) < 0.8, true, rng.integers(0, n_pred, n))  # mostly agreeing
        yield true, true.copy()
    obs = ad.read_h5ad(DATA / "pbmc68k_reduced.h5ad").obs
    yield obs["bulk_labels"].to_numpy(), obs["louvain"].to_numpy()


@pytest.mark.parametrize("case", range(22))
def test_ari_nmi_are_sklearns_bits(case):
    # cellbench computes them without importing sklearn (1.5 s per process); the values must be
    # sklearn's to the last bit, labels compared as strings
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    true, pred = list(_labelings())[case]
    t, p = np.asarray(true).astype(str), np.asarray(pred).astype(str)
    assert adjusted_rand_index(true, pred) == adjusted_rand_score(t, p)
    assert normalized_mutual_info(true, pred) == normalized_mutual_info_score(t, p, average_method="arithmetic")


def test_clustering_metrics_import_no_sklearn():
    import subprocess
    import sys

    code = ("import sys; from cellbench.metrics.adjusted_rand_index import adjusted_rand_index as a; "
            "from cellbench.metrics.normalized_mutual_info import normalized_mutual_info as m; "
            "a([0, 1, 1], [1, 0, 0]); m([0, 1, 1], [1, 0, 0]); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_encode_labels_sorts_categories_as_pandas_does():
    import pandas as pd

    from cellbench.metrics._labels import encode_labels

    labels = np.array(["b", "a", "c", "a"])
    codes, categories = encode_labels(labels)
    assert categories.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(codes, pd.Categorical(labels).codes)
