"""Degenerate inputs (issue #13): a one-line error naming the file/column/row, or null with a reason.

Never a plausible-looking number: each case here once gave one (silhouette 0.5, accuracy 0, null
metrics without a word) or a traceback. Every case runs the real CLI on the bundled data.
"""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import cli

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
HUMAN = DATA / "baron2016_pancreas_human.h5ad"
MOUSE = DATA / "baron2016_pancreas_mouse.h5ad"
LABEL = "cell_ontology_class"


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def error_line(res, target: Path) -> str:
    """The one `Error:` line of a failed command; no traceback, no result, no temporary file."""
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    message = res.output.strip()
    assert message.startswith("Error: ") and len(message.splitlines()) == 1, message
    assert "Traceback" not in message
    assert not target.exists() and not list(target.parent.glob(f".{target.name}*"))
    return message


def succeeded(res, target: Path) -> dict:
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return json.loads(target.read_text())


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(PBMC)


@pytest.fixture(scope="module")
def species_files(tmp_path_factory):
    """Per species an .h5ad with a 20-d embedding in X (one SVD of log counts, fitted on human), the
    label column, donor, and a sample id donor|cell type; and mouse with only two cell types."""
    from sklearn.decomposition import TruncatedSVD

    folder = tmp_path_factory.mktemp("species")
    human, mouse = ad.read_h5ad(HUMAN), ad.read_h5ad(MOUSE)
    svd = TruncatedSVD(20, random_state=0).fit(np.log1p(human.X))
    paths = {}
    for name, a in (("human", human), ("mouse", mouse)):
        obs = a.obs[[LABEL, "donor"]].astype(str)
        obs["sample"] = obs["donor"] + "|" + obs[LABEL]
        b = ad.AnnData(svd.transform(np.log1p(a.X)).astype(np.float32), obs=obs)
        paths[name] = folder / f"{name}.h5ad"
        b.write_h5ad(paths[name])
    two = b[b.obs[LABEL].isin(["type B pancreatic cell", "pancreatic ductal cell"]).to_numpy()].copy()
    paths["mouse_two_types"] = folder / "mouse_two_types.h5ad"
    two.write_h5ad(paths["mouse_two_types"])
    return paths


# ------------------------------------------------------------------ representations


@pytest.mark.parametrize("command", ["embedding", "clustering", "integration", "label-prediction"])
def test_zero_column_embedding_is_an_error(command, pbmc, tmp_path):
    """Before: silhouette 0.5 (embedding), a BLAS traceback (clustering), null metrics (label prediction)."""
    npy = tmp_path / "zero.npy"
    np.save(npy, np.zeros((pbmc.n_obs, 0)))
    target = tmp_path / "r.json"
    extra = ["--batch-key", "phase"] if command == "integration" else []
    res = invoke(command, "--input", PBMC, "--embedding", npy, "--label-key", "bulk_labels", *extra, "-o", target)
    line = error_line(res, target)
    assert str(npy) in line and "0 columns" in line


@pytest.mark.parametrize("command", ["embedding", "clustering", "integration", "label-prediction"])
@pytest.mark.parametrize("value, needle", [(1e39, "does not fit in float32"), (1e19, "squared distances overflow")])
def test_values_float32_cannot_hold_are_an_error(command, value, needle, pbmc, tmp_path):
    """Finite float64 values beyond float32 (1e39), or spread so wide that float32 squared distances
    overflow (1e19): before, silhouette 0.5, ARI 0, or a traceback (integration)."""
    stored = tmp_path / "pbmc_big.h5ad"
    a = ad.AnnData(obs=pbmc.obs[["bulk_labels", "phase"]].copy())
    a.obsm["X_big"] = pbmc.obsm["X_pca"].astype(np.float64)
    a.obsm["X_big"][3, 2] = value
    a.write_h5ad(stored)
    target = tmp_path / "r.json"
    extra = ["--batch-key", "phase"] if command == "integration" else []
    res = invoke(command, "--input", stored, "--obsm-key", "X_big", "--label-key", "bulk_labels", *extra,
                 "-o", target)
    line = error_line(res, target)
    assert str(stored) in line and "obsm[X_big]" in line and needle in line  # the file and the key
    if value > 1e38:
        assert "row 3" in line


@pytest.mark.parametrize("command", ["embedding", "clustering", "label-prediction"])
def test_constant_representation_is_an_error(command, pbmc, tmp_path):
    """Every cell the same (a model that outputs zeros): before, silhouette 0.5, ARI 0, and label
    prediction scoring the majority class."""
    npy = tmp_path / "zeros.npy"
    np.save(npy, np.zeros((pbmc.n_obs, 10)))
    target = tmp_path / "r.json"
    res = invoke(command, "--input", PBMC, "--embedding", npy, "--label-key", "bulk_labels", "-o", target)
    line = error_line(res, target)
    assert str(npy) in line and "representation is constant" in line


# ------------------------------------------------------------------ silhouette


def test_silhouette_with_one_cell_per_label_is_null_with_reason(pbmc, tmp_path):
    """Before: silhouette_score 0.5 (scib-metrics scores singleton labels 0)."""
    ids = tmp_path / "pbmc_ids.h5ad"
    a = ad.AnnData(obs=pd.DataFrame({"cell": pbmc.obs_names.astype(str)}, index=pbmc.obs_names))
    a.obsm["X_pca"] = pbmc.obsm["X_pca"]
    a.write_h5ad(ids)
    target = tmp_path / "r.json"
    data = succeeded(invoke("embedding", "--input", ids, "--obsm-key", "X_pca", "--label-key", "cell", "-o", target),
                     target)
    metric = next(m for m in data["metrics"] if m["metric_type"] == "silhouette_score")
    assert metric["value"] is None and "ci" not in metric
    assert "700 distinct label(s) for 700 cells" in metric["reason"]


# ------------------------------------------------------------------ label prediction


def test_failed_classifier_fit_is_null_with_reason(pbmc, tmp_path):
    """knn (5 neighbours) on folds of 3 training cells cannot fit: before, silently null metrics, and a
    MEAN(knn,lr) over the lr rows only. The all-in-one command and the fan-out (split, fold, merge)
    both say why."""
    tiny = tmp_path / "tiny.h5ad"
    labels = pbmc.obs["bulk_labels"].astype(str)
    rows = np.r_[np.flatnonzero(labels == "CD14+ Monocyte")[:3], np.flatnonzero(labels == "CD56+ NK")[:3]]
    pbmc[rows].copy().write_h5ad(tiny)
    args = ["--input", tiny, "--obsm-key", "X_pca"]
    target = tmp_path / "all.json"
    data = succeeded(invoke("label-prediction", *args, "--label-key", "bulk_labels", "--min-class-size", 1,
                            "--n-folds", 2, "--classifiers", "lr,knn", "-o", target), target)
    by_classifier = {}
    for m in data["metrics"]:
        by_classifier.setdefault(m["params"]["classifier"], []).append(m)
    failed = "knn fold 0: knn failed (Expected n_neighbors"
    for m in by_classifier["knn"]:
        assert m["value"] is None and m["reason"].startswith(f"no fold row has a value: {failed}"), m
    assert all(m["value"] is not None and "reason" not in m for m in by_classifier["lr"])
    for m in by_classifier["MEAN(knn,lr)"]:  # the reference's nan-skipping mean, saying what it skipped
        assert m["value"] is not None and m["reason"].startswith(f"mean over 2 of 4 fold rows, left out: {failed}")
    folds = tmp_path / "folds.tsv"
    assert invoke("label-split", "--input", tiny, "--label-key", "bulk_labels", "--min-class-size", 1,
                  "--n-folds", 2, "-o", folds).exit_code == 0
    parts = []
    for classifier in ("lr", "knn"):
        for fold in (0, 1):
            parts.append(tmp_path / f"{classifier}_{fold}.json")
            fold_result = succeeded(invoke("label-fold", *args, "--folds", folds, "--fold", fold, "--classifier",
                                           classifier, "-o", parts[-1]), parts[-1])
            if classifier == "knn":
                assert all(m["value"] is None and m["reason"].startswith("knn failed (Expected n_neighbors")
                           for m in fold_result["metrics"])
    merged = tmp_path / "merged.json"
    data_merged = succeeded(invoke("label-merge", "--classifiers", "lr,knn", "-o", merged, *parts), merged)
    assert [(m["value"], m.get("reason")) for m in data_merged["metrics"]] == [
        (m["value"], m.get("reason")) for m in data["metrics"]]


def test_min_class_size_one_with_single_cell_classes(pbmc, tmp_path):
    """Every class a single cell: before, a StratifiedKFold traceback (label-split and label-prediction).
    Some single-cell classes: runs, and the AUROC no fold can compute is null with its reason."""
    path = tmp_path / "pbmc_cells.h5ad"
    a = ad.AnnData(obs=pbmc.obs[["bulk_labels"]].astype(str))
    a.obs["cell"] = pbmc.obs_names.astype(str)
    a.obs["some_single"] = a.obs["bulk_labels"].to_numpy()
    a.obs.iloc[:3, a.obs.columns.get_loc("some_single")] = ["solo1", "solo2", "solo3"]
    a.obsm["X_pca"] = pbmc.obsm["X_pca"]
    a.write_h5ad(path)
    for command in (["label-split"], ["label-prediction", "--obsm-key", "X_pca"]):
        target = tmp_path / "out"
        res = invoke(*command, "--input", path, "--label-key", "cell", "--min-class-size", 1, "-o", target)
        line = error_line(res, target)
        assert str(path) in line and "obs column 'cell'" in line and "--n-folds 5" in line
    target = tmp_path / "r.json"
    data = succeeded(invoke("label-prediction", "--input", path, "--obsm-key", "X_pca", "--label-key", "some_single",
                            "--min-class-size", 1, "--classifiers", "lr", "-o", target), target)
    by_type = {m["metric_type"]: m for m in data["metrics"] if m["params"]["classifier"] == "lr"}
    assert by_type["mean_fold_accuracy"]["value"] is not None and "reason" not in by_type["mean_fold_accuracy"]
    auroc = by_type["mean_fold_auroc"]
    assert auroc["value"] is None and auroc["reason"].startswith("no fold row has a value: lr fold 0: auroc undefined")


@pytest.mark.parametrize(
    "fold_text",
    ["99999999999999999999999", "\u00b2", "\u0663", "5", "-1", "007"],
    ids=["huge", "superscript-two", "arabic-indic-three", "beyond-n_folds", "negative", "padded"],
)
def test_fold_numbers_are_ascii_digits_in_range(fold_text, tmp_path):
    """Before: OverflowError / ValueError tracebacks ('²' passes str.isdigit), or '٣' read as fold 3."""
    folds = tmp_path / "folds.tsv"
    assert invoke("label-split", "--input", PBMC, "--label-key", "bulk_labels", "-o", folds).exit_code == 0
    lines = folds.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rsplit("\t", 1)[0] + "\t" + fold_text  # data row 3
    folds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "r.json"
    res = invoke("label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", folds, "--fold", 0,
                 "--classifier", "lr", "-o", target)
    line = error_line(res, target)
    assert str(folds) in line and "column 'fold'" in line and f"row 3 has {fold_text!r}" in line


def test_fold_without_cells_is_an_error(tmp_path):
    """Fold 4 emptied by hand (its cells moved to fold 3): before, a ValueError traceback for --fold 4."""
    folds = tmp_path / "folds.tsv"
    assert invoke("label-split", "--input", PBMC, "--label-key", "bulk_labels", "-o", folds).exit_code == 0
    lines = folds.read_text().splitlines()
    lines = lines[:2] + [line[:-1] + "3" if line.endswith("\t4") else line for line in lines[2:]]
    folds.write_text("\n".join(lines) + "\n")
    target = tmp_path / "r.json"
    res = invoke("label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", folds, "--fold", 4,
                 "--classifier", "lr", "-o", target)
    line = error_line(res, target)
    assert str(folds) in line and "column 'fold' has no cell in fold 4" in line


def test_fold_header_numbers_are_ascii_digits(tmp_path):
    """Before: '²' as n_folds in the header passed str.isdigit and int() raised a traceback."""
    folds = tmp_path / "folds.tsv"
    assert invoke("label-split", "--input", PBMC, "--label-key", "bulk_labels", "-o", folds).exit_code == 0
    folds.write_text(folds.read_text().replace("n_folds=5", "n_folds=\u00b2", 1), encoding="utf-8")
    target = tmp_path / "r.json"
    res = invoke("label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", folds, "--fold", 0,
                 "--classifier", "lr", "-o", target)
    line = error_line(res, target)
    assert str(folds) in line and "line 1: n_folds=" in line


# ------------------------------------------------------------------ cross-species label prediction


def species_args(paths, mouse="mouse"):
    return ["--input", paths["human"], "--input", paths[mouse], "--species", "human", "--species", "mouse"]


def test_cross_species_without_shared_labels_is_an_error(species_files, tmp_path):
    """Before: exit 0 with accuracy 0 (every test label unseen in training)."""
    target = tmp_path / "r.json"
    res = invoke("cross-species-label", *species_args(species_files), "--label-key", LABEL, "--label-key", "donor",
                 "--train-species", "human", "--test-species", "mouse", "--classifiers", "knn", "-o", target)
    line = error_line(res, target)
    assert str(species_files["human"]) in line and str(species_files["mouse"]) in line
    assert f"species 'human' (obs column '{LABEL}')" in line and "species 'mouse' (obs column 'donor')" in line
    assert "share no label" in line


@pytest.mark.parametrize("train, test, n_folds", [("mouse", "human", 5), ("mouse", "mouse", 2)])
def test_knn_with_fewer_samples_than_neighbours_is_an_error(species_files, train, test, n_folds, tmp_path):
    """Mouse with two cell types x two donors is 4 samples, fewer than knn's 5 neighbours.
    Before: a scikit-learn traceback ('Expected n_neighbors <= n_samples_fit')."""
    target = tmp_path / "r.json"
    res = invoke("cross-species-label", *species_args(species_files, "mouse_two_types"), "--label-key", LABEL,
                 "--sample-key", "sample", "--train-species", train, "--test-species", test, "--n-folds", n_folds,
                 "--classifiers", "knn", "-o", target)
    line = error_line(res, target)
    assert str(species_files["mouse_two_types"]) in line and "species 'mouse'" in line
    assert "knn needs at least 5 training samples" in line and "obs column 'sample'" in line


def test_cross_species_knn_never_records_a_negative_seed(species_files, tmp_path):
    """knn across species draws no random number, so --seed -1 used to be written into the result
    ("seed": -1) unchecked; a seed outside 0..2**32-1 is now a usage error before any work."""
    target = tmp_path / "r.json"
    res = invoke("cross-species-label", *species_args(species_files), "--label-key", LABEL, "--train-species", "human",
                 "--test-species", "mouse", "--classifiers", "knn", "--seed", -1, "-o", target)
    assert res.exit_code == 2 and "--seed" in res.output and "Traceback" not in res.output
    assert not target.exists()
