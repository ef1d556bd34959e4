"""`pearson_delta`: Pearson correlation of predicted and true changes from control (GEARS-style)."""

from __future__ import annotations

import numpy as np


def pearson_delta(true_treated, true_control, predicted_treated, predicted_control=None) -> float:
    """Pearson r of (predicted treated - predicted control) vs (true treated - true control).

    All are gene-wise mean expression vectors. `predicted_control` defaults to the true control
    (GEARS' definition, for predictors of treated cells only); a per-cell model that also predicts
    the control cells is measured against its own controls, as the reference's Spearman effect is.
    A constant predicted change ("no change") has no correlation: scored 0, as the reference scores
    an undefined Spearman, so such a predictor stays visible at the bottom of the averages.
    """
    from scipy.stats import pearsonr

    tt = np.asarray(true_treated, dtype=np.float64).ravel()
    tc = np.asarray(true_control, dtype=np.float64).ravel()
    pt = np.asarray(predicted_treated, dtype=np.float64).ravel()
    pc = tc if predicted_control is None else np.asarray(predicted_control, dtype=np.float64).ravel()
    if not (tt.shape == tc.shape == pt.shape == pc.shape):
        raise ValueError(f"pearson_delta: shapes differ {tt.shape}, {tc.shape}, {pt.shape}, {pc.shape}")
    dt, dp = tt - tc, pt - pc
    if tt.size < 2 or np.ptp(dt) == 0 or np.ptp(dp) == 0:
        return 0.0
    value = pearsonr(dt, dp).statistic
    return 0.0 if np.isnan(value) else float(value)
