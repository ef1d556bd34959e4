"""The classifiers of cross-species label prediction and how one fit is scored.

They differ from single-dataset label prediction (cellbench.tasks.label_prediction): the scaler is
centred and logistic regression runs up to 1000 iterations, as in cz-benchmarks'
CrossSpeciesLabelPredictionTask. Test labels unseen in training are code -1 and always wrong.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from cellbench.errors import InputError
from cellbench.metrics.classification import fold_scores
from cellbench.threads import one_blas_thread

CLASSIFIERS = ("lr", "knn", "rf")  # the reference's order
N_NEIGHBORS = 5  # the reference's knn


def make_cross_species_classifier(name: str, seed: int = 42, threads: int = 1):
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


def fit_and_score(name, X_train, y_train, X_test, y_test, average, seed, threads) -> dict[str, float]:
    """Fit classifier `name` on the training rows and score it on the test rows."""
    from sklearn.exceptions import ConvergenceWarning

    clf = make_cross_species_classifier(name, seed, threads)
    # lbfgs iterates on BLAS reductions: one BLAS thread keeps lr's answer thread-count independent
    blas = one_blas_thread() if name == "lr" else contextlib.nullcontext()
    with warnings.catch_warnings(), blas:
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        clf.fit(X_train, y_train)
        predicted, proba = clf.predict(X_test), clf.predict_proba(X_test)
    return score_classifier(y_test, predicted, proba, clf.classes_, average)


def check_knn_neighbours(data, n_train: int, classifiers) -> None:
    """An InputError when knn is asked for with fewer training rows than its neighbours (the
    reference crashes; a smaller k would be another classifier, see cellbench.tasks.cross_species_label)."""
    if "knn" in classifiers and n_train < N_NEIGHBORS:
        raise InputError(
            f"species '{data.name}': knn needs at least {N_NEIGHBORS} training {data.unit}, the smallest "
            f"training set has {n_train}; leave knn out of the classifiers"
        )


def check_classifiers(classifiers) -> list[str]:
    """The classifiers in the reference's order; an unknown or empty choice is a ValueError."""
    unknown = set(classifiers) - set(CLASSIFIERS)
    if unknown or not classifiers:
        raise ValueError(f"classifiers must be among {', '.join(CLASSIFIERS)}, got {list(classifiers)}")
    return [c for c in CLASSIFIERS if c in set(classifiers)]
