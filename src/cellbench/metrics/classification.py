"""Classification scores of one trained classifier on one test set, as cz-benchmarks computes them.

The reference scores each fold through sklearn scorers: accuracy; f1, precision and recall with
average "binary" when the task has 2 classes, else "macro" (sklearn's default zero_division, so an
undefined ratio counts 0); AUROC = roc_auc_score(average="macro", multi_class="ovr") on
predict_proba, where a binary classifier contributes only the column of its last class. Inside
`cross_validate` a score that raises becomes NaN (error_score=nan), which `errors="nan"` mimics.

Labels are integer codes of the lexicographically sorted class names (so the binary positive class
is code 1, as in the reference). `nan_mean` is the mean the reference takes over fold rows (pandas'
`Series.mean`: NaN skipped, numpy summation order), so merged numbers match it to the last bit.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

SCORES = ("accuracy", "f1", "precision", "recall", "auroc")


def average_for(n_classes: int) -> str:
    """The averaging the reference uses for f1/precision/recall: binary for 2 classes, else macro."""
    return "binary" if n_classes == 2 else "macro"


def auroc_response(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The scores roc_auc_score sees: a binary classifier's last-class column, else all columns."""
    proba = np.asarray(proba)
    if len(classes) <= 2:  # sklearn treats a 1- or 2-class estimator as binary
        if proba.ndim != 2 or proba.shape[1] < 2:
            raise ValueError(f"predict_proba of shape {proba.shape} but AUROC needs two classes")
        return proba[:, 1]
    return proba


def fold_scores(
    y_true,
    y_pred,
    proba,
    classes,
    average: str | None = None,
    errors: Literal["nan", "raise"] = "nan",
    reasons: dict[str, str] | None = None,
) -> dict[str, float]:
    """accuracy, f1, precision, recall, auroc of one classifier on one test set.

    y_true, y_pred: integer class codes of the test cells; proba: predict_proba (cells x classes),
    columns in the order of `classes` (the estimator's classes_); average: "binary" or "macro"
    (default: from the number of `classes`). A score sklearn cannot compute (e.g. AUROC when the
    test set lacks a class) is NaN with errors="nan", as inside cross_validate, or raises; with a
    `reasons` dict, sklearn's message for each NaN score is stored in it, so the result can say why.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    classes = np.asarray(classes)
    average = average or average_for(len(classes))
    funcs = {
        "accuracy": lambda: accuracy_score(y_true, y_pred),
        "f1": lambda: f1_score(y_true, y_pred, average=average),
        "precision": lambda: precision_score(y_true, y_pred, average=average),
        "recall": lambda: recall_score(y_true, y_pred, average=average),
        "auroc": lambda: roc_auc_score(
            y_true, auroc_response(proba, classes), average="macro", multi_class="ovr"
        ),
    }
    out: dict[str, float] = {}
    for name, func in funcs.items():
        try:
            with warnings.catch_warnings():
                # undefined precision/recall are 0 by sklearn's default, as in the reference
                warnings.simplefilter("ignore", category=UserWarning)
                out[name] = float(func())
        except ValueError as exc:
            if errors == "raise":
                raise
            out[name] = float("nan")
            if reasons is not None:
                reasons[name] = f"{name} undefined ({first_line(exc)})"
    return out


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (for a result's `reason`)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def nan_mean(values) -> float:
    """Mean skipping NaN, summed exactly as pandas' Series.mean does (NaN -> 0, numpy sum, / count)."""
    arr = np.asarray(values, dtype=np.float64)
    mask = np.isnan(arr)
    count = arr.size - int(mask.sum())
    if count == 0:
        return float("nan")
    return float(np.where(mask, 0.0, arr).sum() / count)
