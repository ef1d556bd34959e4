"""`spearman_correlation_calculation`: rank agreement of true and predicted effects (perturbation)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def spearman_correlation(true_values: ArrayLike, predicted_values: ArrayLike) -> float:
    """Spearman's rho of the two vectors; NaN (a constant vector, fewer than 2 values) counts as 0.

    Same as cz-benchmarks' `spearman_correlation(a=true, b=pred)`: scipy's `spearmanr(...).statistic`
    with NaN replaced by 0, so a predictor that ranks nothing scores 0 rather than disappearing.

    Parameters
    ----------
    true_values
        True effects (the DE table's log fold changes of the evaluated genes).
    predicted_values
        Predicted effects of the same genes, in the same order.

    Returns
    -------
    float
        Spearman's rho in [-1, 1]; 0 where it is undefined.

    References
    ----------
    Spearman (1904), Am. J. Psychol. 15:72-101; cz-benchmarks `spearman_correlation`.
    """
    from scipy.stats import spearmanr

    a = np.asarray(true_values).ravel()
    b = np.asarray(predicted_values).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman_correlation: shapes differ {a.shape} vs {b.shape}")
    if a.size < 2:
        return 0.0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConstantInputWarning: the NaN is the answer, handled below
        value = spearmanr(a, b).statistic
    return 0.0 if np.isnan(value) else float(value)
