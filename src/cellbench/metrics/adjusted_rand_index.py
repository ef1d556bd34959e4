"""Adjusted Rand index of two labelings (sklearn's `adjusted_rand_score`, same bits, without importing sklearn:
`_contingency`), labels compared as strings."""

from __future__ import annotations

from numpy.typing import ArrayLike

from cellbench.metrics import _contingency


def adjusted_rand_index(labels_true: ArrayLike, labels_pred: ArrayLike) -> float:
    """Agreement of two partitions of the same cells, corrected for chance.

    Parameters
    ----------
    labels_true
        Cell-type labels, one per cell (compared as strings).
    labels_pred
        Cluster labels of the same cells (e.g. Leiden clusters).

    Returns
    -------
    float
        1 for identical partitions, about 0 for a random one (it can be negative).

    References
    ----------
    Hubert & Arabie (1985), Comparing partitions, J. Classif. 2:193-218;
    sklearn.metrics.adjusted_rand_score.
    """
    return _contingency.adjusted_rand(_contingency.contingency(labels_true, labels_pred))
