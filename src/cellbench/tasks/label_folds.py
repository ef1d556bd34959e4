"""Label prediction fanned out over folds: the split, one fold x classifier, and the merge.

`cellbench label-split` assigns folds (`split_labels`), each `cellbench label-fold` scores one
classifier on one fold (`label_fold_outcome`), and `cellbench label-merge` checks that the fold
results form one complete run and merges them (`merge_fold_results`) into exactly the numbers of
`cellbench label-prediction` (cellbench.tasks.label_prediction).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from cellbench.errors import InputError
from cellbench.outcome import TaskOutcome
from cellbench.schema import TaskResult
from cellbench.stats import DEFAULT_N_BOOT
from cellbench.tasks.label_prediction import (
    assign_folds,
    check_labels,
    class_codes,
    merge_folds,
    result_params,
    score_fold,
)

#: What every fold result of one run shares: these fields, these params, and its input files.
SAME_FIELDS = ("dataset", "model", "seed")
SAME_PARAMS = ("label_key", "min_class_size", "n_folds", "n_classes", "n_cells_used")

log = logging.getLogger("cellbench")


def split_labels(labels, *, min_class_size: int, n_folds: int, seed: int, path, label_key: str):
    """(keep-mask, test fold of every kept cell) for the dataset `path`'s obs column `label_key`."""
    keep = check_labels(labels, min_class_size, where=f"{path}: obs column '{label_key}'", n_folds=n_folds)
    kept_labels = labels[keep]
    counts = np.unique(kept_labels, return_counts=True)[1]
    if counts.min() < n_folds:
        log.warning("%s: a class has %d cells, fewer than --n-folds %d: some folds will lack it", path,
                    counts.min(), n_folds)
    return keep, assign_folds(kept_labels, n_folds, seed)


def check_fold_choice(folds_path, meta: dict, folds, fold: int, seed: int) -> int:
    """The number of folds of a folds TSV; an InputError when `fold` is not one of them or the
    TSV was made with another seed."""
    # read_folds checked the header's numbers and that every fold is below its n_folds
    n_folds = int(meta["n_folds"]) if "n_folds" in meta else int(folds.max()) + 1
    if fold >= n_folds:
        raise InputError(f"{folds_path}: --fold {fold} out of range (folds 0..{n_folds - 1})")
    if "seed" in meta and meta["seed"] != str(seed):
        raise InputError(f"{folds_path}: folds were made with seed {meta['seed']}, but --seed is {seed}")
    return n_folds


def label_fold_outcome(
    X, labels, folds, fold: int, classifier: str, *, meta: dict, n_folds: int, n_cells: int, seed: int = 42,
    threads: int = 1,
) -> TaskOutcome:
    """`score_fold` on the cells of a folds TSV (its `meta` header), with the params a fold result
    records; `n_cells` is the whole dataset's."""
    metrics = score_fold(X, labels, folds, fold, classifier, seed, threads)
    min_class_size = meta.get("min_class_size")
    params = {
        "classifier": classifier,
        "fold": fold,
        "label_key": meta.get("label_key"),
        "min_class_size": int(min_class_size) if min_class_size else None,
        "n_folds": n_folds,
        "n_classes": len(class_codes(labels)[0]),
        "n_cells_used": len(labels),
    }
    return TaskOutcome(metrics, params, n_cells=n_cells)


def _input_files(res: TaskResult):
    return sorted((f.role, f.name, f.sha256) for f in res.inputs)


def _check_same_run(path, res: TaskResult, first_path, first: TaskResult) -> None:
    """`res` (from `path`) is a fold result of the same run as `first` (from `first_path`)."""
    if res.task != "label_prediction_fold":
        raise InputError(f"{path}: task is '{res.task}', not a label_prediction_fold result")
    for field in SAME_FIELDS:
        if getattr(res, field) != getattr(first, field):
            raise InputError(
                f"{path}: {field} '{getattr(res, field)}' differs from '{getattr(first, field)}' in {first_path}"
            )
    for key in SAME_PARAMS:
        if res.params.get(key) != first.params.get(key):
            raise InputError(
                f"{path}: params.{key} {res.params.get(key)!r} differs from {first.params.get(key)!r} in {first_path}"
            )
    if _input_files(res) != _input_files(first):
        raise InputError(f"{path}: made from other input files (dataset, representation or folds) than {first_path}")


def check_fold_results(results: Sequence[tuple[str, TaskResult]], classifiers: Sequence[str]) -> None:
    """(path, fold result) pairs: every fold of every classifier exactly once, all of one run, and
    no classifier beyond `classifiers`; else an InputError naming the file."""
    first_path, first = results[0]
    seen: dict[tuple[str, int], str] = {}
    for path, res in results:
        _check_same_run(path, res, first_path, first)
        key = (res.params.get("classifier"), res.params.get("fold"))
        if key in seen:
            raise InputError(f"{path}: classifier {key[0]} fold {key[1]} also in {seen[key]}")
        seen[key] = path
    n_folds = int(first.params["n_folds"])
    for clf, fold in sorted(seen):
        if clf not in classifiers:
            raise InputError(f"{seen[(clf, fold)]}: classifier {clf} not in --classifiers {','.join(classifiers)}")
    for clf in classifiers:
        for fold in range(n_folds):
            if (clf, fold) not in seen:
                raise InputError(f"missing the result of classifier {clf} fold {fold} (of {n_folds} folds)")


def merge_fold_results(
    results: Sequence[tuple[str, TaskResult]], classifiers: Sequence[str], *, n_boot: int = DEFAULT_N_BOOT
) -> TaskOutcome:
    """The label prediction outcome of a complete set of (path, fold result) pairs (checked first),
    seeded with their seed."""
    check_fold_results(results, classifiers)
    first = results[0][1]
    metrics = merge_folds((m for _, res in results for m in res.metrics), seed=first.seed, n_boot=n_boot)
    p = first.params
    params = result_params(
        label_key=p.get("label_key"), min_class_size=p.get("min_class_size"), n_folds=int(p["n_folds"]),
        classifiers=classifiers, n_classes=p["n_classes"], n_cells_used=p["n_cells_used"],
    )
    return TaskOutcome(metrics, params, n_cells=first.n_cells)
