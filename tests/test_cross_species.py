"""Cross-species integration and label prediction on Baron 2016 pancreas, human and mouse (real data).

The representation is one "model" applied to each species on its own: log-normalized expression of
the 1:1 ortholog genes (the files share them, row-paired in the ortholog table), projected on a
20-component PCA fitted to the human cells. The reference's arithmetic is transcribed in
`reference_*` helpers (make_scorer, StratifiedKFold, ...) for exactness checks; the parity suite
runs cz-benchmarks itself.
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
from cellbench.errors import InputError
from cellbench.tasks.cross_species_classifiers import ovr_auroc_shared
from cellbench.tasks.cross_species_integration import cross_species_integration, stack_species
from cellbench.tasks.cross_species_label import (
    MEAN_NAME,
    SpeciesData,
    cross_species_label_prediction,
    species_pair_metrics,
)
from cellbench.tasks.cross_species_samples import aggregate_to_samples

DATA = Path(__file__).parent / "data"
HUMAN = DATA / "baron2016_pancreas_human.h5ad"
MOUSE = DATA / "baron2016_pancreas_mouse.h5ad"
ORTHOLOGS = DATA / "baron2016_orthologs_1v1_human2mouse.csv"
LABEL = "cell_ontology_class"
SCORES = ("accuracy", "f1", "precision", "recall", "auroc")


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.strip().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def strip_timing(path) -> str:
    data = json.loads(Path(path).read_text())
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def baron():
    """{species: (obs, float32 embedding)} from one PCA model fitted on human, applied to both."""
    from sklearn.decomposition import PCA

    from cellbench.tasks.perturbation import log_normalize

    human, mouse = ad.read_h5ad(HUMAN), ad.read_h5ad(MOUSE)
    pairs = pd.read_csv(ORTHOLOGS)
    assert list(pairs["human.gene.name"]) == list(human.var_names)
    assert list(pairs["gene.name"]) == list(mouse.var_names)
    lh, lm = log_normalize(human.X), log_normalize(mouse.X)
    var = np.asarray(lh.power(2).mean(axis=0)).ravel() - np.asarray(lh.mean(axis=0)).ravel() ** 2
    top = np.sort(np.argsort(-var, kind="stable")[:1000])
    pca = PCA(20, svd_solver="randomized", random_state=0).fit(lh[:, top].toarray())
    return {
        "human": (human.obs, pca.transform(lh[:, top].toarray()).astype(np.float32)),
        "mouse": (mouse.obs, pca.transform(lm[:, top].toarray()).astype(np.float32)),
    }


def species(baron, name, labels=None, sample_key=None) -> SpeciesData:
    obs, X = baron[name]
    keep = np.ones(len(obs), bool) if labels is None else obs[LABEL].isin(labels).to_numpy()
    ids = None if sample_key is None else obs[sample_key].astype(str).to_numpy()[keep]
    return SpeciesData(name, X[keep], obs[LABEL].astype(str).to_numpy()[keep], ids)


@pytest.fixture(scope="module")
def common_labels(baron):
    """Labels with at least 10 cells in both species: where the reference runs without crashing."""
    counts = [baron[s][0][LABEL].value_counts() for s in ("human", "mouse")]
    return sorted(set(counts[0][counts[0] >= 10].index) & set(counts[1][counts[1] >= 10].index))


@pytest.fixture(scope="module")
def embedding_files(baron, tmp_path_factory):
    """Per species an .h5ad of the embedding, rows in reverse order (alignment is by cell id)."""
    folder = tmp_path_factory.mktemp("emb")
    paths = {}
    for name, (obs, X) in baron.items():
        a = ad.AnnData(X[::-1].copy(), obs=pd.DataFrame(index=obs.index[::-1]))
        paths[name] = folder / f"{name}_pca.h5ad"
        a.write_h5ad(paths[name])
    return paths


# ------------------------------------------------------------------------- reference transcriptions


def reference_classifiers(seed=42):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "lr": Pipeline([("scaler", StandardScaler()), ("lr", LogisticRegression(max_iter=1000, random_state=seed))]),
        "knn": Pipeline([("scaler", StandardScaler()), ("knn", KNeighborsClassifier(n_neighbors=5))]),
        "rf": Pipeline([("rf", RandomForestClassifier(n_estimators=100, random_state=seed))]),
    }


def reference_scorers(n_classes):
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        make_scorer,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    avg = "binary" if n_classes == 2 else "macro"
    return {
        "accuracy": make_scorer(accuracy_score),
        "f1": make_scorer(f1_score, average=avg),
        "precision": make_scorer(precision_score, average=avg),
        "recall": make_scorer(recall_score, average=avg),
        "auroc": make_scorer(roc_auc_score, average="macro", multi_class="ovr", response_method="predict_proba"),
    }


def reference_pair(train: SpeciesData, test: SpeciesData, seed=42, n_folds=5, groups=None, classifiers=("lr", "knn", "rf")):
    """cz-benchmarks' per-pair rows and its metric results, transcribed (no cellbench code);
    `classifiers` leaves some out (to keep tests fast), as cellbench's option does."""
    import warnings

    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if train.name == test.name:
            cat = pd.Categorical(pd.Series(train.labels).astype(str))
            codes = cat.codes
            scorers = reference_scorers(len(cat.categories))
            selector = (StratifiedKFold if groups is None else StratifiedGroupKFold)(
                n_splits=n_folds, shuffle=True, random_state=seed
            )
            for name, clf in reference_classifiers(seed).items():
                if name not in classifiers:
                    continue
                for tr, te in selector.split(train.X, codes, groups=groups):
                    clf.fit(train.X[tr], codes[tr])
                    rows.append({"classifier": name, **{k: s(clf, train.X[te], codes[te]) for k, s in scorers.items()}})
            prefix = "mean_fold_"
        else:
            tr_cat = pd.Categorical(pd.Series(train.labels).astype(str))
            te_codes = pd.Categorical(pd.Series(test.labels).astype(str), categories=tr_cat.categories).codes
            scorers = reference_scorers(len(tr_cat.categories))
            for name, clf in reference_classifiers(seed).items():
                if name not in classifiers:
                    continue
                clf.fit(train.X, tr_cat.codes)
                rows.append({"classifier": name, **{k: s(clf, test.X, te_codes) for k, s in scorers.items()}})
            prefix = ""
    df = pd.DataFrame(rows)
    out = [(prefix + m, MEAN_NAME, df[m].mean()) for m in SCORES]
    for clf in df["classifier"].unique():
        sub = df[df["classifier"] == clf]
        out += [(prefix + m, clf, sub[m].mean() if prefix else sub[m].iloc[0]) for m in SCORES]
    return out


def as_tuples(metrics):
    return [(r.metric_type, r.params["classifier"], r.value) for r in metrics]


# ------------------------------------------------------------------------- label prediction


def test_within_species_matches_reference(baron, common_labels):
    human = species(baron, "human", common_labels)
    metrics, info = species_pair_metrics(human, human)
    assert info["dropped_classes"] == {"human": []} and info["aggregation"] == "none"
    assert as_tuples(metrics) == reference_pair(human, human)
    assert {r.params["train_species"] for r in metrics} == {"human"}
    assert len(metrics) == 20 and metrics[0].metric_type == "mean_fold_accuracy"


def test_across_species_matches_reference(baron, common_labels):
    human, mouse = species(baron, "human", common_labels), species(baron, "mouse", common_labels)
    for train, test in ((human, mouse), (mouse, human)):
        metrics, info = species_pair_metrics(train, test)
        assert as_tuples(metrics) == reference_pair(train, test)
        assert info["unseen_test_labels"] == []
        assert [r.metric_type for r in metrics[:5]] == list(SCORES)
        assert metrics[0].params == {"train_species": train.name, "test_species": test.name, "classifier": MEAN_NAME}
    # the shared PCA space transfers: most cells of the other species are labelled right
    assert metrics[0].value > 0.8


def test_grouped_folds_match_reference(baron, common_labels):
    """Sample ids without aggregation: StratifiedGroupKFold over donors (4 human donors, 3 folds)."""
    human = species(baron, "human", common_labels, sample_key="donor")
    metrics, info = species_pair_metrics(human, human, aggregation="none", n_folds=3, classifiers=["lr", "knn"])
    assert info["aggregation"] == "none"
    assert as_tuples(metrics) == reference_pair(human, human, n_folds=3, groups=human.sample_ids, classifiers=["lr", "knn"])


def test_aggregation_to_samples(baron, common_labels):
    """Samples = donor x cell type (the reference takes a sample's first label): mean per sample."""
    obs, X = baron["human"]
    ids = (obs["donor"].astype(str) + "|" + obs[LABEL].astype(str)).to_numpy()
    Xs, labels, sample_ids = aggregate_to_samples(X, obs[LABEL].to_numpy(), ids, "mean")
    # the reference's aggregate_cells_to_samples, transcribed
    frame = pd.DataFrame(X)
    frame["sample_id"] = ids
    frame["label"] = obs[LABEL].astype(str).to_numpy()
    numeric = frame.select_dtypes(include=[np.number]).columns
    ref = frame[numeric.tolist() + ["sample_id"]].groupby("sample_id").agg("mean")
    np.testing.assert_array_equal(Xs, ref.to_numpy())
    assert list(sample_ids) == list(ref.index)
    assert list(labels) == [s.split("|")[1] for s in ref.index]
    med, _, _ = aggregate_to_samples(X, obs[LABEL].to_numpy(), ids, "median")
    np.testing.assert_array_equal(med, frame[numeric.tolist() + ["sample_id"]].groupby("sample_id").agg("median").to_numpy())

    # "auto" aggregates when sample ids are given: within human, 3 folds over donor x type samples
    human = SpeciesData("human", X, obs[LABEL].to_numpy(), ids)
    metrics, info = species_pair_metrics(human, human, n_folds=3, classifiers=["lr", "knn"])
    assert info["aggregation"] == "mean"
    # classes found in fewer than 3 donors (= samples) cannot be in every fold: dropped and reported
    per_class_donors = obs.groupby(LABEL, observed=True)["donor"].nunique()
    small = sorted(per_class_donors.index[per_class_donors < 3].astype(str))
    assert info["dropped_classes"]["human"] == small
    assert info["n_train"] == sum(1 for s in set(ids) if s.split("|")[1] not in small)
    kept = ~np.isin(labels, small)
    agg = SpeciesData("human", Xs[kept], labels[kept])
    assert as_tuples(metrics) == reference_pair(agg, agg, n_folds=3, groups=sample_ids[kept], classifiers=["lr", "knn"])
    assert all(r.value is not None and 0 <= r.value <= 1 for r in metrics)


def test_small_classes_dropped_not_a_crash(baron):
    """All human labels: T cell (4), epsilon (3) and Schwann (2 cells) are too small for 5 folds;
    the reference crashes on them (AUROC), cellbench drops them and says so."""
    human = species(baron, "human")
    metrics, info = species_pair_metrics(human, human, classifiers=["lr", "knn"])
    assert info["dropped_classes"] == {"human": ["Schwann cell", "T cell", "pancreatic epsilon cell"]}
    assert info["n_classes"] == 10
    assert all(r.value is not None for r in metrics)
    kept = ~np.isin(human.labels, info["dropped_classes"]["human"])
    filtered = SpeciesData("human", human.X[kept], human.labels[kept])
    assert as_tuples(metrics) == reference_pair(filtered, filtered, classifiers=["lr", "knn"])


def test_unseen_labels_count_as_wrong(baron):
    """Mouse has B cells and leukocytes, human has none: fit on human, score on mouse."""
    human, mouse = species(baron, "human"), species(baron, "mouse")
    metrics, info = species_pair_metrics(human, mouse, classifiers=["lr", "knn"])
    assert info["unseen_test_labels"] == ["B cell", "leukocyte"]
    seen = np.isin(mouse.labels, np.unique(human.labels))
    acc = {r.params["classifier"]: r.value for r in metrics if r.metric_type == "accuracy"}
    for name in ("lr", "knn"):
        assert acc[name] <= seen.mean() + 1e-12
    # AUROC: the reference crashes (label sets differ); cellbench averages one-vs-rest over shared classes
    from cellbench.tasks.cross_species_classifiers import make_cross_species_classifier

    classes, codes = np.unique(human.labels, return_inverse=True)
    clf = make_cross_species_classifier("lr").fit(human.X, codes)
    test_codes = np.array([list(classes).index(x) if x in classes else -1 for x in mouse.labels])
    auroc = next(r.value for r in metrics if r.metric_type == "auroc" and r.params["classifier"] == "lr")
    assert auroc == ovr_auroc_shared(test_codes, clf.predict_proba(mouse.X), clf.classes_)
    assert 0.5 < auroc <= 1


def test_ovr_auroc_shared_equals_sklearn_on_equal_label_sets(baron, common_labels):
    from sklearn.metrics import roc_auc_score

    from cellbench.tasks.cross_species_classifiers import make_cross_species_classifier

    human, mouse = species(baron, "human", common_labels), species(baron, "mouse", common_labels)
    classes, codes = np.unique(human.labels, return_inverse=True)
    test = np.searchsorted(classes, mouse.labels)
    proba = make_cross_species_classifier("knn").fit(human.X, codes).predict_proba(mouse.X)
    expected = roc_auc_score(test, proba, average="macro", multi_class="ovr")
    assert ovr_auroc_shared(test, proba, np.arange(len(classes))) == pytest.approx(expected, abs=1e-15)


def test_two_classes_with_unseen_test_labels(baron):
    """Binary training (alpha vs beta) scored on mouse cells of three types: no crash, positive class scored."""
    from sklearn.metrics import f1_score

    train = species(baron, "human", ["pancreatic A cell", "type B pancreatic cell"])
    test = species(baron, "mouse", ["pancreatic A cell", "type B pancreatic cell", "pancreatic D cell"])
    metrics, info = species_pair_metrics(train, test, classifiers=["lr"])
    assert info["unseen_test_labels"] == ["pancreatic D cell"]
    from cellbench.tasks.cross_species_classifiers import make_cross_species_classifier

    clf = make_cross_species_classifier("lr").fit(train.X, (train.labels == "type B pancreatic cell").astype(int))
    y = np.where(test.labels == "type B pancreatic cell", 1, np.where(test.labels == "pancreatic A cell", 0, -1))
    f1 = next(r.value for r in metrics if r.metric_type == "f1" and r.params["classifier"] == "lr")
    assert f1 == f1_score(y, clf.predict(test.X), labels=[1], average="macro")
    assert len(metrics) == 10  # MEAN + lr


def test_all_pairs_with_three_species(baron, common_labels):
    """Three species: the THIRD GROUP IS MADE UP from the human file, split by donor into 'human_a'
    (donors human1, human2) and 'human_b' (human3, human4); only the many-species path is tested."""
    obs, X = baron["human"]
    keep = obs[LABEL].isin(common_labels).to_numpy()
    a = keep & obs["donor"].isin(["human1", "human2"]).to_numpy()
    b = keep & obs["donor"].isin(["human3", "human4"]).to_numpy()
    groups = [
        SpeciesData("human_a", X[a], obs[LABEL].to_numpy()[a]),
        SpeciesData("human_b", X[b], obs[LABEL].to_numpy()[b]),
        species(baron, "mouse", common_labels),
    ]
    metrics, infos = cross_species_label_prediction(groups, classifiers=["knn"])
    pairs = [(r.params["train_species"], r.params["test_species"]) for r in metrics]
    expected = [(t, s) for t in ("human_a", "human_b", "mouse") for s in ("human_a", "human_b", "mouse")]
    assert list(dict.fromkeys(pairs)) == expected
    assert len(metrics) == 9 * 10
    assert set(infos) == {f"{t}->{s}" for t, s in expected}
    # each pair is the same as its own unit of work
    one, _ = species_pair_metrics(groups[2], groups[0], classifiers=["knn"])
    assert [r for r in metrics if r.params["train_species"] == "mouse" and r.params["test_species"] == "human_a"] == one


def test_single_species_is_an_error(baron):
    with pytest.raises(InputError, match="at least 2 species"):
        cross_species_label_prediction([species(baron, "human")])
    with pytest.raises(InputError, match="at least 2 species"):
        cross_species_integration([baron["human"][1]], [baron["human"][0][LABEL]], ["human"])
    with pytest.raises(InputError, match="at least 2 species"):  # one species under two names is still one
        cross_species_integration([baron["human"][1]] * 2, [baron["human"][0][LABEL]] * 2, ["human", "human"])


# ------------------------------------------------------------------------- integration


def test_integration_matches_direct_formulas(baron):
    """entropy_per_cell and batch_silhouette on the stack, recomputed with sklearn from the definitions."""
    from sklearn.metrics import silhouette_samples
    from sklearn.neighbors import NearestNeighbors

    (ho, hx), (mo, mx) = baron["human"], baron["mouse"]
    metrics = cross_species_integration([hx, mx], [ho[LABEL], mo[LABEL]], ["human", "mouse"])
    assert [r.metric_type for r in metrics] == ["entropy_per_cell", "batch_silhouette"]
    X, labels, batch = stack_species([hx, mx], [ho[LABEL], mo[LABEL]], ["human", "mouse"])
    assert X.shape == (len(ho) + len(mo), 20) and list(batch[: len(ho)]) == ["human"] * len(ho)
    X64 = X.astype(np.float64)
    idx = NearestNeighbors(n_neighbors=200).fit(X64).kneighbors(X64, return_distance=False)
    p = (batch[idx] == "human").mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(np.stack([p * np.log(p), (1 - p) * np.log(1 - p)]), axis=0) / np.log(2)
    assert metrics[0].value == pytest.approx(h.mean(), abs=1e-3)  # ties among equidistant neighbours aside
    groups = []
    for lab in np.unique(labels):
        m = labels == lab
        if len(np.unique(batch[m])) in (1, int(m.sum())):
            continue
        groups.append(np.mean(1 - np.abs(silhouette_samples(X64[m], batch[m]))))
    assert metrics[1].value == pytest.approx(np.mean(groups), abs=1e-5)
    # separately embedded species with a species offset are not mixed at all
    shifted = cross_species_integration([hx, mx + 100], [ho[LABEL], mo[LABEL]], ["human", "mouse"])
    assert shifted[0].value == 0.0 and shifted[1].value < metrics[1].value


def test_integration_three_species(baron):
    """Three species: the THIRD GROUP IS MADE UP from the human file (donors human1+human2 vs human3+human4)."""
    obs, X = baron["human"]
    a = obs["donor"].isin(["human1", "human2"]).to_numpy()
    mo, mx = baron["mouse"]
    metrics = cross_species_integration(
        [X[a], X[~a], mx], [obs[LABEL][a], obs[LABEL][~a], mo[LABEL]], ["human_a", "human_b", "mouse"]
    )
    assert all(0 <= r.value <= 1 for r in metrics)
    two = cross_species_integration([X, mx], [obs[LABEL], mo[LABEL]], ["human", "mouse"])
    # splitting a species by donor adds well-mixed "species", so mixing goes up
    assert metrics[0].value > two[0].value


# ------------------------------------------------------------------------- CLI


def species_args(embedding_files, label=LABEL):
    return [
        "--input", str(HUMAN), "--input", str(MOUSE), "--species", "human", "--species", "mouse",
        "--embedding", str(embedding_files["human"]), "--embedding", str(embedding_files["mouse"]),
        "--label-key", label,
    ]


def test_cli_integration(baron, embedding_files, tmp_path):
    out = tmp_path / "i.json"
    res = invoke(["cross-species-integration", *species_args(embedding_files), "--model-name", "pca20", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["task"] == "cross_species_integration" and data["model"] == "pca20"
    assert data["dataset"] == "baron2016_pancreas_human+baron2016_pancreas_mouse"
    assert data["params"]["species"] == ["human", "mouse"] and data["n_cells"] == 2142 + 1886
    assert [i["role"] for i in data["inputs"]] == [
        "dataset:human", "representation:human", "dataset:mouse", "representation:mouse"]
    (ho, hx), (mo, mx) = baron["human"], baron["mouse"]
    direct = cross_species_integration([hx, mx], [ho[LABEL], mo[LABEL]], ["human", "mouse"])
    assert [m["value"] for m in data["metrics"]] == [r.value for r in direct]  # reversed rows realigned by id
    again = tmp_path / "j.json"
    invoke(["cross-species-integration", *species_args(embedding_files), "--model-name", "pca20", "-o", str(again)])
    assert strip_timing(out) == strip_timing(again)


def test_cli_label_pairs(baron, embedding_files, tmp_path):
    out = tmp_path / "hm.json"
    args = ["cross-species-label", *species_args(embedding_files), "--train-species", "human", "--test-species", "mouse",
            "--classifiers", "lr,knn"]
    res = invoke([*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["task"] == "cross_species_label"
    assert data["params"]["unseen_test_labels"] == ["B cell", "leukocyte"]
    assert data["params"]["aggregation"] == "none" and data["params"]["classifiers"] == ["lr", "knn"]
    direct, _ = species_pair_metrics(species(baron, "human"), species(baron, "mouse"), classifiers=["lr", "knn"])
    assert [(m["metric_type"], m["params"], m["value"]) for m in data["metrics"]] == [
        (r.metric_type, r.params, r.value) for r in direct]
    again = tmp_path / "hm2.json"
    invoke([*args, "-o", str(again)])
    assert strip_timing(out) == strip_timing(again)


def test_cli_label_same_species_reads_one_file(baron, embedding_files, tmp_path):
    out = tmp_path / "mm.json"
    res = invoke(["cross-species-label", "--input", str(MOUSE), "--species", "mouse", "--embedding",
                  str(embedding_files["mouse"]), "--label-key", LABEL, "--train-species", "mouse",
                  "--test-species", "mouse", "--classifiers", "knn", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["params"]["dropped_classes"] == {"mouse": []} and data["params"]["n_folds"] == 5
    assert [m["metric_type"] for m in data["metrics"][:5]] == [f"mean_fold_{s}" for s in SCORES]
    assert len(data["inputs"]) == 2


def test_intervals_over_folds_within_species_and_over_cells_in_integration(baron, embedding_files, tmp_path):
    """Same species: every mean_fold_* carries a bootstrap interval over folds (seeded); across species
    (one fit per classifier) there is nothing to resample; --n-boot 0 switches intervals off."""
    mouse = species(baron, "mouse")
    within, _ = species_pair_metrics(mouse, mouse, n_folds=3, classifiers=["knn"], seed=1)
    for r in within:
        assert r.ci is not None and r.ci.unit == "folds" and r.ci.n_units == 3 and r.ci.seed == 1, r
        assert r.ci.low - 1e-12 <= r.value <= r.ci.high + 1e-12, r
    other, _ = species_pair_metrics(mouse, mouse, n_folds=3, classifiers=["knn"], seed=1, n_boot=0)
    assert all(r.ci is None for r in other) and [r.value for r in other] == [r.value for r in within]
    across, _ = species_pair_metrics(species(baron, "human"), mouse, classifiers=["knn"])
    assert all(r.ci is None for r in across)
    (ho, hx), (mo, mx) = baron["human"], baron["mouse"]
    integ = cross_species_integration([hx, mx], [ho[LABEL], mo[LABEL]], ["human", "mouse"], seed=3)
    for r in integ:
        assert r.ci.unit == "cells" and r.ci.seed == 3 and r.ci.low <= r.value <= r.ci.high, r
    assert integ[0].ci.n_units == len(hx) + len(mx)
    out = tmp_path / "i.json"
    res = invoke(["cross-species-integration", *species_args(embedding_files), "--n-boot", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [set(m) for m in data["metrics"]] == [{"metric_type", "value", "params"}] * 2


def test_cli_label_with_samples(baron, tmp_path):
    """Representation in X of the --input itself, with a sample column donor|cell type (from obs)."""
    paths = {}
    for name, (obs, X) in baron.items():
        frame = pd.DataFrame({LABEL: obs[LABEL].astype(str), "sample": obs["donor"].astype(str) + "|" + obs[LABEL].astype(str)})
        paths[name] = tmp_path / f"{name}.h5ad"
        ad.AnnData(X, obs=frame).write_h5ad(paths[name])
    base = ["cross-species-label", "--input", str(paths["human"]), "--input", str(paths["mouse"]), "--species", "human",
            "--species", "mouse", "--label-key", LABEL, "--sample-key", "sample", "--classifiers", "lr,rf"]
    out = tmp_path / "mh.json"
    res = invoke([*base, "--train-species", "mouse", "--test-species", "human", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["params"]["aggregation"] == "mean" and data["params"]["sample_key"] == {"mouse": "sample", "human": "sample"}
    assert data["model"] == "X" and data["dataset"] == "human+mouse"
    n_samples = {k: (v[0]["donor"].astype(str) + v[0][LABEL].astype(str)).nunique() for k, v in baron.items()}
    assert data["params"]["n_train"] == n_samples["mouse"] and data["params"]["n_test"] == n_samples["human"]
    out = tmp_path / "hh.json"
    res = invoke([*base, "--train-species", "human", "--test-species", "human", "--n-folds", "3",
                  "--aggregation", "median", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["params"]["aggregation"] == "median"
    # mouse has 2 donors: no class is in 3 sample groups' worth of donors -> a one-line error naming the file
    res = invoke([*base, "--train-species", "mouse", "--test-species", "mouse",
                  "--n-folds", "3", "-o", str(tmp_path / "mm.json")])
    line = error_line(res)
    assert str(paths["mouse"]) in line and "species 'mouse'" in line


# ------------------------------------------------------------------------- bad input


def test_cli_single_species(embedding_files, tmp_path):
    res = invoke(["cross-species-integration", "--input", str(HUMAN), "--species", "human", "--embedding",
                  str(embedding_files["human"]), "--label-key", LABEL, "-o", str(tmp_path / "x.json")])
    line = error_line(res)
    assert str(HUMAN) in line and "at least 2 species" in line and "'human'" in line
    assert not (tmp_path / "x.json").exists()


def test_cli_label_column_missing_in_one_species(embedding_files, tmp_path):
    args = ["--input", str(HUMAN), "--input", str(MOUSE), "--species", "human", "--species", "mouse",
            "--embedding", str(embedding_files["human"]), "--embedding", str(embedding_files["mouse"]),
            "--label-key", LABEL, "--label-key", "celltype"]
    for cmd in (["cross-species-integration"], ["cross-species-label", "--train-species", "human",
                                                 "--test-species", "mouse"]):
        res = invoke([*cmd, *args, "-o", str(tmp_path / "x.json")])
        line = error_line(res)
        assert str(MOUSE) in line and "'celltype'" in line


def test_cli_mismatched_options(embedding_files, tmp_path):
    res = invoke(["cross-species-integration", "--input", str(HUMAN), "--input", str(MOUSE), "--species", "human",
                  "--label-key", LABEL, "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "one --species per --input" in res.output
    res = invoke(["cross-species-label", *species_args(embedding_files), "--train-species", "rat",
                  "--test-species", "mouse", "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "'rat' is not one of the --species" in res.output
    res = invoke(["cross-species-integration", "--input", str(HUMAN), "--input", str(MOUSE), "--species", "human",
                  "--species", "human", "--label-key", LABEL, "-o", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "more than once" in res.output


def test_cli_embedding_widths_differ(baron, embedding_files, tmp_path):
    obs, X = baron["mouse"]
    narrow = tmp_path / "mouse_narrow.h5ad"
    ad.AnnData(X[:, :10], obs=pd.DataFrame(index=obs.index)).write_h5ad(narrow)
    res = invoke(["cross-species-integration", "--input", str(HUMAN), "--input", str(MOUSE), "--species", "human",
                  "--species", "mouse", "--embedding", str(embedding_files["human"]), "--embedding", str(narrow),
                  "--label-key", LABEL, "-o", str(tmp_path / "x.json")])
    line = error_line(res)
    assert str(narrow) in line and "10-d" in line and "20-d" in line


def test_cli_embedding_missing_cells(baron, embedding_files, tmp_path):
    obs, X = baron["mouse"]
    partial = tmp_path / "mouse_partial.h5ad"
    ad.AnnData(X[1:], obs=pd.DataFrame(index=obs.index[1:])).write_h5ad(partial)
    res = invoke(["cross-species-label", "--input", str(HUMAN), "--input", str(MOUSE), "--species", "human",
                  "--species", "mouse", "--embedding", str(embedding_files["human"]), "--embedding", str(partial),
                  "--label-key", LABEL, "--train-species", "human", "--test-species", "mouse",
                  "-o", str(tmp_path / "x.json")])
    line = error_line(res)
    assert str(partial) in line and obs.index[0] in line
