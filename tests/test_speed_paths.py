"""The fast paths for large inputs: the seeded IVF kNN backend, the kNN mode switch, the sampled
silhouette estimate, and label prediction's single predict_proba pass (same numbers as sklearn)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest

from cellbench.metrics.silhouette_label import silhouette_label
from cellbench.metrics.silhouette_sampled import sampled_silhouette_widths
from cellbench.neighbors import AUTO_IVF_CELLS, KNN_BACKENDS, KNN_MODES, knn, resolve_backend

PBMC = Path(__file__).parent / "data" / "pbmc68k_reduced.h5ad"


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(PBMC)


@pytest.fixture(scope="module")
def X(pbmc):
    return pbmc.obsm["X_pca"].astype(np.float64)


def test_ivf_is_registered_deterministic_and_close_to_exact(X):
    pytest.importorskip("faiss")
    assert "ivf" in KNN_BACKENDS
    i1, d1 = knn(X, 15, backend="ivf", workers=1)
    i2, d2 = knn(X, 15, backend="ivf", workers=2)
    assert np.array_equal(i1, i2) and np.array_equal(d1, d2)
    assert np.array_equal(i1[:, 0], np.arange(len(X))) and np.all(d1[:, 0] == 0)
    assert np.all(np.diff(d1, axis=1) >= 0)
    exact, dexact = knn(X, 15)
    recall = np.mean([len(np.intersect1d(a, b)) for a, b in zip(i1, exact)]) / 15
    assert recall > 0.9  # 700 cells in 50-d PCA space: most lists probed hold the true neighbours
    # where the neighbours agree, so do the (exactly recomputed) distances
    same = np.all(i1 == exact, axis=1)
    assert same.any() and np.allclose(d1[same], dexact[same], rtol=0, atol=1e-12)
    sets, none = knn(X, 30, backend="ivf", include_self=False, return_distance=False)
    assert none is None and not np.any(sets == np.arange(len(X))[:, None])
    assert np.all(np.diff(sets, axis=1) > 0)


def test_knn_modes_resolve_to_a_backend(monkeypatch):
    assert resolve_backend("exact", 10**7) == "exact"  # no mode: exact
    assert resolve_backend("exact", AUTO_IVF_CELLS - 1, "auto") == "exact"
    assert resolve_backend("exact", AUTO_IVF_CELLS, "auto") == "ivf"
    assert resolve_backend("exact", 10, "ivf") == "ivf"
    assert resolve_backend("exact", 10, " IVF ") == "ivf"
    assert resolve_backend("exact", 10, "scanpy") == "scanpy"
    assert resolve_backend("ivf", 10, "exact") == "ivf"  # a backend named by the caller is used as is
    assert KNN_MODES == ("exact", "ivf", "auto", "scanpy") and KNN_BACKENDS == ("exact", "ivf")
    with pytest.raises(ValueError, match="fast"):
        resolve_backend("exact", 10, "fast")
    # the library never reads CELLBENCH_KNN: only the CLI does (`cellbench clustering --knn`)
    monkeypatch.setenv("CELLBENCH_KNN", "ivf")
    assert resolve_backend("exact", 10**7) == "exact"


def test_clustering_records_the_graph_search(tmp_path, monkeypatch):
    """params.knn says which search built the graph: exact below 8192 cells whatever --knn says."""
    import json

    from click.testing import CliRunner

    from cellbench.cli import cli

    monkeypatch.delenv("CELLBENCH_KNN", raising=False)
    out = tmp_path / "c.json"
    args = ["clustering", "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key", "bulk_labels",
            "--n-boot", "0", "--output", str(out)]
    for mode in ("scanpy", "ivf"):
        result = CliRunner().invoke(cli, [*args, "--knn", mode])
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["params"]["knn"] == "exact"
    result = CliRunner().invoke(cli, [*args, "--knn", "fast"])
    assert result.exit_code != 0 and "fast" in result.output


def test_sampled_silhouette_is_exact_on_a_full_sample_and_covers_it_otherwise(pbmc, X):
    from cellbench.metrics.silhouette_label import silhouette_samples
    from cellbench.tasks.embedding import silhouette_result

    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    exact = silhouette_label(X, labels)
    picked, widths = sampled_silhouette_widths(X, labels, n_sample=10_000)
    assert picked.size == len(X) and abs((widths.mean() + 1) / 2 - exact) < 1e-6
    picked, widths = sampled_silhouette_widths(X, labels, n_sample=300, seed=7)
    assert np.allclose(widths, silhouette_samples(X, labels)[picked], rtol=0, atol=1e-6)  # each width exact
    part = silhouette_result(X, labels, seed=7, max_cells=300)
    assert part == silhouette_result(X, labels, seed=7, max_cells=300)
    assert part.ci.low < exact < part.ci.high and part.ci.high - part.ci.low < 0.05


@pytest.mark.parametrize("name", ["knn", "rf"])
def test_predict_from_proba_equals_sklearn_predict(X, pbmc, name):
    from cellbench.tasks.label_prediction import class_codes, make_label_classifier

    _, codes = class_codes(pbmc.obs["bulk_labels"])
    clf = make_label_classifier(name, seed=42).fit(X[::2], codes[::2])
    proba = clf.predict_proba(X[1::2])
    assert np.array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X[1::2]))


def test_sampled_entropy_is_exact_on_a_full_sample_and_covers_it_otherwise(pbmc, X):
    from cellbench.metrics.entropy_per_cell import entropy_per_cell, entropy_per_cell_values
    from cellbench.metrics.entropy_sampled import sampled_entropy_values
    from cellbench.tasks.integration import integration_metrics

    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    batch = pbmc.obs["phase"].astype(str).to_numpy()
    exact = entropy_per_cell(X, batch)
    picked, values = sampled_entropy_values(X, batch, k=50, n_sample=10_000)
    assert picked.size == len(X)
    assert abs(values.mean() - entropy_per_cell(X, batch, k=50)) < 1e-12
    picked, values = sampled_entropy_values(X, batch, n_sample=250, seed=3)
    assert np.allclose(values, entropy_per_cell_values(X, batch)[picked], rtol=0, atol=1e-12)
    part = integration_metrics(X, labels, batch, seed=3, max_cells=250)[0]
    assert part.params == {"n_sample": 250} and part.ci.low < exact < part.ci.high


def test_knn_mode_switches_only_the_clustering_graph(monkeypatch):
    from cellbench import neighbors
    from cellbench.neighbors import scanpy_graph

    calls = []
    real = neighbors.knn

    def spy(X, k, **kwargs):
        calls.append(kwargs.get("backend", "exact"))
        return real(X, k, **kwargs)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(neighbors.SCANPY_EXACT_LIMIT, 8))
    monkeypatch.setattr(scanpy_graph, "knn", spy)
    pytest.importorskip("faiss")
    neighbors.scanpy_connectivities(X, 15, mode="ivf")
    assert calls == ["ivf"]
    neighbors.scanpy_connectivities(X, 15)  # no mode: exact
    assert calls == ["ivf", "exact"]


@pytest.mark.parametrize("task", ["embedding", "integration"])
def test_max_cells_switches_to_the_sampled_estimate(tmp_path, task):
    """--max-cells: the sampled estimate, marked by params n_sample, its interval covering the exact
    value; at or above the number of cells nothing changes (same bytes of metrics)."""
    import json

    from click.testing import CliRunner

    from cellbench.cli import cli

    metric = {"embedding": "silhouette_score", "integration": "entropy_per_cell"}[task]
    base = [task, "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--n-boot", "200"]
    if task == "integration":
        base += ["--batch-key", "phase"]

    def run(name, *extra):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(cli, [*base, *extra, "--output", str(out)])
        assert result.exit_code == 0, result.output
        return {m["metric_type"]: m for m in json.loads(out.read_text())["metrics"]}

    exact = run("exact")[metric]
    assert run("large", "--max-cells", "700")[metric] == exact  # 700 cells: not above the limit
    sampled = run("sampled", "--max-cells", "300")[metric]
    assert sampled["params"] == {"n_sample": 300} and exact["params"] == {}
    assert sampled["ci"]["unit"] == "sampled cells" and sampled["ci"]["n_units"] == 300
    assert sampled["ci"]["low"] < exact["value"] < sampled["ci"]["high"]
    assert sampled["value"] != exact["value"]
    assert run("again", "--max-cells", "300")[metric] == sampled  # seeded


def test_progress_lines_go_to_the_log_at_most_every_few_seconds(caplog):
    import logging

    from cellbench.progress import Progress

    with caplog.at_level(logging.INFO, logger="cellbench"):
        quiet = Progress("quick loop", 10)
        for i in range(1, 11):
            quiet.step(i)
        assert not caplog.records  # a fast loop says nothing
        chatty = Progress("slow loop", 4, every_s=0.0)
        for i in range(1, 5):
            chatty.step(i)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("slow loop: 1/4 (25 %)") and len(lines) == 3  # not at the end
