"""A metric's variant: its params as canonical JSON (what table rows are grouped by) and as a label.

A table row stores its params as canonical JSON in the `params` column; `row_params` is the one
place that reads it back, so every report step agrees on what a row's variant is.
"""

from __future__ import annotations

import json

#: Metric params that are not part of the variant: interval fields (in case a task stores them there)
#: and bookkeeping that can differ between models of the same variant (perturbation's `effect`
#: fallback, gene / condition counts, an undefined Pearson delta's `raw_value`). They stay in the
#: result files.
NON_VARIANT_PARAMS = frozenset(
    {"ci_low", "ci_high", "ci_level", "n_boot", "ci_method", "seed", "effect", "n_genes", "n_conditions",
     "raw_value"}
)


def canonical_params(params: dict) -> str:
    """Stable JSON of the variant-defining params (sorted keys, no whitespace)."""
    clean = {k: v for k, v in params.items() if k not in NON_VARIANT_PARAMS}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str)


def row_params(text: str) -> dict:
    """The params of a table row (its `params` cell, canonical JSON; "" reads as no params).

    Malformed JSON raises ValueError; reading a table checks the column first (tablefile).
    """
    return json.loads(text) if text else {}


def variant_label(params: dict) -> str:
    """`key=value` pairs in sorted key order; strings bare, everything else as JSON ("" when none)."""
    parts = []
    for k in sorted(params):
        if k in NON_VARIANT_PARAMS:
            continue
        v = params[k]
        parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)}")
    return ",".join(parts)


def is_mean_value(v) -> bool:
    """A variant value that summarizes others (`MEAN(knn,lr,rf)`, `condition=MEAN`)."""
    return str(v).startswith("MEAN")


def metric_label(metric: str, params: dict) -> str:
    """How plots and report tables name a metric with its variant: `metric [k=v, ...]`."""
    if not params:
        return metric
    inner = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{metric} [{inner}]"
