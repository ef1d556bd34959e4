"""`pearson_delta`: Pearson correlation of predicted and true changes from control (GEARS-style)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pearson_delta(
    true_treated: ArrayLike,
    true_control: ArrayLike,
    predicted_treated: ArrayLike,
    predicted_control: ArrayLike | None = None,
) -> float:
    """Pearson r of (predicted treated - predicted control) vs (true treated - true control).

    All are gene-wise mean expression vectors. `predicted_control` defaults to the true control
    (GEARS' definition, for predictors of treated cells only); a per-cell model that also predicts
    the control cells is measured against its own controls, as the reference's Spearman effect is.
    Returns scipy's value: NaN where r is undefined (a constant change on either side, as the "no
    change" predictor's, or fewer than 2 genes). The perturbation task scores that NaN as 0 and
    keeps it visible in the result (`undefined_score`).

    Parameters
    ----------
    true_treated, true_control
        True gene-wise mean expression of the treated and of the control cells.
    predicted_treated
        Predicted gene-wise mean expression of the treated cells.
    predicted_control
        Predicted mean expression of the controls [default: `true_control`].

    Returns
    -------
    float
        Pearson r in [-1, 1], or NaN where it is undefined.

    References
    ----------
    Roohani et al. (2024), GEARS, Nat. Biotechnol. 42:927-935.
    """
    import warnings

    from scipy.stats import pearsonr

    tt = np.asarray(true_treated, dtype=np.float64).ravel()
    tc = np.asarray(true_control, dtype=np.float64).ravel()
    pt = np.asarray(predicted_treated, dtype=np.float64).ravel()
    pc = tc if predicted_control is None else np.asarray(predicted_control, dtype=np.float64).ravel()
    if not (tt.shape == tc.shape == pt.shape == pc.shape):
        raise ValueError(f"pearson_delta: shapes differ {tt.shape}, {tc.shape}, {pt.shape}, {pc.shape}")
    dt, dp = tt - tc, pt - pc
    if tt.size < 2 or np.ptp(dt) == 0 or np.ptp(dp) == 0:
        return float("nan")  # what scipy answers for constant input (it raises below 2 values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a nearly constant input: scipy warns, its value is kept
        return float(pearsonr(dt, dp).statistic)


def undefined_score(value: float) -> tuple[float, dict]:
    """The documented score of an undefined Pearson delta: NaN counts as 0 (as the reference scores
    an undefined Spearman, so a "no change" predictor stays at the bottom of the averages), with
    params that keep the raw NaN visible in the result ({"raw_value": "NaN"}; {} when defined)."""
    return (0.0, {"raw_value": "NaN"}) if np.isnan(value) else (float(value), {})
