"""The aggregate table's columns, their types, and its canonical form (shared by building and reading it).

docs/report.md describes each column; cellbench.report.table says how the numbers are made.
"""

from __future__ import annotations

from cellbench.errors import InputError

COLUMNS = [
    "task", "dataset", "model", "baseline", "metric", "variant", "higher_is_better",
    "n", "n_missing", "mean", "sd", "sem", "min", "max",
    "ci_low", "ci_high", "ci_level", "ci_method", "n_boot",
    "seeds", "values", "params",
]  # fmt: skip
#: What identifies a row (one task x dataset x model x metric x variant).
KEY = ["task", "dataset", "model", "metric", "params"]
STRING_COLUMNS = ["task", "dataset", "model", "metric", "variant", "ci_method", "seeds", "values", "params"]
BOOL_COLUMNS = ["baseline", "higher_is_better"]
INT_COLUMNS = ["n", "n_missing", "n_boot"]
FLOAT_COLUMNS = ["mean", "sd", "sem", "min", "max", "ci_low", "ci_high", "ci_level"]
#: The deterministic row order of every aggregate table.
ROW_ORDER = ["task", "dataset", "metric", "variant", "params", "baseline", "model"]


def _to_float(v) -> float:
    if v is None or (isinstance(v, str) and v.strip() in ("", "NA", "NaN", "nan")):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def normalize_table(df):
    """Column order, dtypes and the deterministic row order of an aggregate table."""

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"aggregate table lacks column(s) {', '.join(missing)}")
    df = df[COLUMNS].copy()
    for c in STRING_COLUMNS:
        df[c] = df[c].fillna("").astype(str)
    for c in BOOL_COLUMNS:
        df[c] = df[c].map(lambda v: str(v).strip().lower() in ("true", "1")).astype(bool)
    for c in INT_COLUMNS:
        df[c] = df[c].map(_to_float).astype("float64").astype("Int64")
    for c in FLOAT_COLUMNS:
        # Python's float() parses the shortest repr back to the same double (pandas' parser may not)
        df[c] = df[c].map(_to_float).astype("float64")
    df = df.sort_values(ROW_ORDER, kind="stable")
    return df.reset_index(drop=True)
