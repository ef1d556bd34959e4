"""Sequential organisation task: `silhouette_score` and `sequential_alignment` along time labels.

Time labels must be ordered: numeric values (or strings that parse as numbers, as the reference
accepts), an ordered categorical (mapped to its category positions 0..m-1), or any labels with an
explicit order list (mapped to their positions in it). Anything else is an InputError.
Metric params are {} for the reference settings (k = 15, adaptive_k off); other settings are named
in params ({"k": ..., "adaptive_k": ...}) so they never mix with reference-comparable numbers.
Intervals (`ci`, n_boot > 0) resample the per-cell silhouette widths, and the per-cell neighbour
time distances d_i (the random baseline B held fixed: the score is clip(1 - mean(d) / B, 0, 1)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.metrics.sequential_alignment import sequential_alignment_values
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.tasks.checks import require_cells, require_distinct
from cellbench.tasks.embedding import silhouette_result

DEFAULT_K = 15


def time_values(column: pd.Series, order: Sequence[str] | None = None, where: str = "time labels") -> np.ndarray:
    """Numeric time of every cell (float64), or an InputError naming `where`."""
    if column.isna().any():
        first = column.index[np.flatnonzero(column.isna().to_numpy())[0]]
        raise InputError(f"{where}: {int(column.isna().sum())} missing time label(s), first at cell '{first}'")
    if order:
        order = [str(o) for o in order]
        if len(set(order)) != len(order):
            raise InputError(f"{where}: the time order list has duplicate entries")
        values = column.astype(str)
        positions = pd.Categorical(values, categories=order, ordered=True).codes
        unknown = sorted(set(values[positions < 0]))
        if unknown:
            shown = ", ".join(unknown[:5])
            raise InputError(f"{where}: {len(unknown)} time label(s) not in the given order, e.g. {shown}")
        return positions.astype(np.float64)
    if isinstance(column.dtype, pd.CategoricalDtype):
        if column.cat.ordered:
            return column.cat.codes.to_numpy().astype(np.float64)
        column = column.astype(object)
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        try:
            return np.asarray(column, dtype=object).astype(np.float64)
        except (TypeError, ValueError):
            example = str(column.iloc[0])
            raise InputError(
                f"{where}: time labels are not numeric (e.g. '{example}') and have no order; "
                "give the order with --time-order a,b,c or use an ordered categorical column"
            ) from None
    return column.to_numpy().astype(np.float64)


def sequential_metrics(
    X, t, *, k: int = DEFAULT_K, adaptive_k: bool = False, seed: int = 42, n_boot: int = DEFAULT_N_BOOT
) -> list[MetricResult]:
    t = np.asarray(t, dtype=np.float64)
    params = {} if (k == DEFAULT_K and not adaptive_k) else {"k": k, "adaptive_k": adaptive_k}
    value, d, B = sequential_alignment_values(X, t, k=k, normalize=True, adaptive_k=adaptive_k, seed=seed)
    ci = None
    if d is not None:
        transform = None if B is None else (lambda D: np.clip(1.0 - D / B, 0.0, 1.0))
        ci = metric_ci(d, seed=seed, n_boot=n_boot, transform=transform)
    return [
        silhouette_result(X, t, seed=seed, n_boot=n_boot),
        MetricResult(metric_type="sequential_alignment", value=value, params=params, ci=ci),
    ]


def sequential_task(
    X, column: pd.Series, *, time_key: str, source: str, time_order: Sequence[str] | None = None,
    k: int = DEFAULT_K, adaptive_k: bool = False, seed: int = 42, n_boot: int = DEFAULT_N_BOOT,
) -> TaskOutcome:
    """The sequential task of `cellbench sequential`: time values of the obs `column`, checks, both
    metrics, params as run. `source` names the input in error messages."""
    where = f"{source}: obs column '{time_key}'"
    t = time_values(column, time_order, where=where)
    require_distinct(t, 2, where, what="time points")
    require_cells(len(t), k + 1, source, f"--k {k} neighbours plus the cell itself")
    metrics = sequential_metrics(X, t, k=k, adaptive_k=adaptive_k, seed=seed, n_boot=n_boot)
    params = {"time_key": time_key, "k": k, "adaptive_k": adaptive_k, "normalize": True}
    if time_order:
        params["time_order"] = time_order
    return TaskOutcome(metrics=metrics, params=params, n_cells=len(t))
