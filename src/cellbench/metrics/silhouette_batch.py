"""Batch silhouette within label groups (scib-metrics `silhouette_batch`, euclidean, nearest cluster).

Within each label group (groups with a single batch, or with as many batches as cells, are
skipped) the silhouette of the cells with respect to batch is taken, scored 1 - |s|, averaged over
the cells of the group, then averaged over groups. 1 = batches perfectly mixed.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike

from cellbench.metrics.silhouette_label import TILE, silhouette_samples

log = logging.getLogger("cellbench")

#: The `reason` of a null batch silhouette (no label group qualifies).
NO_GROUPS = "batch silhouette undefined: no label group has cells of 2 or more batches, and fewer batches than cells"


def silhouette_batch_values(
    X, labels, batch, rescale: bool = True, tile: int = TILE
) -> list[tuple[str, np.ndarray]]:
    """Per scored label group (sorted): its cells' 1 - |silhouette w.r.t. batch| (or |s| unrescaled).

    Groups with a single batch, or with as many batches as cells, are skipped; kept so tasks can
    bootstrap the per-cell scores without computing the silhouettes twice.
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    batch = np.asarray(batch)
    if not (X.shape[0] == labels.shape[0] == batch.shape[0]):
        raise ValueError("X, labels and batch must have the same number of cells")
    groups = []
    for group in np.unique(labels):
        mask = labels == group
        batch_subset = batch[mask]
        n_batches = len(np.unique(batch_subset))
        if n_batches == 1 or n_batches == int(mask.sum()):
            continue
        s = np.abs(silhouette_samples(X[mask], batch_subset, tile))
        if rescale:
            s = 1.0 - s
        groups.append((group, s))
    return groups


def silhouette_batch_score(groups: list[tuple[str, np.ndarray]]) -> float:
    """Mean over groups of the group's mean score (from `silhouette_batch_values`); NaN without groups."""
    group_means = [float(np.mean(s)) for _, s in groups]
    if not group_means:
        log.warning(NO_GROUPS)
        return float("nan")
    return float(np.mean(group_means))


def silhouette_batch(
    X: ArrayLike, labels: ArrayLike, batch: ArrayLike, rescale: bool = True, tile: int = TILE
) -> float:
    """Mean over label groups of the mean per-cell 1 - |silhouette w.r.t. batch|; NaN if no group qualifies.

    The `batch_silhouette` of the integration tasks (`cellbench.metrics.batch_silhouette`).

    Parameters
    ----------
    X
        Representation, cells x dimensions.
    labels
        Cell-type label of each cell (the groups).
    batch
        Batch of each cell.
    rescale
        Score 1 - |s| (1 = batches mixed); else |s|.
    tile
        Rows and columns of one distance tile (speed only).

    Returns
    -------
    float
        In [0, 1]; NaN when no label group has 2 or more batches and fewer batches than cells.

    References
    ----------
    Luecken et al. (2022), Nat. Methods 19:41-50; scib-metrics `silhouette_batch`.
    """
    return silhouette_batch_score(silhouette_batch_values(X, labels, batch, rescale, tile))
