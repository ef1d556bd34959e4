"""`cellbench extract`: tasks read the compact extract and write the same result files as from the originals."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import pytest
from click.testing import CliRunner

from cellbench.cli import cli

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
HSMM = DATA / "hsmm_myoblast_timecourse.h5ad"
BARON_H = DATA / "baron2016_pancreas_human.h5ad"
BARON_M = DATA / "baron2016_pancreas_mouse.h5ad"


def invoke(args):
    res = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def result(path: Path) -> dict:
    data = json.loads(path.read_text())
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return data


@pytest.fixture(scope="module")
def pbmc_extract(tmp_path_factory):
    out = tmp_path_factory.mktemp("extract") / "pbmc__X_umap.h5ad"
    invoke(["extract", "-i", PBMC, "--obsm-key", "X_umap", "--obs-key", "bulk_labels", "--obs-key", "phase",
            "-o", out])
    return out


def test_extract_holds_only_the_obs_keys_and_the_representation(pbmc_extract):
    full, small = ad.read_h5ad(PBMC), ad.read_h5ad(pbmc_extract)
    assert list(small.obs.columns) == ["bulk_labels", "phase"]
    assert (small.obs_names == full.obs_names).all()
    assert small.X.dtype == full.obsm["X_umap"].dtype
    assert small.X.tobytes() == full.obsm["X_umap"].tobytes()
    assert small.obs["bulk_labels"].equals(full.obs["bulk_labels"])
    assert pbmc_extract.stat().st_size < PBMC.stat().st_size / 5


@pytest.mark.parametrize("task, extra", [
    ("embedding", ["--label-key", "bulk_labels"]),
    ("clustering", ["--label-key", "bulk_labels"]),
    ("integration", ["--label-key", "bulk_labels", "--batch-key", "phase"]),
])
def test_task_on_extract_writes_the_same_result(pbmc_extract, tmp_path, task, extra):
    common = ["--dataset-name", "pbmc68k_reduced", "--model-name", "X_umap", *extra, "--n-boot", 50]
    invoke([task, "-i", PBMC, "--obsm-key", "X_umap", *common, "-o", tmp_path / "full.json"])
    invoke([task, "-i", pbmc_extract, *common, "-o", tmp_path / "small.json"])
    assert result(tmp_path / "full.json") == result(tmp_path / "small.json")


def test_label_fold_on_extract_writes_the_same_result(pbmc_extract, tmp_path):
    invoke(["label-split", "-i", PBMC, "--label-key", "bulk_labels", "-o", tmp_path / "folds.tsv"])
    for clf in ("lr", "knn"):
        common = ["--dataset-name", "pbmc68k_reduced", "--model-name", "X_umap", "--folds", tmp_path / "folds.tsv",
                  "--fold", 2, "--classifier", clf]
        invoke(["label-fold", "-i", PBMC, "--obsm-key", "X_umap", *common, "-o", tmp_path / "full.json"])
        invoke(["label-fold", "-i", pbmc_extract, *common, "-o", tmp_path / "small.json"])
        assert result(tmp_path / "full.json") == result(tmp_path / "small.json")


def test_embedding_file_and_species_extracts(tmp_path):
    """An embedding file aligned by cell id, a sparse layer, and the cross-species commands' records."""
    pca = {}
    for sp, path in (("human", BARON_H), ("mouse", BARON_M)):
        pca[sp] = tmp_path / f"{sp}_pca.h5ad"
        invoke(["baseline", "-i", path, "--n-comps", 10, "-o", pca[sp]])
        invoke(["extract", "-i", path, "--embedding", pca[sp], "--obsm-key", "X_pca",
                "--obs-key", "cell_ontology_class", "-o", tmp_path / f"{sp}_x.h5ad"])
    common = ["--species", "human", "--species", "mouse", "--label-key", "cell_ontology_class",
              "--model-name", "pca", "--n-boot", 20]
    invoke(["cross-species-integration", "--input", BARON_H, "--input", BARON_M, "--embedding", pca["human"],
            "--embedding", pca["mouse"], "--obsm-key", "X_pca", *common, "-o", tmp_path / "full.json"])
    invoke(["cross-species-integration", "--input", tmp_path / "human_x.h5ad", "--input", tmp_path / "mouse_x.h5ad",
            *common, "-o", tmp_path / "small.json"])
    full, small = result(tmp_path / "full.json"), result(tmp_path / "small.json")
    assert full["metrics"] == small["metrics"] and full["inputs"] == small["inputs"]
    assert [i["role"] for i in small["inputs"]] == [
        "dataset:human", "representation:human", "dataset:mouse", "representation:mouse"]
    # a sparse counts layer stays sparse and keeps its gene names
    invoke(["extract", "-i", PBMC, "--layer", "counts", "--obs-key", "bulk_labels", "-o", tmp_path / "raw.h5ad"])
    raw, full_raw = ad.read_h5ad(tmp_path / "raw.h5ad"), ad.read_h5ad(PBMC)
    assert (raw.var_names == full_raw.var_names).all()
    assert (abs(raw.X - full_raw.layers["counts"])).sum() == 0


def test_extract_names_a_missing_column(tmp_path):
    res = CliRunner().invoke(cli, ["extract", "-i", str(PBMC), "--obsm-key", "X_pca", "--obs-key", "nope",
                                   "-o", str(tmp_path / "x.h5ad")])
    assert res.exit_code != 0 and "nope" in res.output
    assert not (tmp_path / "x.h5ad").exists()
