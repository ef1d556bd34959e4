"""`mean_squared_error` of predicted vs true mean expression of a perturbation (GEARS-style MSE)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def mean_squared_error(true_values: ArrayLike, predicted_values: ArrayLike) -> float:
    """Mean of squared differences (sklearn's `mean_squared_error` on two vectors); NaN if empty.

    Parameters
    ----------
    true_values
        True values (e.g. gene-wise mean expression of treated cells); flattened, as float64.
    predicted_values
        Predicted values, the same number of them.

    Returns
    -------
    float
        Lower is better; NaN for empty input.

    References
    ----------
    Roohani et al. (2024), GEARS, Nat. Biotechnol. 42:927-935.
    """
    a = np.asarray(true_values, dtype=np.float64).ravel()
    b = np.asarray(predicted_values, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"mean_squared_error: shapes differ {a.shape} vs {b.shape}")
    if a.size == 0:
        return float("nan")
    return float(np.mean((a - b) ** 2))
