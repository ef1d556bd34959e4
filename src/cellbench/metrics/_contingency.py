"""Two labelings' contingency table, and sklearn's ARI and NMI arithmetic on it, step for step.

Why not `sklearn.metrics`: importing it costs about 1.5 s per process (scipy.stats, through
sklearn.utils), and the clustering task imports nothing else of sklearn; on the bundled
pbmc68k_reduced that was two thirds of the whole command. The operations below are those of
scikit-learn 1.9's `adjusted_rand_score` (integer pair counts, then one float expression) and
`normalized_mutual_info_score` with the arithmetic mean (the same nonzero cells in the same
row-major order, the same float64 terms, the same sums), so the values are the same bits:
tests/test_metrics_embedding.py checks them against sklearn on random and real labelings.
Labels are compared as strings, as the metric modules document.
"""

from __future__ import annotations

from math import log

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cellbench.metrics._labels import encode_labels


def contingency(labels_true: ArrayLike, labels_pred: ArrayLike) -> NDArray[np.int64]:
    """Cells per (class, cluster), classes and clusters in sorted order (as strings)."""
    class_idx, classes = encode_labels(np.asarray(labels_true).astype(str))
    cluster_idx, clusters = encode_labels(np.asarray(labels_pred).astype(str))
    if class_idx.shape != cluster_idx.shape:
        raise ValueError(f"{class_idx.size} labels but {cluster_idx.size} clusters")
    flat = class_idx * len(clusters) + cluster_idx
    return np.bincount(flat, minlength=len(classes) * len(clusters)).reshape(len(classes), len(clusters))


def adjusted_rand(table: NDArray[np.int64]) -> float:
    """sklearn's `adjusted_rand_score` from the pair confusion counts of the table."""
    n = np.int64(table.sum())
    n_c, n_k = table.sum(axis=1), table.sum(axis=0)
    sum_squares = (table[table > 0] ** 2).sum()
    tp = int(sum_squares - n)
    fp = int((table @ n_k).sum() - sum_squares)
    fn = int((table.T @ n_c).sum() - sum_squares)
    tn = int(n**2 - fp - fn - sum_squares)
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _entropy(counts: NDArray[np.int64]) -> float:
    """sklearn's `_entropy` of a labeling from its label counts (all > 0)."""
    pi = counts.astype(np.float64)
    if pi.size == 1:
        return 0.0
    pi_sum = np.sum(pi)
    return float(-np.sum((pi / pi_sum) * (np.log(pi) - log(pi_sum))))


def normalized_mutual_info(table: NDArray[np.int64]) -> float:
    """sklearn's `normalized_mutual_info_score` (average_method="arithmetic") of the table."""
    if table.shape[0] == table.shape[1] == 1 or table.size == 0:
        return 1.0
    values = table.astype(np.float64)
    rows, cols = np.nonzero(values)
    nz_val = values[rows, cols]
    total = values.sum()
    pi, pj = values.sum(axis=1), values.sum(axis=0)
    if pi.size == 1 or pj.size == 1:
        return 0.0  # mutual information 0
    log_nm = np.log(nz_val)
    nm = nz_val / total
    outer = pi.take(rows).astype(np.int64, copy=False) * pj.take(cols).astype(np.int64, copy=False)
    log_outer = -np.log(outer) + log(pi.sum()) + log(pj.sum())
    mi = nm * (log_nm - log(total)) + nm * log_outer
    mi = np.where(np.abs(mi) < np.finfo(mi.dtype).eps, 0.0, mi)
    mi = float(np.clip(mi.sum(), 0.0, None))
    if mi == 0:
        return 0.0
    normalizer = np.mean([_entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))])
    return float(mi / normalizer)
