"""Normalized mutual information of two labelings (sklearn, arithmetic mean; same bits, without importing
sklearn: `_contingency`), labels compared as strings."""

from __future__ import annotations

from numpy.typing import ArrayLike

from cellbench.metrics import _contingency


def normalized_mutual_info(labels_true: ArrayLike, labels_pred: ArrayLike) -> float:
    """Mutual information of two partitions, normalised by the arithmetic mean of their entropies.

    Parameters
    ----------
    labels_true
        Cell-type labels, one per cell (compared as strings).
    labels_pred
        Cluster labels of the same cells (e.g. Leiden clusters).

    Returns
    -------
    float
        In [0, 1]; 1 for identical partitions.

    References
    ----------
    Strehl & Ghosh (2002), Cluster ensembles, JMLR 3:583-617;
    sklearn.metrics.normalized_mutual_info_score (average_method="arithmetic").
    """
    return _contingency.normalized_mutual_info(_contingency.contingency(labels_true, labels_pred))
