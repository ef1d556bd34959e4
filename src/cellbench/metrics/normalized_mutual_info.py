"""Normalized mutual information of two labelings (sklearn, arithmetic mean), labels compared as strings."""

from __future__ import annotations

import numpy as np


def normalized_mutual_info(labels_true, labels_pred) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(
        normalized_mutual_info_score(
            np.asarray(labels_true).astype(str), np.asarray(labels_pred).astype(str), average_method="arithmetic"
        )
    )
