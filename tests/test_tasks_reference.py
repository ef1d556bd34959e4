"""TASKS.md reference values (cz-benchmarks 0.15.1 on pbmc68k_reduced), baselines, large-n clustering."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from cellbench.baselines import pca_baseline
from cellbench.tasks.clustering import SWEEP_RESOLUTIONS, run_clustering
from cellbench.tasks.embedding import embedding_metrics
from cellbench.tasks.integration import integration_metrics
from cellbench.tasks.sequential import sequential_metrics, time_values
from cellbench.threads import one_blas_thread

DATA = Path(__file__).parent / "data"

# TASKS.md "Reference values": representation obsm X_pca, labels bulk_labels, batch phase
REF_ARI = 0.4283151035913065
REF_NMI = 0.6440463095273833
REF_SILHOUETTE = 0.550262451171875
REF_ENTROPY = 0.5239676829925008
REF_BATCH_SILHOUETTE = 0.8981001973152161


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(DATA / "pbmc68k_reduced.h5ad")


@pytest.fixture(scope="module")
def pbmc_inputs(pbmc):
    return (pbmc.obsm["X_pca"], pbmc.obs["bulk_labels"].astype(str).to_numpy(),
            pbmc.obs["phase"].astype(str).to_numpy())


def values(metrics):
    return {(m.metric_type, tuple(sorted(m.params.items()))): m.value for m in metrics}


def test_clustering_reference_values(pbmc_inputs):
    X, labels, _ = pbmc_inputs
    outcome = run_clustering(X, labels, seed=42)
    got = values(outcome.metrics)
    assert got == pytest.approx({("adjusted_rand_index", ()): REF_ARI, ("normalized_mutual_info", ()): REF_NMI},
                                abs=1e-9)
    assert outcome.n_clusters == 9
    # the representation as float64 (e.g. loaded by the CLI) is the same float32 data: same partition
    again = run_clustering(X.astype(np.float64), labels, seed=42)
    np.testing.assert_array_equal(again.clusters, outcome.clusters)


def test_clustering_resolution_sweep_adds_best_without_touching_defaults(pbmc_inputs):
    X, labels, _ = pbmc_inputs
    outcome = run_clustering(X, labels, seed=42, resolution_sweep=True)
    got = values(outcome.metrics)
    assert got[("adjusted_rand_index", ())] == pytest.approx(REF_ARI, abs=1e-9)
    assert got[("normalized_mutual_info", ())] == pytest.approx(REF_NMI, abs=1e-9)
    best = next(row for row in outcome.sweep if row["resolution"] == outcome.best_resolution)
    assert [row["resolution"] for row in outcome.sweep] == list(SWEEP_RESOLUTIONS)
    assert got[("normalized_mutual_info", (("resolution", "best"),))] == best["normalized_mutual_info"]
    assert got[("adjusted_rand_index", (("resolution", "best"),))] == best["adjusted_rand_index"]
    assert best["normalized_mutual_info"] == max(row["normalized_mutual_info"] for row in outcome.sweep)
    at_one = next(row for row in outcome.sweep if row["resolution"] == 1.0)
    assert at_one["normalized_mutual_info"] == pytest.approx(REF_NMI, abs=1e-12)


def test_embedding_reference_value(pbmc_inputs):
    X, labels, _ = pbmc_inputs
    m = next(m for m in embedding_metrics(X, labels) if m.metric_type == "silhouette_score")
    assert m.params == {}
    assert m.value == pytest.approx(REF_SILHOUETTE, abs=1e-5)


def test_integration_reference_values(pbmc_inputs):
    X, labels, batch = pbmc_inputs
    got = values(integration_metrics(X, labels, batch))
    assert got[("entropy_per_cell", ())] == pytest.approx(REF_ENTROPY, abs=3e-3)
    assert got[("batch_silhouette", ())] == pytest.approx(REF_BATCH_SILHOUETTE, abs=1e-5)


def reference_pca_workflow(counts, n_top_genes=3000, n_comps=50, seed=42):
    """cz-benchmarks' run_standard_scrna_workflow, as it is written (dense matrix, scanpy defaults)."""
    import scanpy as sc

    adata = ad.AnnData(X=counts.toarray())
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes)
    adata = adata[:, adata.var["highly_variable"]].copy()
    sc.pp.pca(adata, n_comps=n_comps, key_added="emb", random_state=seed)
    return adata.obsm["emb"]


@pytest.mark.parametrize("name, layer", [("pbmc68k_reduced", "counts"), ("baron2016_pancreas_human", None)])
def test_pca_baseline_equals_reference_workflow(name, layer):
    adata = ad.read_h5ad(DATA / f"{name}.h5ad")
    counts = adata.X if layer is None else adata.layers[layer]
    got = pca_baseline(counts, seed=42)
    # the reference's arpack answer follows the BLAS thread count; cellbench's is the one-thread answer
    with one_blas_thread():
        ref = reference_pca_workflow(counts)
    assert got["X_pca"].dtype == np.float32 and got["X_pca"].shape == (adata.n_obs, 50)
    np.testing.assert_array_equal(got["X_pca"], ref)
    assert got["n_genes_used"] == min(3000, adata.n_vars)


def test_pca_baseline_rejects_too_many_components():
    adata = ad.read_h5ad(DATA / "pbmc68k_reduced.h5ad")
    with pytest.raises(ValueError, match="n_comps=800"):
        pca_baseline(adata.layers["counts"], n_comps=800)


def test_sequential_on_hsmm_numeric_and_ordered_time():
    import pandas as pd

    hsmm = ad.read_h5ad(DATA / "hsmm_myoblast_timecourse.h5ad")
    X = pca_baseline(hsmm.X, seed=42)["X_pca"]
    t_hours = time_values(hsmm.obs["time_hours"])
    t_ordered = time_values(hsmm.obs["Hours"])
    assert isinstance(hsmm.obs["Hours"].dtype, pd.CategoricalDtype) and hsmm.obs["Hours"].cat.ordered
    np.testing.assert_array_equal(np.unique(t_ordered), np.arange(hsmm.obs["Hours"].cat.categories.size))
    by_hours = values(sequential_metrics(X, t_hours, seed=42))
    by_order = values(sequential_metrics(X, t_ordered, seed=42))
    # the four time points are 24 h apart, so hours and ranks give the same normalised score
    assert by_hours == pytest.approx(by_order, abs=1e-12)
    score = by_hours[("sequential_alignment", ())]
    assert 0.0 < score < 1.0
    adaptive = values(sequential_metrics(X, t_hours, adaptive_k=True, seed=42))
    assert ("sequential_alignment", (("adaptive_k", True), ("k", 15))) in adaptive


def test_clustering_at_8192_cells_and_more_uses_exact_knn():
    """scanpy switches to pynndescent (and crashes today) at >= 8192 cells; cellbench stays exact."""
    from sklearn.neighbors import NearestNeighbors

    from cellbench.neighbors import scanpy_connectivities

    pap = ad.read_h5ad(DATA / "papalexi2021_thp1_crispr_lowmoi.h5ad")
    assert pap.n_obs >= 8192
    X = pca_baseline(pap.X, seed=42)["X_pca"]
    labels = pap.obs["gene_target"].astype(str).to_numpy()
    _, idx, dist = scanpy_connectivities(X)
    assert idx.shape == (pap.n_obs, 15) and np.array_equal(idx[:, 0], np.arange(pap.n_obs))
    rows = np.arange(0, pap.n_obs, 97)
    d_sk, _ = NearestNeighbors(n_neighbors=15, algorithm="brute").fit(X.astype(np.float64)).kneighbors(
        X[rows].astype(np.float64))
    np.testing.assert_allclose(dist[rows, 1:], d_sk[:, 1:], rtol=1e-9, atol=1e-9)
    outcome = run_clustering(X, labels, seed=42)
    assert outcome.n_clusters > 1
    got = values(outcome.metrics)
    assert -1 <= got[("adjusted_rand_index", ())] <= 1 and 0 <= got[("normalized_mutual_info", ())] <= 1
    again = run_clustering(X, labels, seed=42)
    np.testing.assert_array_equal(again.clusters, outcome.clusters)


def test_clustering_task_records_the_graph_that_ran():
    """scanpy shrinks k to 1 + n // 2 below 15 cells; params.n_neighbors says what the graph used."""
    from cellbench.tasks.clustering import clustering_task

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (5, 4)), rng.normal(8, 1, (5, 4))])
    labels = np.array(["a"] * 5 + ["b"] * 5)
    outcome = clustering_task(X, labels, label_key="cell_type", source="tiny.h5ad", seed=42, knn="scanpy")
    assert outcome.n_cells == 10
    assert outcome.params == {"label_key": "cell_type", "n_neighbors": 6, "resolution": 1.0, "n_iterations": 2,
                              "n_clusters": outcome.params["n_clusters"], "knn": "exact"}
    assert [m.metric_type for m in outcome.metrics] == ["adjusted_rand_index", "normalized_mutual_info"]


@pytest.mark.parametrize("task, kwargs, message", [
    ("clustering", {}, "tiny.h5ad: obs column 'k': needs at least 2 distinct labels, found 1"),
    ("embedding", {}, "tiny.h5ad: obs column 'k': needs at least 2 distinct labels, found 1"),
])
def test_tasks_check_their_data(task, kwargs, message):
    import importlib

    from cellbench.errors import InputError

    entry = getattr(importlib.import_module(f"cellbench.tasks.{task}"), f"{task}_task")
    with pytest.raises(InputError) as err:
        entry(np.zeros((4, 2)), np.array(["x"] * 4), label_key="k", source="tiny.h5ad", **kwargs)
    assert str(err.value) == message


def test_task_checks_name_the_input_and_the_reason():
    from cellbench.errors import InputError
    from cellbench.tasks.checks import require_cells, require_distinct

    assert require_distinct(["a", "b", "a"], 2, "f.h5ad: obs column 'c'") == 2
    with pytest.raises(InputError, match=r"^f.h5ad: obs column 'c': needs at least 2 distinct batches, found 1$"):
        require_distinct(["a", "a"], 2, "f.h5ad: obs column 'c'", what="batches")
    with pytest.raises(InputError, match=r"^f.h5ad: 2 cells, at least 3 needed \(a kNN graph needs neighbours\)$"):
        require_cells(2, 3, "f.h5ad", "a kNN graph needs neighbours")


def test_sequential_and_integration_tasks_return_their_params():
    import pandas as pd

    from cellbench.tasks.integration import integration_task
    from cellbench.tasks.sequential import sequential_task

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    column = pd.Series(["d0", "d3", "d7", "d9"] * 10, index=[f"c{i}" for i in range(40)])
    seq = sequential_task(X, column, time_key="day", source="t.h5ad", time_order=["d0", "d3", "d7", "d9"], k=5,
                          n_boot=0)
    assert seq.params == {"time_key": "day", "k": 5, "adaptive_k": False, "normalize": True,
                          "time_order": ["d0", "d3", "d7", "d9"]}
    assert seq.n_cells == 40
    integ = integration_task(X, np.array(["a", "b"] * 20), np.array(["x"] * 20 + ["y"] * 20), label_key="l",
                             batch_key="b", source="t.h5ad", k=200, max_cells=30, n_boot=0)
    assert integ.params == {"label_key": "l", "batch_key": "b", "n_neighbors": 40, "max_cells": 30}
