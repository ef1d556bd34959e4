"""`jaccard`: overlap of the predicted and the true sets of differentially expressed genes."""

from __future__ import annotations

from collections.abc import Iterable


def jaccard_index(true_set: Iterable, predicted_set: Iterable) -> float:
    """|A ∩ B| / |A ∪ B| (cz-benchmarks' `jaccard_score` on two sets); NaN when both are empty.

    Parameters
    ----------
    true_set
        The true differentially expressed genes (any hashable ids).
    predicted_set
        The genes the prediction calls differentially expressed.

    Returns
    -------
    float
        In [0, 1]; NaN when both sets are empty.

    References
    ----------
    Jaccard (1912), New Phytol. 11:37-50; cz-benchmarks `jaccard_score`.
    """
    a, b = set(true_set), set(predicted_set)
    union = a | b
    if not union:
        return float("nan")
    return len(a & b) / len(union)
