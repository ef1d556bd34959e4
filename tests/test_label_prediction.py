"""Label prediction: the TASKS.md reference values, per-fold == all-in-one, metrics by hand, the CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.metrics.classification import auroc_response, fold_scores, nan_mean
from cellbench.schema import MetricResult
from cellbench.tasks.label_prediction import (
    assign_folds,
    check_labels,
    class_codes,
    filter_min_class,
    make_label_classifier,
    merge_folds,
    run_label_prediction,
    score_fold,
)

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"

# TASKS.md: cz-benchmarks 0.15.1 on pbmc68k_reduced, obsm X_pca, labels bulk_labels
REFERENCE_MEAN = {
    "mean_fold_accuracy": 0.7562402252111353,
    "mean_fold_f1": 0.6430898062675138,
    "mean_fold_precision": 0.6820883227468767,
    "mean_fold_recall": 0.6388594509237785,
    "mean_fold_auroc": 0.9270943836337968,
}
REFERENCE_ACCURACY = {"lr": 0.7644145553122719, "rf": 0.8294338442289646, "knn": 0.6748722760921698}


@pytest.fixture(scope="module")
def pbmc():
    return ad.read_h5ad(PBMC)


@pytest.fixture(scope="module")
def pbmc_xy(pbmc):
    return pbmc.obsm["X_pca"], pbmc.obs["bulk_labels"].astype(str).to_numpy()


@pytest.fixture(scope="module")
def all_in_one(pbmc_xy):
    X, y = pbmc_xy
    return run_label_prediction(X, y)


def by_key(results):
    return {(r.metric_type, r.params["classifier"]): r.value for r in results}


# ---------------------------------------------------------------- reference values


def test_reference_values_pbmc68k(all_in_one):
    values = by_key(all_in_one)
    for metric, expected in REFERENCE_MEAN.items():
        assert values[(metric, "MEAN(knn,lr,rf)")] == pytest.approx(expected, abs=1e-9), metric
    for clf, expected in REFERENCE_ACCURACY.items():
        assert values[("mean_fold_accuracy", clf)] == pytest.approx(expected, abs=1e-9), clf


def test_twenty_results_in_reference_order(all_in_one):
    assert len(all_in_one) == 20
    scores = ["accuracy", "f1", "precision", "recall", "auroc"]
    expected = [(f"mean_fold_{s}", c) for c in ["MEAN(knn,lr,rf)", "lr", "knn", "rf"] for s in scores]
    assert [(r.metric_type, r.params["classifier"]) for r in all_in_one] == expected
    assert all(r.params == {"classifier": r.params["classifier"]} for r in all_in_one)


def test_mean_row_is_mean_over_all_fold_classifier_rows(all_in_one):
    values = by_key(all_in_one)
    per_clf = [values[("mean_fold_f1", c)] for c in ("lr", "knn", "rf")]
    # equal fold counts per classifier: the mean of all 15 rows is the mean of the 3 means
    assert values[("mean_fold_f1", "MEAN(knn,lr,rf)")] == pytest.approx(np.mean(per_clf), abs=1e-12)


# ---------------------------------------------------------------- fan-out


def test_per_fold_merge_equals_all_in_one_exactly(pbmc_xy, all_in_one):
    X, y = pbmc_xy
    keep = filter_min_class(y, 10)
    Xk, yk = X[keep], y[keep]
    folds = assign_folds(yk, 5, 42)
    rows = []
    for clf in ("rf", "knn", "lr"):
        for fold in (3, 0, 4, 1, 2):
            part = score_fold(Xk, yk, folds, fold, clf, seed=42)
            assert [r.params for r in part] == [{"classifier": clf, "fold": fold}] * 5
            rows.extend(part)
    random.Random(0).shuffle(rows)  # the merge must not depend on arrival order
    merged = merge_folds(rows)
    assert [(r.metric_type, r.params, r.value) for r in merged] == [
        (r.metric_type, r.params, r.value) for r in all_in_one
    ]


def test_merge_rejects_duplicates_and_incomplete_rows(pbmc_xy):
    X, y = pbmc_xy
    keep = filter_min_class(y, 10)
    folds = assign_folds(y[keep], 5, 42)
    part = score_fold(X[keep], y[keep], folds, 0, "knn")
    with pytest.raises(ValueError, match="duplicate"):
        merge_folds(part + part)
    with pytest.raises(ValueError, match="lacks auroc"):
        merge_folds(part[:4])


def test_filter_min_class_and_label_checks():
    labels = np.array(["a"] * 10 + ["b"] * 9 + ["c"] * 12)
    keep = filter_min_class(labels, 10)
    assert keep.sum() == 22 and set(labels[keep]) == {"a", "c"}
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        check_labels(np.array(["a"] * 30), 10)
    with pytest.raises(ValueError, match="all 3 classes have fewer than 50"):
        check_labels(labels, 50)
    with pytest.raises(ValueError, match="only 1 of 3 classes"):
        check_labels(labels, 11)


def test_folds_are_stratified_seeded_and_use_sorted_string_codes(pbmc_xy):
    _, y = pbmc_xy
    y = y[filter_min_class(y, 10)]
    folds = assign_folds(y, 5, 42)
    assert set(folds) == set(range(5))
    for label in np.unique(y):
        counts = np.bincount(folds[y == label], minlength=5)
        assert counts.max() - counts.min() <= 1  # stratified
    assert np.array_equal(folds, assign_folds(y, 5, 42))
    assert not np.array_equal(folds, assign_folds(y, 5, 7))
    # codes come from the sorted label strings, not from the order labels first appear
    classes, codes = class_codes(y)
    assert list(classes) == sorted(set(y)) and np.array_equal(classes[codes], y)
    assert np.array_equal(codes, pd.Categorical(y).codes)


def test_make_label_classifier_matches_tasks_md():
    lr = make_label_classifier("lr", 42)
    assert lr.named_steps["scaler"].with_mean is False
    assert lr.named_steps["lr"].C == 1.0 and lr.named_steps["lr"].max_iter == 100
    assert make_label_classifier("knn", 42).named_steps["knn"].n_neighbors == 5
    rf = make_label_classifier("rf", 7).named_steps["rf"]
    assert rf.n_estimators == 100 and rf.random_state == 7
    with pytest.raises(ValueError, match="unknown classifier"):
        make_label_classifier("svm")


def _sklearn_knn():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scaler", StandardScaler(with_mean=False)), ("knn", KNeighborsClassifier())])


def test_fast_knn_classifier_gives_sklearns_probabilities(pbmc_xy):
    from cellbench.knn_classifier import KnnClassifier

    X, y = pbmc_xy
    _, codes = class_codes(y)
    assert isinstance(make_label_classifier("knn", 42, n_features=X.shape[1]), KnnClassifier)
    assert not isinstance(make_label_classifier("knn", 42, n_features=10_000), KnnClassifier)  # wide: sklearn's
    assert not isinstance(make_label_classifier("knn", 42, n_features=4), KnnClassifier)  # KD-tree: sklearn's
    folds = assign_folds(y, 5, 42)
    for fold in range(5):
        train, test = folds != fold, folds == fold
        expected = _sklearn_knn().fit(X[train], codes[train])
        for threads in (1, 2):
            got = KnnClassifier(threads=threads).fit(X[train], codes[train])
            assert np.array_equal(got.classes_, expected.classes_)
            assert np.array_equal(got.predict_proba(X[test]), expected.predict_proba(X[test]))


def test_fast_knn_classifier_ties_and_duplicates():
    """Integer data with duplicated cells: ties at the k-th place are decided by index, as sklearn's
    heap keeps the earliest; rows the float32 bound cannot prove go through the exact fallback."""
    from cellbench import knn_classifier

    rng = np.random.default_rng(0)
    base = rng.integers(0, 2, size=(60, 20)).astype(float)
    train = np.vstack([base, base, base[:20]])  # every cell at least twice: many exact ties
    y = rng.integers(0, 3, size=len(train))
    query = rng.integers(0, 2, size=(40, 20)).astype(float)
    expected = _sklearn_knn().fit(train, y).predict_proba(query)
    got = knn_classifier.KnnClassifier().fit(train, y).predict_proba(query)
    assert np.array_equal(got, expected)
    nearest, tied = knn_classifier.exact_query_knn(train, query, 5)
    assert tied
    # the neighbour sets themselves, against a float64 brute force ordered by (distance, index)
    d2 = ((query[:, None, :] - train[None, :, :]) ** 2).sum(axis=2)
    brute = np.sort(np.argsort(d2, axis=1, kind="stable")[:, :5], axis=1)
    assert np.array_equal(nearest, brute)
    # without duplicates: no ties, the fast path answers alone
    distinct = rng.standard_normal((300, 20))
    assert not knn_classifier.exact_query_knn(distinct, distinct[:50] + 0.01, 5)[1]
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_classifier.exact_query_knn(train[:3], query, 5)


@pytest.mark.parametrize(("scan", "tile_columns"), [(False, 200), (True, 200), (True, 160)])
def test_query_search_is_brute_force(pbmc, monkeypatch, scan, tile_columns):
    """`neighbors.query`: every query row's k nearest training rows by (distance, index), with the
    compiled loop and without, over blocks and tiles that do not divide the data (tiles of whole
    column panels, packed once, and not); duplicated training cells make exact ties that must go to
    the lower index."""
    from cellbench.neighbors import query

    monkeypatch.setattr(query, "QUERY_ROWS", 48)
    monkeypatch.setattr(query, "TILE_COLUMNS", tile_columns)
    X = pbmc.obsm["X_pca"].astype(np.float64)
    train = np.vstack([X[:400], X[:100]])
    queries = X[400:]
    d2 = ((queries[:, None, :] - train[None, :, :]) ** 2).sum(axis=2)
    for k in (1, 6, 30):
        order = np.lexsort((np.broadcast_to(np.arange(len(train)), d2.shape), d2), axis=1)[:, :k]
        impl = query.QueryKnn(train, queries, k, scan=scan)
        idx = np.vstack([impl.block(s, min(len(queries), s + 48))[2] for s in range(0, len(queries), 48)])
        assert np.array_equal(idx, order), k
        got_idx, got_d2 = query.query_knn(train, queries, k, workers=2)
        assert np.array_equal(got_idx, order)
        np.testing.assert_allclose(got_d2, np.take_along_axis(d2, order, axis=1), rtol=1e-12, atol=1e-9)


def test_sparse_input_and_threads_give_identical_scores(pbmc):
    """The raw-expression baseline may stay sparse: identical numbers to the dense matrix."""
    counts = pbmc.layers["counts"]
    y = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    keep = filter_min_class(y, 10)
    sparse = sp.csr_matrix(counts)[np.flatnonzero(keep)]
    dense = sparse.toarray()
    yk = y[keep]
    folds = assign_folds(yk, 5, 42)
    for clf in ("lr", "knn", "rf"):
        a = [r.value for r in score_fold(dense, yk, folds, 1, clf)]
        b = [r.value for r in score_fold(sparse, yk, folds, 1, clf)]
        assert a == b, clf
    for clf in ("knn", "rf"):
        a = [r.value for r in score_fold(dense, yk, folds, 2, clf, threads=1)]
        b = [r.value for r in score_fold(dense, yk, folds, 2, clf, threads=2)]
        assert a == b, clf


def test_two_classes_use_binary_averaging(pbmc):
    y = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    pick = np.isin(y, ["CD14+ Monocyte", "Dendritic"])
    X, y2 = pbmc.obsm["X_pca"][pick], y[pick]
    folds = assign_folds(y2, 5, 42)
    got = {r.metric_type: r.value for r in score_fold(X, y2, folds, 0, "lr")}
    from sklearn.metrics import f1_score, roc_auc_score

    _, codes = class_codes(y2)
    clf = make_label_classifier("lr").fit(X[folds != 0], codes[folds != 0])
    test = folds == 0
    assert got["f1"] == f1_score(codes[test], clf.predict(X[test]), average="binary")
    assert got["f1"] != f1_score(codes[test], clf.predict(X[test]), average="macro")
    assert got["auroc"] == roc_auc_score(codes[test], clf.predict_proba(X[test])[:, 1])


# ---------------------------------------------------------------- metrics by hand


def test_fold_scores_binary_by_hand():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.1, 0.9]])
    s = fold_scores(y_true, y_pred, proba, classes=[0, 1])
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["precision"] == pytest.approx(2 / 3)  # positive class = code 1
    assert s["recall"] == pytest.approx(1.0)
    assert s["f1"] == pytest.approx(0.8)
    # positives score 0.55, 0.9; negatives 0.1, 0.6: 3 of 4 pairs ordered right
    assert s["auroc"] == pytest.approx(0.75)
    assert np.array_equal(auroc_response(proba, np.array([0, 1])), proba[:, 1])


def test_fold_scores_macro_by_hand():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.4, 0.2, 0.4]]
    )
    s = fold_scores(y_true, y_pred, proba, classes=[0, 1, 2])
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert s["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert s["f1"] == pytest.approx((1 / 2 + 0.8 + 2 / 3) / 3)
    # one-vs-rest AUROC per class: 7/8, 7/8, 1
    assert s["auroc"] == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)


def test_fold_scores_unscorable_auroc_is_nan_or_raises():
    y_true = np.array([0, 0, 1, 1])  # class 2 absent from this test fold
    proba = np.full((4, 3), 1 / 3)
    s = fold_scores(y_true, np.array([0, 1, 1, 2]), proba, classes=[0, 1, 2])
    assert np.isnan(s["auroc"]) and s["accuracy"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        fold_scores(y_true, np.array([0, 1, 1, 2]), proba, classes=[0, 1, 2], errors="raise")


def test_nan_mean_is_pandas_mean_bit_for_bit():
    rng = np.random.default_rng(0)
    for n in (1, 5, 15, 16, 17, 40):
        values = rng.random(n)
        values[rng.random(n) < 0.2] = np.nan
        expected = pd.Series(values).mean()
        got = nan_mean(values)
        assert (np.isnan(got) and np.isnan(expected)) or got == expected
    assert np.isnan(nan_mean([np.nan, np.nan]))


# ---------------------------------------------------------------- command line


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def strip_volatile(path):
    data = json.loads(Path(path).read_text())
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return data


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """label-split -> 15 x label-fold -> label-merge, and label-prediction, once for the module."""
    out = tmp_path_factory.mktemp("label_cli")
    r = invoke("label-split", "--input", PBMC, "--label-key", "bulk_labels", "--seed", 42, "--output",
               out / "folds.tsv")
    assert r.exit_code == 0, r.output
    fold_files = []
    for clf in ("lr", "knn", "rf"):
        for fold in range(5):
            f = out / f"{clf}_{fold}.json"
            r = invoke("label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", out / "folds.tsv",
                       "--fold", fold, "--classifier", clf, "--output", f, "--seed", 42, "--threads", 2)
            assert r.exit_code == 0, r.output
            fold_files.append(f)
    r = invoke("label-merge", "--output", out / "merged.json", *reversed(fold_files))
    assert r.exit_code == 0, r.output
    for name in ("all.json", "all_again.json"):
        r = invoke("label-prediction", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels",
                   "--output", out / name, "--seed", 42)
        assert r.exit_code == 0, r.output
    return out, fold_files


def test_cli_split_writes_kept_cells_with_folds(cli_runs, pbmc):
    out, _ = cli_runs
    lines = (out / "folds.tsv").read_text().splitlines()
    assert lines[0].startswith("# cellbench label-split") and "label_key=bulk_labels" in lines[0]
    frame = pd.read_csv(out / "folds.tsv", sep="\t", skiprows=1, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["cell_id", "label", "fold"]
    y = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    keep = filter_min_class(y, 10)
    assert list(frame["cell_id"]) == list(pbmc.obs_names[keep])  # dataset order
    assert np.array_equal(frame["fold"].astype(int).to_numpy(), assign_folds(y[keep], 5, 42))


def test_cli_fold_result(cli_runs):
    _, fold_files = cli_runs
    data = json.loads(fold_files[0].read_text())
    assert data["task"] == "label_prediction_fold" and data["model"] == "X_pca"
    assert [m["metric_type"] for m in data["metrics"]] == ["accuracy", "f1", "precision", "recall", "auroc"]
    assert data["params"]["classifier"] == "lr" and data["params"]["fold"] == 0
    assert {f["role"] for f in data["inputs"]} == {"dataset", "folds"}


def test_cli_merge_equals_all_in_one(cli_runs, all_in_one):
    out, _ = cli_runs
    merged, whole = strip_volatile(out / "merged.json"), strip_volatile(out / "all.json")
    assert merged["task"] == whole["task"] == "label_prediction"
    assert merged["metrics"] == whole["metrics"]
    assert merged["params"] == whole["params"]
    assert [m["value"] for m in whole["metrics"]] == [r.value for r in all_in_one]
    assert merged["inputs"] == sorted(
        whole["inputs"] + [next(f for f in json.loads((out / "lr_0.json").read_text())["inputs"]
                                if f["role"] == "folds")], key=lambda f: (f["role"], f["name"]))


def test_cli_deterministic_bytes(cli_runs):
    out, _ = cli_runs

    def text(name):
        lines = (out / name).read_text().splitlines()
        return [ln for ln in lines if '"wall_time_s"' not in ln and '"peak_rss_mb"' not in ln]

    assert text("all.json") == text("all_again.json")


def test_cli_merge_names_the_missing_fold(cli_runs, tmp_path):
    _, fold_files = cli_runs
    r = invoke("label-merge", "--output", tmp_path / "m.json", *fold_files[:-1])
    assert r.exit_code != 0
    assert "classifier rf fold 4" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "m.json").exists()
    r = invoke("label-merge", "--output", tmp_path / "m.json", *fold_files, fold_files[3])
    assert r.exit_code != 0 and "also in" in r.output


def test_cli_raw_expression_baseline_sparse_layer(tmp_path, pbmc):
    """--layer counts (sparse counts) runs and equals the dense features."""
    r = invoke("label-prediction", "--input", PBMC, "--layer", "counts", "--label-key", "bulk_labels",
               "--classifiers", "rf", "--output", tmp_path / "raw.json")
    assert r.exit_code == 0, r.output
    got = [m["value"] for m in json.loads((tmp_path / "raw.json").read_text())["metrics"]]
    counts = pbmc.layers["counts"]
    dense = counts.toarray() if sp.issparse(counts) else np.asarray(counts)
    expected = run_label_prediction(dense, pbmc.obs["bulk_labels"].astype(str).to_numpy(), classifiers=["rf"])
    assert got == [m.value for m in expected]


@pytest.fixture(scope="module")
def one_label_h5ad(tmp_path_factory, pbmc):
    path = tmp_path_factory.mktemp("bad") / "one_label.h5ad"
    bad = pbmc.copy()
    bad.obs["only"] = "same"
    bad.write_h5ad(path)
    return path


@pytest.mark.parametrize(
    "args, needle",
    [
        (["label-split", "--input", "{one}", "--label-key", "only"], "at least 2 distinct labels"),
        (["label-split", "--input", PBMC, "--label-key", "bulk_labels", "--min-class-size", 1000],
         "fewer than 1000 cells"),
        (["label-split", "--input", PBMC, "--label-key", "nope"], "obs column 'nope' not found"),
        (["label-prediction", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "nope"],
         "obs column 'nope' not found"),
        (["label-prediction", "--input", "{one}", "--obsm-key", "X_pca", "--label-key", "only"],
         "at least 2 distinct labels"),
        (["label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", "{missing}", "--fold", 0,
          "--classifier", "lr"], "folds file not found"),
        (["label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", "{folds}", "--fold", 5,
          "--classifier", "lr"], "--fold 5 out of range"),
        (["label-fold", "--input", PBMC, "--obsm-key", "X_nope", "--folds", "{folds}", "--fold", 0,
          "--classifier", "lr"], "obsm key 'X_nope' not found"),
        (["label-fold", "--input", DATA / "hsmm_myoblast_timecourse.h5ad", "--folds", "{folds}", "--fold", 0,
          "--classifier", "lr"], "in column 'cell_id' are not in"),
        (["label-fold", "--input", PBMC, "--obsm-key", "X_pca", "--folds", "{folds}", "--fold", 0,
          "--classifier", "lr", "--seed", 7], "folds were made with seed 42"),
    ],
)
def test_cli_bad_input_one_line_error_no_output(args, needle, tmp_path, cli_runs, one_label_h5ad):
    out, _ = cli_runs
    subst = {"{one}": one_label_h5ad, "{missing}": tmp_path / "absent.tsv", "{folds}": out / "folds.tsv"}
    args = [subst.get(a, a) if isinstance(a, str) else a for a in args]
    target = tmp_path / "result.out"
    r = invoke(*args, "--output", target)
    assert r.exit_code == 1, r.output
    message = r.output.strip()
    assert message.startswith("Error: ") and len(message.splitlines()) == 1, message
    assert needle in message
    named = {str(Path(a)) for a in args if isinstance(a, Path) or str(a).endswith((".h5ad", ".tsv"))}
    assert any(n in message for n in named), message  # names the file
    assert not target.exists()
    assert not list(tmp_path.glob(".result.out*"))  # no temporary left either


def test_single_fold_process_imports_only_what_it_needs(cli_runs, tmp_path):
    out, _ = cli_runs
    code = (
        "import sys\n"
        "from cellbench.cli import main\n"
        f"sys.argv = ['cellbench', 'label-fold', '--input', {str(PBMC)!r}, '--obsm-key', 'X_pca', '--folds', "
        f"{str(out / 'folds.tsv')!r}, '--fold', '1', '--classifier', 'knn', '--output', "
        f"{str(tmp_path / 'k.json')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('scanpy', 'matplotlib', 'numba', 'igraph', 'leidenalg', 'umap') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "none"
    assert (tmp_path / "k.json").exists()


def test_merged_means_carry_fold_intervals(cli_runs, tmp_path):
    """label-merge: every mean_fold_* has a bootstrap interval over the 5 folds (seeded by the results'
    seed, whatever the order of the files); --n-boot 0 gives the same values without intervals."""
    out, fold_files = cli_runs
    merged = json.loads((out / "merged.json").read_text())
    for m in merged["metrics"]:
        ci = m["ci"]
        assert ci["unit"] == "folds" and ci["n_units"] == 5 and ci["seed"] == 42 and ci["n_boot"] == 1000, m
        assert ci["low"] - 1e-12 <= m["value"] <= ci["high"] + 1e-12, m
    r = invoke("label-merge", "--n-boot", 0, "--threads", 2, "--output", tmp_path / "off.json", *fold_files)
    assert r.exit_code == 0, r.output
    off = json.loads((tmp_path / "off.json").read_text())["metrics"]
    assert off == [{k: v for k, v in m.items() if k != "ci"} for m in merged["metrics"]]
    rows = [MetricResult(**m) for f in fold_files for m in json.loads(f.read_text())["metrics"]]
    assert merge_folds(rows, seed=42) == merge_folds(rows[::-1], seed=42)
    assert [m.model_dump() for m in merge_folds(rows, seed=42)] == merged["metrics"]
    other = merge_folds(rows, seed=7)
    assert [m.value for m in other] == [m["value"] for m in merged["metrics"]]
    assert any(o.ci.low != m["ci"]["low"] or o.ci.high != m["ci"]["high"] for o, m in zip(other, merged["metrics"]))
