"""`mean_squared_error` of predicted vs true mean expression of a perturbation (GEARS-style MSE)."""

from __future__ import annotations

import numpy as np


def mean_squared_error(true_values, predicted_values) -> float:
    """Mean of squared differences (sklearn's `mean_squared_error` on two vectors); NaN if empty."""
    a = np.asarray(true_values, dtype=np.float64).ravel()
    b = np.asarray(predicted_values, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"mean_squared_error: shapes differ {a.shape} vs {b.shape}")
    if a.size == 0:
        return float("nan")
    return float(np.mean((a - b) ** 2))
