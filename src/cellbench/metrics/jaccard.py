"""`jaccard`: overlap of the predicted and the true sets of differentially expressed genes."""

from __future__ import annotations

from collections.abc import Iterable


def jaccard_index(true_set: Iterable, predicted_set: Iterable) -> float:
    """|A ∩ B| / |A ∪ B| (cz-benchmarks' `jaccard_score` on two sets); NaN when both are empty."""
    a, b = set(true_set), set(predicted_set)
    union = a | b
    if not union:
        return float("nan")
    return len(a & b) / len(union)
