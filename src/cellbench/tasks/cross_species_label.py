"""Cross-species label prediction: can a classifier trained on one species label another's cells?

Same numbers as cz-benchmarks' CrossSpeciesLabelPredictionTask on the inputs where it runs:
for an ordered (train species, test species) pair, the same species is scored by K-fold
cross-validation (StratifiedKFold(K, shuffle, seed); StratifiedGroupKFold when sample ids are
given, so no sample is split across folds) and gives `mean_fold_*` metrics; two different species
are scored by fitting on all of one and predicting all of the other (`accuracy`, `f1`,
`precision`, `recall`, `auroc`). The classifiers differ from single-dataset label prediction: the
scaler is centred and logistic regression runs up to 1000 iterations. Labels are integer codes of
the sorted label strings of the training species; a test label unseen in training is always wrong.

Where the reference crashes, cellbench answers (TASKS.md):
- without sample ids it does not aggregate (the reference's default "mean" needs them);
- in cross-validation, classes with fewer cells (or sample groups) than folds are dropped and
  listed in the result's params;
- AUROC when the test labels are not exactly the classifier's classes (a test fold missing a class,
  or species with different label sets) is the mean over the classes seen in both of the
  one-vs-rest AUROC (a test cell of an unseen label is a negative for every class). With equal
  label sets this is exactly sklearn's roc_auc_score(average="macro", multi_class="ovr");
- f1/precision/recall with two training classes and unseen test labels score the positive class
  (code 1) against everything else, which is the binary score the reference means.
Where the reference crashes and no answer would be honest, cellbench stops with a one-line error:
two species that share no label (every score would be 0, or a chance AUROC), and knn with fewer
training cells or samples than its 5 neighbours (a smaller k is another classifier, whose numbers
would sit beside k = 5 ones of other models as if comparable).

Each ordered pair is one unit of work (`species_pair_metrics`); `cross_species_label_prediction`
runs every pair in one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cellbench.errors import InputError
from cellbench.metrics.classification import SCORES, average_for, fold_scores, nan_mean
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.threads import one_blas_thread

CLASSIFIERS = ("lr", "knn", "rf")  # the reference's order
MEAN_NAME = "MEAN(lr,knn,rf)"  # the reference writes this literally, whatever classifiers ran
N_FOLDS = 5
N_NEIGHBORS = 5  # the reference's knn
Aggregation = Literal["auto", "none", "mean", "median"]


@dataclass
class SpeciesData:
    """One species: its representation (cells x dims), labels and optional sample ids, same order.

    `label_key` / `sample_key` (the obs columns, when known) and `unit` (what a row is: cells, or
    samples once aggregated) only make error messages name what the user can fix.
    """

    name: str
    X: np.ndarray
    labels: np.ndarray
    sample_ids: np.ndarray | None = None
    label_key: str | None = None
    sample_key: str | None = None
    unit: str = "cells"

    def __post_init__(self):
        self.X = np.asarray(self.X)
        self.labels = np.asarray(self.labels).astype(str)
        if self.X.ndim != 2:
            raise ValueError(f"species {self.name}: representation must be 2-d, got {self.X.shape}")
        n = self.X.shape[0]
        if len(self.labels) != n:
            raise ValueError(f"species {self.name}: {n} cells but {len(self.labels)} labels")
        if self.sample_ids is not None:
            self.sample_ids = np.asarray(self.sample_ids, dtype=object)
            if len(self.sample_ids) != n:
                raise ValueError(f"species {self.name}: {n} cells but {len(self.sample_ids)} sample ids")

    def describe(self) -> str:
        """The species for messages: species 'NAME' (the CLI finds its file by that text), and its label column."""
        return f"species '{self.name}'" + (f" (obs column '{self.label_key}')" if self.label_key else "")


def aggregate_to_samples(X, labels, sample_ids, method: Literal["mean", "median"] = "mean"):
    """Per sample id: the mean or median of its cells' rows, and the label of its first cell.

    Samples come out sorted by id (pandas groupby order), as in cz-benchmarks'
    `aggregate_cells_to_samples`. Returns (X_samples, labels_samples, sample_ids_sorted).
    """
    import pandas as pd

    if method not in ("mean", "median"):
        raise ValueError(f"aggregation must be 'mean' or 'median', got '{method}'")
    X = np.asarray(X)
    frame = pd.DataFrame(X)
    keys = pd.Series(np.asarray(sample_ids, dtype=object), name="sample_id")
    grouped = frame.groupby(keys, sort=True).agg(method)
    first_label = pd.Series(np.asarray(labels).astype(str)).groupby(keys, sort=True).first()
    first_label = first_label.reindex(grouped.index)
    return grouped.to_numpy(), first_label.to_numpy().astype(str), np.asarray(grouped.index, dtype=object)


def resolve_aggregation(aggregation: Aggregation, has_sample_ids: bool) -> str:
    """'auto' aggregates by mean exactly when sample ids are given (TASKS.md); others are checked."""
    if aggregation == "auto":
        return "mean" if has_sample_ids else "none"
    if aggregation not in ("none", "mean", "median"):
        raise ValueError(f"unknown aggregation '{aggregation}'")
    if aggregation != "none" and not has_sample_ids:
        raise InputError(f"aggregation '{aggregation}' needs sample ids (give a sample-id column)")
    return aggregation


def prepare_species(data: SpeciesData, aggregation: str) -> SpeciesData:
    """The species as the classifiers see it: aggregated to samples when asked."""
    if aggregation == "none":
        return data
    X, labels, ids = aggregate_to_samples(data.X, data.labels, data.sample_ids, aggregation)
    column = f" of obs column '{data.sample_key}'" if data.sample_key else ""
    unit = f"samples (cells averaged per sample id{column})"
    return dataclasses.replace(data, X=X, labels=labels, sample_ids=ids, unit=unit)


def make_classifier(name: str, seed: int = 42, threads: int = 1):
    """The reference's cross-species classifiers (centred scaler; LR with max_iter=1000)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lr":
        from sklearn.linear_model import LogisticRegression

        return Pipeline([("scaler", StandardScaler()), ("lr", LogisticRegression(max_iter=1000, random_state=seed))])
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return Pipeline(
            [("scaler", StandardScaler()), ("knn", KNeighborsClassifier(n_neighbors=N_NEIGHBORS, n_jobs=threads))]
        )
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return Pipeline([("rf", RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=threads))])
    raise ValueError(f"unknown classifier '{name}' (choose from {', '.join(CLASSIFIERS)})")


def ovr_auroc_shared(y_true, proba, classes) -> float:
    """Macro one-vs-rest AUROC over the classes present both in `classes` and in `y_true`.

    Equals sklearn's roc_auc_score(average="macro", multi_class="ovr") whenever the test labels are
    exactly the classifier's classes; otherwise it still answers (cells of labels the classifier
    never saw are negatives for every class). NaN when the test set has a single label.
    """
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    values = []
    for col, c in enumerate(np.asarray(classes)):
        positive = y_true == c
        if positive.any():
            values.append(roc_auc_score(positive, proba[:, col]))
    return float(np.mean(values)) if values else float("nan")


def score_classifier(y_true, y_pred, proba, classes, average: str) -> dict[str, float]:
    """The five scores of one fitted classifier on one test set (codes; -1 = a label unseen in training)."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    scores = fold_scores(y_true, y_pred, proba, classes, average=average, errors="nan")
    unseen = ~np.isin(y_true, classes)
    if average == "binary" and unseen.any():
        # sklearn refuses average="binary" with a third label; score the positive class against the rest
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            for name, func in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
                scores[name] = float(func(y_true, y_pred, labels=[1], average="macro"))
    if set(np.unique(y_true).tolist()) != set(classes.tolist()):
        scores["auroc"] = ovr_auroc_shared(y_true, proba, classes)
    return scores


def _fit_score(name, X_train, y_train, X_test, y_test, average, seed, threads) -> dict[str, float]:
    from sklearn.exceptions import ConvergenceWarning

    clf = make_classifier(name, seed, threads)
    # lbfgs iterates on BLAS reductions: one BLAS thread keeps lr's answer thread-count independent
    blas = one_blas_thread() if name == "lr" else contextlib.nullcontext()
    with warnings.catch_warnings(), blas:
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        clf.fit(X_train, y_train)
        predicted, proba = clf.predict(X_test), clf.predict_proba(X_test)
    return score_classifier(y_test, predicted, proba, clf.classes_, average)


def drop_small_classes(labels, n_folds: int, groups=None) -> tuple[np.ndarray, list[str]]:
    """Keep-mask of cells whose class can appear in every fold, and the dropped class names.

    A class needs at least `n_folds` cells, or with groups (sample ids) at least `n_folds`
    distinct groups; the reference crashes on smaller ones (TASKS.md).
    """
    import pandas as pd

    labels = np.asarray(labels).astype(str)
    if groups is None:
        sizes = pd.Series(labels).value_counts()
    else:
        sizes = pd.DataFrame({"l": labels, "g": np.asarray(groups, dtype=object)}).groupby("l")["g"].nunique()
    small = sorted(sizes.index[sizes < n_folds].tolist())
    return ~np.isin(labels, small), small


def split_folds(codes, n_folds: int, seed: int, groups=None):
    """The reference's folds: StratifiedKFold, or StratifiedGroupKFold when groups are given."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        return list(splitter.split(np.zeros((len(codes), 1)), codes, groups=groups))


def within_species_rows(
    data: SpeciesData, *, n_folds: int = N_FOLDS, seed: int = 42, classifiers=CLASSIFIERS, threads: int = 1
) -> tuple[list[dict], dict]:
    """Cross-validated rows {classifier, fold, scores...} for one species, and what was dropped."""
    keep, dropped = drop_small_classes(data.labels, n_folds, data.sample_ids)
    X, labels = data.X[keep], data.labels[keep]
    groups = data.sample_ids[keep] if data.sample_ids is not None else None
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise InputError(
            f"species '{data.name}': cross-validation needs 2 classes with at least {n_folds} "
            f"{'sample groups' if groups is not None else 'cells'} each, found {len(classes)}"
        )
    if groups is not None and len(np.unique(groups)) < n_folds:
        raise InputError(
            f"species '{data.name}': {len(np.unique(groups))} sample ids, fewer than the {n_folds} folds"
        )
    codes = codes.ravel()
    folds = split_folds(codes, n_folds, seed, groups)
    check_knn_neighbours(data, min(len(train) for train, _ in folds), classifiers)
    average = average_for(len(classes))
    rows = []
    for name in classifiers:
        for fold, (train, test) in enumerate(folds):
            scores = _fit_score(name, X[train], codes[train], X[test], codes[test], average, seed, threads)
            rows.append({"classifier": name, "fold": fold, **scores})
    info = {"dropped_classes": dropped, "n_classes": len(classes), "n_train": len(codes)}
    return rows, info


def across_species_rows(
    train: SpeciesData, test: SpeciesData, *, seed: int = 42, classifiers=CLASSIFIERS, threads: int = 1
) -> tuple[list[dict], dict]:
    """Rows {classifier, scores...}: fit on all of `train`, score on all of `test`."""
    classes, train_codes = np.unique(train.labels, return_inverse=True)
    if len(classes) < 2:
        raise InputError(f"species '{train.name}': label prediction needs at least 2 labels, found {len(classes)}")
    if train.X.shape[1] != test.X.shape[1]:
        raise InputError(
            f"species '{train.name}' has {train.X.shape[1]}-d representations but '{test.name}' "
            f"{test.X.shape[1]}-d; both must come from the same model"
        )
    if not np.isin(test.labels, classes).any():
        raise InputError(
            f"{train.describe()} and {test.describe()} share no label (e.g. '{classes[0]}' vs "
            f"'{min(test.labels)}'): a classifier of one cannot label any cell of the other"
        )
    check_knn_neighbours(train, len(train_codes), classifiers)
    lookup = {c: i for i, c in enumerate(classes)}
    test_codes = np.array([lookup.get(label, -1) for label in test.labels], dtype=np.int64)
    average = average_for(len(classes))
    rows = []
    for name in classifiers:
        scores = _fit_score(name, train.X, train_codes.ravel(), test.X, test_codes, average, seed, threads)
        rows.append({"classifier": name, **scores})
    unseen = sorted(set(test.labels.tolist()) - set(classes.tolist()))
    info = {
        "dropped_classes": [],
        "unseen_test_labels": unseen,
        "n_classes": len(classes),
        "n_train": len(train_codes),
        "n_test": len(test_codes),
    }
    return rows, info


def check_knn_neighbours(data: SpeciesData, n_train: int, classifiers) -> None:
    """An InputError when knn is asked for with fewer training rows than its neighbours (the
    reference crashes; a smaller k would be another classifier, see the module docstring)."""
    if "knn" in classifiers and n_train < N_NEIGHBORS:
        raise InputError(
            f"species '{data.name}': knn needs at least {N_NEIGHBORS} training {data.unit}, the smallest "
            f"training set has {n_train}; leave knn out of the classifiers"
        )


def rows_to_metrics(
    rows: list[dict], train_species: str, test_species: str, classifiers, *, seed: int = 42,
    n_boot: int = DEFAULT_N_BOOT,
) -> list[MetricResult]:
    """The reference's results for one pair: means over all rows, then per classifier.

    Cross-validated (same species) means carry a bootstrap interval over folds (n_boot > 0), each
    fold resampled whole with all its classifiers' rows; across species there is one fit per
    classifier and nothing to resample.
    """
    cv = train_species == test_species
    prefix = "mean_fold_" if cv else ""
    out = []
    groups = [(MEAN_NAME, rows)] + [(c, [r for r in rows if r["classifier"] == c]) for c in classifiers]
    for name, group in groups:
        params = {"train_species": train_species, "test_species": test_species, "classifier": name}
        for score in SCORES:
            values = [r[score] for r in group]
            value = nan_mean(values) if (cv or name == MEAN_NAME) else values[0]
            ci = None
            if cv:
                folds = [r["fold"] for r in group]
                ci = metric_ci(values, clusters=folds, unit="folds", seed=seed, n_boot=n_boot)
            out.append(MetricResult(metric_type=prefix + score, value=value, params=dict(params), ci=ci))
    return out


def _check_classifiers(classifiers: Sequence[str]) -> list[str]:
    unknown = set(classifiers) - set(CLASSIFIERS)
    if unknown or not classifiers:
        raise ValueError(f"classifiers must be among {', '.join(CLASSIFIERS)}, got {list(classifiers)}")
    return [c for c in CLASSIFIERS if c in set(classifiers)]


def species_pair_metrics(
    train: SpeciesData,
    test: SpeciesData,
    *,
    aggregation: Aggregation = "auto",
    n_folds: int = N_FOLDS,
    seed: int = 42,
    classifiers: Sequence[str] = CLASSIFIERS,
    threads: int = 1,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """One ordered (train, test) pair: 20 metric results and a dict of what happened (for params).

    Pass the same SpeciesData (or one with the same name) as train and test for the within-species
    cross-validation. `aggregation`: "auto" (mean when both have sample ids, else none), "none",
    "mean" or "median".
    """
    classifiers = _check_classifiers(classifiers)
    same = train.name == test.name
    has_ids = train.sample_ids is not None and (same or test.sample_ids is not None)
    method = resolve_aggregation(aggregation, has_ids)
    train_p = prepare_species(train, method)
    if same:
        rows, info = within_species_rows(train_p, n_folds=n_folds, seed=seed, classifiers=classifiers, threads=threads)
        info = {**info, "dropped_classes": {train.name: info["dropped_classes"]}}
    else:
        test_p = prepare_species(test, method)
        rows, info = across_species_rows(train_p, test_p, seed=seed, classifiers=classifiers, threads=threads)
        info = {**info, "dropped_classes": {}}
    info["aggregation"] = method
    return rows_to_metrics(rows, train.name, test.name, classifiers, seed=seed, n_boot=n_boot), info


def check_species(species: Sequence[SpeciesData]) -> None:
    names = [s.name for s in species]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"species '{dup}' is given more than once; every input needs its own species name")
    if len(species) < 2:
        raise InputError(f"cross-species tasks need at least 2 species, got {len(species)} ({', '.join(names)})")


def cross_species_label_prediction(
    species: Sequence[SpeciesData],
    *,
    aggregation: Aggregation = "auto",
    n_folds: int = N_FOLDS,
    seed: int = 42,
    classifiers: Sequence[str] = CLASSIFIERS,
    threads: int = 1,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """Every ordered (train, test) pair in one process, pairs sorted by (train, test) name as the
    reference's groupby orders them. Returns the metrics and {"train->test": info}."""
    check_species(species)
    metrics: list[MetricResult] = []
    infos = {}
    pairs = sorted(itertools.product(species, species), key=lambda p: (p[0].name, p[1].name))
    for train, test in pairs:
        m, info = species_pair_metrics(
            train, test, aggregation=aggregation, n_folds=n_folds, seed=seed, classifiers=classifiers, threads=threads,
            n_boot=n_boot,
        )
        metrics.extend(m)
        infos[f"{train.name}->{test.name}"] = info
    return metrics, infos
