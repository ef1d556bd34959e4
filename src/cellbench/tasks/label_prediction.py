"""Label prediction: how well simple classifiers recover labels from a representation.

Same numbers as cz-benchmarks' MetadataLabelPredictionTask: classes with fewer than
`min_class_size` cells are dropped; labels become integer codes of the sorted class names;
StratifiedKFold(n_folds, shuffle=True, random_state=seed) splits the kept cells; each classifier
(lr, knn, rf; TASKS.md) is fitted on the other folds and scored on one fold; the 20 results are the
mean over folds of each score, first over every fold x classifier row ("MEAN(knn,lr,rf)"), then
per classifier in the reference's order lr, knn, rf.

Each fold x classifier is an independent unit (`score_fold`), so the pipeline can fan out over
them (cellbench.tasks.label_folds); `merge_folds` turns their rows into exactly the numbers
`run_label_prediction` gives.
The representation may be a scipy sparse matrix (the raw-expression baseline): rf trains on it as
is (sklearn grows the same trees as on the dense matrix, with far less memory); lr and knn
densify their fold, because on sparse input they round differently from the reference (dense).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from cellbench.errors import InputError
from cellbench.memory import release_freed_memory
from cellbench.metrics.classification import SCORES, average_for, first_line, fold_scores, nan_mean
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.threads import one_blas_thread

log = logging.getLogger("cellbench")

CLASSIFIERS = ("lr", "knn", "rf")  # the reference's order of per-classifier results
N_FOLDS = 5
MIN_CLASS_SIZE = 10


def filter_min_class(labels, min_class_size: int = MIN_CLASS_SIZE) -> np.ndarray:
    """Boolean mask of the cells whose class has at least `min_class_size` cells."""
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return (counts >= min_class_size)[inverse.ravel()]


def class_codes(labels) -> tuple[np.ndarray, np.ndarray]:
    """(sorted class names, integer code per cell), as pd.Categorical(labels.astype(str)) gives."""
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return classes, codes.ravel().astype(np.int64)


def check_labels(labels, min_class_size: int, where: str = "labels", n_folds: int | None = None) -> np.ndarray:
    """The keep-mask, or an InputError when fewer than 2 classes would be left to predict, or (given
    `n_folds`) when no kept class has n_folds cells: StratifiedKFold refuses that split."""
    labels = np.asarray(labels)
    n_all = len(np.unique(labels))
    if n_all < 2:
        raise InputError(f"{where}: label prediction needs at least 2 distinct labels, found {n_all}")
    keep = filter_min_class(labels, min_class_size)
    n_kept = len(np.unique(labels[keep]))
    if n_kept == 0:
        raise InputError(f"{where}: all {n_all} classes have fewer than {min_class_size} cells (--min-class-size)")
    if n_kept < 2:
        raise InputError(
            f"{where}: only 1 of {n_all} classes has at least {min_class_size} cells; label prediction needs 2"
        )
    largest = int(np.unique(labels[keep], return_counts=True)[1].max())
    if n_folds is not None and largest < n_folds:
        raise InputError(
            f"{where}: every kept class has fewer than --n-folds {n_folds} cells (largest {largest}); "
            "stratified folds need one class with a cell in every fold"
        )
    return keep


def assign_folds(labels, n_folds: int = N_FOLDS, seed: int = 42) -> np.ndarray:
    """Test fold (0..n_folds-1) of every cell: StratifiedKFold(shuffle, seed) on the label codes."""
    from sklearn.model_selection import StratifiedKFold

    _, codes = class_codes(labels)
    folds = np.full(len(codes), -1, dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        for fold, (_, test) in enumerate(skf.split(np.zeros((len(codes), 1)), codes)):
            folds[test] = fold
    return folds


def make_label_classifier(name: str, seed: int = 42, threads: int = 1, n_features: int | None = None):
    """A fresh, unfitted label prediction classifier as the reference builds it (n_jobs changes no result).

    knn on `MIN_FAST_FEATURES`..`MAX_FAST_FEATURES` features (embeddings) is
    `cellbench.knn_classifier`: the same probabilities from a faster search; other widths use sklearn's.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "lr":
        from sklearn.linear_model import LogisticRegression

        return Pipeline([("scaler", StandardScaler(with_mean=False)), ("lr", LogisticRegression())])
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        from cellbench.knn_classifier import MAX_FAST_FEATURES, MIN_FAST_FEATURES, KnnClassifier

        if n_features is not None and MIN_FAST_FEATURES <= n_features <= MAX_FAST_FEATURES:
            return KnnClassifier(threads=threads)

        return Pipeline(
            [("scaler", StandardScaler(with_mean=False)), ("knn", KNeighborsClassifier(n_jobs=threads))]
        )
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return Pipeline([("rf", RandomForestClassifier(random_state=seed, n_jobs=threads))])
    raise ValueError(f"unknown classifier '{name}' (choose from {', '.join(CLASSIFIERS)})")


def score_fold(
    X,
    labels,
    folds,
    fold: int,
    classifier: str,
    seed: int = 42,
    threads: int = 1,
) -> list[MetricResult]:
    """Fit `classifier` on every fold but `fold`, score it on `fold`: 5 results {classifier, fold}.

    X, labels and folds cover the kept cells only (after `filter_min_class`), in the dataset's
    order; the row order matters (it is the order the classifiers see, as in the reference).
    A fit that fails, or a score sklearn cannot compute, is NaN as in the reference (cross_validate,
    error_score=nan), and the result says why in its `reason` (null value, never a silent one).
    """
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    labels = np.asarray(labels)
    folds = np.asarray(folds)
    if not 0 <= fold < int(folds.max()) + 1:
        raise ValueError(f"fold {fold} out of range 0..{int(folds.max())}")
    classes, codes = class_codes(labels)
    test = np.flatnonzero(folds == fold)
    train = np.flatnonzero(folds != fold)
    X_train, X_test = X[train], X[test]
    if classifier != "rf" and sp.issparse(X):
        # lr on sparse input rounds differently (probabilities differ by ~1e-6) and so can knn's
        # distances; rf grows the same trees either way, so only it keeps the memory saving
        X_train, X_test = X_train.toarray(), X_test.toarray()
    clf = make_label_classifier(classifier, seed, threads, n_features=X.shape[1])
    average = average_for(len(classes))
    # lbfgs iterates on BLAS reductions: one BLAS thread keeps lr's answer thread-count independent
    blas = one_blas_thread() if classifier == "lr" else contextlib.nullcontext()
    try:
        with warnings.catch_warnings(), blas:
            warnings.simplefilter("ignore", category=ConvergenceWarning)
            clf.fit(X_train, codes[train])
            proba = clf.predict_proba(X_test)
            predicted = clf.predict(X_test) if classifier == "lr" else None
        if predicted is None:
            # knn (uniform weights) and rf predict exactly classes_[argmax(predict_proba)] (sklearn's
            # own predict does this): one neighbour search / forest pass per fold instead of two
            predicted = clf.classes_[np.argmax(proba, axis=1)]
        reasons: dict[str, str] = {}
        scores = fold_scores(codes[test], predicted, proba, clf.classes_, average=average, reasons=reasons)
    except ValueError as exc:
        # cross_validate (error_score=nan) turns a failed fit into NaN scores
        log.warning("label prediction: %s failed on fold %d: %s", classifier, fold, first_line(exc))
        scores = dict.fromkeys(SCORES, float("nan"))
        reasons = dict.fromkeys(SCORES, f"{classifier} failed ({first_line(exc)})")
    params = {"classifier": classifier, "fold": int(fold)}
    return [
        MetricResult(metric_type=name, value=scores[name], params=dict(params), reason=reasons.get(name))
        for name in SCORES
    ]


def _classifier_order(names: Iterable[str]) -> list[str]:
    names = set(names)
    unknown = names - set(CLASSIFIERS)
    if unknown:
        raise ValueError(f"unknown classifier(s) {sorted(unknown)}")
    return [c for c in CLASSIFIERS if c in names]


def merge_folds(
    per_fold: Iterable[MetricResult], *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT
) -> list[MetricResult]:
    """The 20 `mean_fold_*` results from per-fold rows (any order; duplicates are an error).

    First the mean over all fold x classifier rows (params {"classifier": "MEAN(knn,lr,rf)"}, the
    names sorted as in the reference), then per classifier in the order lr, knn, rf. Each carries a
    bootstrap interval over folds (n_boot > 0, seeded with `seed`): a fold is resampled whole, with
    all its classifiers' rows, which share its training data. Null fold rows are left out of the
    means, as the reference's pandas mean does; the mean's `reason` then says which and why.
    """
    table: dict[tuple[str, int], dict[str, float]] = {}
    why: dict[tuple[str, int, str], str] = {}
    for r in per_fold:
        key = (r.params["classifier"], int(r.params["fold"]))
        row = table.setdefault(key, {})
        if r.metric_type in row:
            raise ValueError(f"duplicate {r.metric_type} for classifier {key[0]} fold {key[1]}")
        row[r.metric_type] = np.nan if r.value is None else r.value
        if r.value is None:
            why[(*key, r.metric_type)] = f"{key[0]} fold {key[1]}: {r.reason or 'no value'}"
    if not table:
        raise ValueError("no per-fold results to merge")
    order = _classifier_order(c for c, _ in table)
    # rows in the reference's DataFrame order: classifier (lr, knn, rf), then fold
    keys = sorted(table, key=lambda k: (order.index(k[0]), k[1]))
    for key in keys:
        missing = [s for s in SCORES if s not in table[key]]
        if missing:
            raise ValueError(f"classifier {key[0]} fold {key[1]} lacks {', '.join(missing)}")
    out = []
    groups = [(f"MEAN({','.join(sorted(order))})", keys)] + [
        (clf, [k for k in keys if k[0] == clf]) for clf in order
    ]
    for name, rows in groups:
        folds = [k[1] for k in rows]
        for score in SCORES:
            values = [table[k][score] for k in rows]
            out.append(
                MetricResult(
                    metric_type=f"mean_fold_{score}",
                    value=nan_mean(values),
                    params={"classifier": name},
                    ci=metric_ci(values, clusters=folds, unit="folds", seed=seed, n_boot=n_boot),
                    reason=left_out_reason([why[(*k, score)] for k in rows if (*k, score) in why], len(rows)),
                )
            )
    return out


def left_out_reason(left_out: list[str], n_rows: int) -> str | None:
    """The `reason` of a mean over fold rows of which `left_out` (their reasons) have no value."""
    if not left_out:
        return None
    first = left_out[0] + (f"; and {len(left_out) - 1} more" if len(left_out) > 1 else "")
    if len(left_out) == n_rows:
        return f"no fold row has a value: {first}"
    return f"mean over {n_rows - len(left_out)} of {n_rows} fold rows, left out: {first}"


def run_label_prediction(
    X,
    labels: Sequence,
    *,
    classifiers: Sequence[str] = CLASSIFIERS,
    n_folds: int = N_FOLDS,
    min_class_size: int = MIN_CLASS_SIZE,
    seed: int = 42,
    threads: int = 1,
    n_boot: int = DEFAULT_N_BOOT,
) -> list[MetricResult]:
    """All folds and classifiers in this process: the 20 results of the reference task."""
    labels = np.asarray(labels).astype(str)
    keep = check_labels(labels, min_class_size, n_folds=n_folds)
    X_kept = X[np.flatnonzero(keep)] if not keep.all() else X
    labels_kept = labels[keep]
    folds = assign_folds(labels_kept, n_folds, seed)
    rows: list[MetricResult] = []
    order = _classifier_order(classifiers)
    for i, clf in enumerate(order):
        for fold in range(n_folds):
            start = time.perf_counter()
            rows.extend(score_fold(X_kept, labels_kept, folds, fold, clf, seed, threads))
            release_freed_memory()  # each forest's 0.9 GB (100k cells) back before the next one
            log.info("label prediction: %s fold %d/%d (%d/%d) %.1f s", clf, fold + 1, n_folds,
                     i * n_folds + fold + 1, len(order) * n_folds, time.perf_counter() - start)
    return merge_folds(rows, seed=seed, n_boot=n_boot)


def result_params(*, label_key, min_class_size, n_folds, classifiers, n_classes, n_cells_used) -> dict:
    """The settings recorded in every label prediction result, so the merged per-fold result and
    the all-in-one result agree field for field."""
    return {
        "label_key": label_key,
        "min_class_size": int(min_class_size) if min_class_size is not None else None,
        "n_folds": int(n_folds),
        "classifiers": [c for c in CLASSIFIERS if c in classifiers],
        "n_classes": int(n_classes),
        "n_cells_used": int(n_cells_used),
    }


def label_prediction_outcome(
    X,
    labels,
    *,
    label_key: str,
    where: str,
    classifiers: Sequence[str] = CLASSIFIERS,
    n_folds: int = N_FOLDS,
    min_class_size: int = MIN_CLASS_SIZE,
    seed: int = 42,
    threads: int = 1,
    n_boot: int = DEFAULT_N_BOOT,
) -> TaskOutcome:
    """`run_label_prediction` on every cell's `labels` (obs column `label_key`; `where` names it in
    errors), with the params a result records."""
    keep = check_labels(labels, min_class_size, where=where, n_folds=n_folds)
    metrics = run_label_prediction(
        X, labels, classifiers=classifiers, n_folds=n_folds, min_class_size=min_class_size, seed=seed,
        threads=threads, n_boot=n_boot,
    )
    params = result_params(
        label_key=label_key, min_class_size=min_class_size, n_folds=n_folds, classifiers=classifiers,
        n_classes=len(np.unique(labels[keep])), n_cells_used=int(keep.sum()),
    )
    return TaskOutcome(metrics, params, n_cells=len(labels))
