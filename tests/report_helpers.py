"""Result files with hand-computable numbers for the report tests (written with the real schema)."""

from __future__ import annotations

from pathlib import Path

from cellbench.io.results import write_result
from cellbench.schema import ConfidenceInterval, MetricResult, TaskResult


def write(folder: Path, name: str, *, task: str, dataset: str, model: str, seed: int, metrics, params=None) -> Path:
    path = Path(folder) / f"{name}.json"
    write_result(
        TaskResult(task=task, dataset=dataset, model=model, seed=seed, params=params or {}, metrics=list(metrics)),
        path,
    )
    return path


def metric(name: str, value, ci: tuple[float, float] | None = None, unit: str = "cells", **params) -> MetricResult:
    interval = None
    if ci is not None:
        interval = ConfidenceInterval(low=ci[0], high=ci[1], n_boot=1000, seed=42, unit=unit, n_units=100)
    return MetricResult(metric_type=name, value=value, params=params, ci=interval)


# Per-fold accuracies: FOLDS[model][seed][classifier] = 5 fold values (merged means are exact in binary).
FOLDS = {
    "X_a": {42: {"lr": [0.5, 0.75, 0.75, 1.0, 1.0], "knn": [0.5, 0.5, 0.75, 0.75, 1.0]},
            43: {"lr": [0.75, 0.75, 0.75, 1.0, 1.0], "knn": [0.5, 0.5, 0.5, 0.75, 0.75]}},
    "pca": {42: {"lr": [0.5, 0.5, 0.5, 0.75, 0.75], "knn": [0.25, 0.5, 0.5, 0.5, 0.75]},
            43: {"lr": [0.5, 0.5, 0.75, 0.75, 0.75], "knn": [0.25, 0.25, 0.5, 0.5, 0.75]}},
}  # fmt: skip


def write_label_folds(folder: Path, dataset: str = "pbmc", merged: bool = True) -> list[Path]:
    """label_prediction_fold results (accuracy only) and, if merged, the label_prediction means."""
    paths = []
    for model, by_seed in FOLDS.items():
        for seed, by_clf in by_seed.items():
            for clf, vals in by_clf.items():
                for fold, v in enumerate(vals):
                    paths.append(
                        write(folder, f"fold_{model}_{seed}_{clf}_{fold}", task="label_prediction_fold",
                              dataset=dataset, model=model, seed=seed, params={"classifier": clf, "fold": fold},
                              metrics=[metric("accuracy", v, classifier=clf, fold=fold)])
                    )
            if merged:
                allv = [v for vals in by_clf.values() for v in vals]
                ms = [metric("mean_fold_accuracy", sum(allv) / len(allv), classifier="MEAN(knn,lr)")]
                ms += [metric("mean_fold_accuracy", sum(v) / len(v), classifier=c) for c, v in by_clf.items()]
                paths.append(write(folder, f"merged_{model}_{seed}", task="label_prediction", dataset=dataset,
                                   model=model, seed=seed, metrics=ms))
    return paths
