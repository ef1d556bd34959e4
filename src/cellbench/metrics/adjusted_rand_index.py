"""Adjusted Rand index of two labelings (sklearn's `adjusted_rand_score`), labels compared as strings."""

from __future__ import annotations

import numpy as np


def adjusted_rand_index(labels_true, labels_pred) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.asarray(labels_true).astype(str), np.asarray(labels_pred).astype(str)))
