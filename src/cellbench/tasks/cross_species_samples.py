"""What cross-species label prediction classifies: cells or per-sample averages, and their folds.

With sample ids the reference averages cells per sample before classifying, and splits folds so no
sample is in two of them (StratifiedGroupKFold); classes too small for every fold are dropped
(the reference crashes on them; TASKS.md).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np

from cellbench.errors import InputError

Aggregation = Literal["auto", "none", "mean", "median"]


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


def prepare_species(data, aggregation: str):
    """The species (a SpeciesData) as the classifiers see it: aggregated to samples when asked."""
    if aggregation == "none":
        return data
    X, labels, ids = aggregate_to_samples(data.X, data.labels, data.sample_ids, aggregation)
    column = f" of obs column '{data.sample_key}'" if data.sample_key else ""
    unit = f"samples (cells averaged per sample id{column})"
    return dataclasses.replace(data, X=X, labels=labels, sample_ids=ids, unit=unit)


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
