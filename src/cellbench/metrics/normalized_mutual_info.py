"""Normalized mutual information of two labelings (sklearn, arithmetic mean), labels compared as strings."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


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
    from sklearn.metrics import normalized_mutual_info_score

    return float(
        normalized_mutual_info_score(
            np.asarray(labels_true).astype(str), np.asarray(labels_pred).astype(str), average_method="arithmetic"
        )
    )
