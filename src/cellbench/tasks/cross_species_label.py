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

Each ordered pair is one unit of work (`species_pair_metrics`, or `species_pair_outcome` with the
params a result records); `cross_species_label_prediction` runs every pair in one process. The
classifiers live in cellbench.tasks.cross_species_classifiers, sample averaging and folds in
cellbench.tasks.cross_species_samples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cellbench.errors import InputError
from cellbench.metrics.classification import SCORES, average_for, nan_mean
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.tasks.cross_species_classifiers import (
    CLASSIFIERS,
    check_classifiers,
    check_knn_neighbours,
    fit_and_score,
)
from cellbench.tasks.cross_species_samples import (
    Aggregation,
    drop_small_classes,
    prepare_species,
    resolve_aggregation,
    split_folds,
)

MEAN_NAME = "MEAN(lr,knn,rf)"  # the reference writes this literally, whatever classifiers ran
N_FOLDS = 5


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
            scores = fit_and_score(name, X[train], codes[train], X[test], codes[test], average, seed, threads)
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
        scores = fit_and_score(name, train.X, train_codes.ravel(), test.X, test_codes, average, seed, threads)
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
    classifiers = check_classifiers(classifiers)
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


def species_pair_outcome(
    train,
    test,
    *,
    aggregation: Aggregation = "auto",
    n_folds: int = N_FOLDS,
    seed: int = 42,
    classifiers: Sequence[str] = CLASSIFIERS,
    threads: int = 1,
    n_boot: int = DEFAULT_N_BOOT,
) -> TaskOutcome:
    """`species_pair_metrics` of two loaded species, with the params a result records.

    `train` / `test` are species as read from files (cellbench.io.species.LoadedSpecies: the
    SpeciesData fields plus `n_obs`, the cells in the file); the same one twice cross-validates.
    """
    same = train.name == test.name
    pair = [train] if same else [train, test]
    data = [SpeciesData(d.name, d.X, d.labels, d.sample_ids, d.label_key, d.sample_key) for d in pair]
    metrics, info = species_pair_metrics(
        data[0], data[-1], aggregation=aggregation, n_folds=n_folds, seed=seed, classifiers=classifiers,
        threads=threads, n_boot=n_boot,
    )
    params = {
        "train_species": train.name,
        "test_species": test.name,
        "label_key": {d.name: d.label_key for d in pair},
        "sample_key": {d.name: d.sample_key for d in pair if d.sample_key},
        "aggregation": info["aggregation"],
        "n_folds": int(n_folds) if same else None,
        "classifiers": check_classifiers(classifiers),
        "dropped_classes": info["dropped_classes"],
        "n_classes": info["n_classes"],
        "n_train": info["n_train"],
    }
    if not same:
        params["n_test"] = info["n_test"]
        params["unseen_test_labels"] = info["unseen_test_labels"]
    return TaskOutcome(metrics, params, n_cells=int(sum(d.n_obs for d in pair)))


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
