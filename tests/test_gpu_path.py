"""The GPU path (`--device`, `cellbench.device`): the torch code gives the CPU path's answers.

A GPU is not needed here: the same torch code runs on torch's CPU device ("torch-cpu"), whose float32
GEMM rounds in another order than numpy's BLAS, as a GPU's does. The neighbours must be the CPU
path's to the last index (ties included); silhouettes within float32 rounding. Real data only: PBMC
68k reduced and Baron 2016 human pancreas (tests/data/README.md). torch comes with the scvi extra, so
CELLBENCH_REQUIRE_SCVI=1 (CI) makes its absence a failure, as for the scVI tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from click.testing import CliRunner

from cellbench import device
from cellbench.cli import cli
from cellbench.metrics.silhouette_label import distance_sums_by_label, silhouette_samples
from cellbench.neighbors import knn

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
BARON = DATA / "baron2016_pancreas_human.h5ad"


def require_torch():
    if importlib.util.find_spec("torch") is None:
        if os.environ.get("CELLBENCH_REQUIRE_SCVI") == "1":
            pytest.fail("CELLBENCH_REQUIRE_SCVI=1 but torch is not importable: pip install 'cellbench[gpu]'")
        pytest.skip("torch is not installed (pip install 'cellbench[gpu]'); CELLBENCH_REQUIRE_SCVI=1 fails instead")


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(PBMC)


@pytest.fixture(scope="module")
def baron_pca():
    """Baron human pancreas: 50 principal components of its log counts (more cells than PBMC)."""
    from sklearn.decomposition import PCA

    adata = ad.read_h5ad(BARON)
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    X = np.log1p(X / np.maximum(X.sum(axis=1, keepdims=True), 1) * 1e4)
    return PCA(50, random_state=0).fit_transform(X), adata.obs


@pytest.fixture
def small_chunks(monkeypatch):
    """Blocks and chunks that do not divide the data: every boundary case of the torch loops."""
    from cellbench.metrics import _silhouette_torch as silhouette_torch
    from cellbench.neighbors import torch_exact

    monkeypatch.setattr(torch_exact, "CPU_ROWS", 96)
    monkeypatch.setattr(torch_exact, "CPU_CHUNK", 200)
    monkeypatch.setattr(silhouette_torch, "CPU_ROWS", 150)
    monkeypatch.setattr(silhouette_torch, "CPU_COLUMNS", 110)


def on_torch(fn, *args, **kwargs):
    with device.using("torch-cpu"):
        assert device.current() == "cpu"
        return fn(*args, **kwargs)


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("k", [1, 15, 200])
def test_torch_knn_is_the_cpu_knn(pbmc, small_chunks, k, include_self):
    require_torch()
    X = pbmc.obsm["X_pca"]
    idx, dist = knn(X, k, include_self=include_self)
    t_idx, t_dist = on_torch(knn, X, k, include_self=include_self)
    np.testing.assert_array_equal(t_idx, idx)
    np.testing.assert_array_equal(t_dist, dist)  # float64 from the same pairs: the same bits
    sets, _ = knn(X, k, include_self=include_self, return_distance=False)
    t_sets, _ = on_torch(knn, X, k, include_self=include_self, return_distance=False)
    np.testing.assert_array_equal(t_sets, sets)


def test_torch_knn_keeps_ties_by_index(pbmc, small_chunks):
    """Every cell twice: each has an exact twin at distance 0, and equal distances everywhere."""
    require_torch()
    X = np.vstack([pbmc.obsm["X_pca"], pbmc.obsm["X_pca"]])
    for include_self in (True, False):
        idx, dist = knn(X, 30, include_self=include_self)
        t_idx, t_dist = on_torch(knn, X, 30, include_self=include_self)
        np.testing.assert_array_equal(t_idx, idx)
        np.testing.assert_array_equal(t_dist, dist)


def test_torch_knn_falls_back_to_float64_on_crowded_blocks(pbmc, small_chunks, monkeypatch):
    """A block whose float32 cut lets through too many columns leaves the device for the CPU's float64
    selection (stopping as soon as the count passes the limit): still the CPU path's answer."""
    require_torch()
    from cellbench.neighbors import torch_exact

    fell_back = []

    def tiny_limit(self, rows):
        fell_back.append(rows)
        return 5 * rows  # far under k = 30 per row: every block falls back

    monkeypatch.setattr(torch_exact.TorchExactKnn, "max_candidates", tiny_limit)
    X = pbmc.obsm["X_pca"]
    for include_self in (True, False):
        idx, dist = knn(X, 30, include_self=include_self)
        t_idx, t_dist = on_torch(knn, X, 30, include_self=include_self)
        np.testing.assert_array_equal(t_idx, idx)
        np.testing.assert_array_equal(t_dist, dist)
    assert fell_back


def test_torch_knn_on_more_cells(baron_pca, small_chunks):
    require_torch()
    X, _ = baron_pca
    for k in (15, 200):
        sets, _ = knn(X, k, include_self=True, return_distance=False)
        t_sets, _ = on_torch(knn, X, k, include_self=True, return_distance=False)
        np.testing.assert_array_equal(t_sets, sets)


def test_torch_silhouette_sums_within_float32_rounding(baron_pca, small_chunks):
    require_torch()
    X, obs = baron_pca
    codes = obs["cell_ontology_class"].astype("category").cat.codes.to_numpy()
    n_labels = int(codes.max()) + 1
    cpu = distance_sums_by_label(X, codes, n_labels)
    gpu_path = on_torch(distance_sums_by_label, X, codes, n_labels)
    assert gpu_path.shape == cpu.shape and np.all(np.isfinite(gpu_path))
    np.testing.assert_allclose(gpu_path, cpu, rtol=1e-6, atol=1e-9)
    again = on_torch(distance_sums_by_label, X, codes, n_labels)
    assert again.tobytes() == gpu_path.tobytes()  # a run repeats itself to the bit
    widths = silhouette_samples(X, obs["cell_ontology_class"])
    t_widths = on_torch(silhouette_samples, X, obs["cell_ontology_class"])
    np.testing.assert_allclose(t_widths, widths, rtol=0, atol=1e-6)


def _values(path: Path) -> dict:
    out = json.loads(path.read_text())
    return {m["metric_type"]: m["value"] for m in out["metrics"]}


@pytest.mark.parametrize("task", ["integration", "embedding", "clustering"])
def test_cli_device_torch_cpu_gives_the_cpu_values(tmp_path, task):
    require_torch()
    extra = ["--batch-key", "phase"] if task == "integration" else []
    values = {}
    for name in ("cpu", "torch-cpu"):
        out = tmp_path / f"{name}.json"
        res = CliRunner().invoke(cli, [task, "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key", "bulk_labels",
                                       *extra, "--n-boot", "0", "--device", name, "--output", str(out)])
        assert res.exit_code == 0, res.output
        values[name] = _values(out)
        recorded = json.loads(out.read_text())["versions"]
        if name == "cpu":  # the numpy path records no device: its results are those of before the GPU path
            assert "device" not in recorded
        else:
            assert recorded["device"].startswith("torch-cpu, torch ")
    assert values["cpu"].keys() == values["torch-cpu"].keys()
    for metric, value in values["cpu"].items():
        if "silhouette" in metric:
            assert values["torch-cpu"][metric] == pytest.approx(value, abs=1e-6)
        else:  # neighbour-based: the same neighbours, the same value
            assert values["torch-cpu"][metric] == value, metric


def test_device_names_are_checked_before_any_work(tmp_path):
    for bad in ("cuda;rm -rf /", "gpu", "cuda:x", "", "CUDA"):
        with pytest.raises(ValueError, match="give cpu, cuda, cuda:N or torch-cpu"):
            device.check_name(bad)
    res = CliRunner().invoke(cli, ["embedding", "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key",
                                   "bulk_labels", "--device", "$(id)", "--output", str(tmp_path / "e.json")])
    assert res.exit_code == 2 and "give cpu, cuda, cuda:N or torch-cpu" in res.output
    assert list(tmp_path.iterdir()) == []
    with device.using("cpu"):
        assert device.current() is None
    assert device.current() is None


def test_cuda_without_a_gpu_is_one_clear_line(tmp_path):
    """Here there is no GPU (or no torch): --device cuda stops before any work with the reason."""
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA GPU")
    res = CliRunner().invoke(cli, ["embedding", "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key",
                                   "bulk_labels", "--device", "cuda", "--output", str(tmp_path / "e.json")])
    assert res.exit_code == 2
    assert "no CUDA GPU" in res.output or "needs torch" in res.output
    assert list(tmp_path.iterdir()) == []
