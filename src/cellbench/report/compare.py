"""Paired comparison of two models on the datasets both were scored on, one row per metric.

For models A and B and one task x metric x variant, the paired units are the datasets where both
have a mean (unit "dataset"; the per-dataset mean over seeds), or the dataset x seed pairs where
both have a value (unit "seed"; only meaningful when the metric varies with the seed). Per row:
  n            number of paired units
  wins/ties/losses  units where A is better / equal within `tie_tolerance` / worse, in the metric's
               direction (higher is better except for errors and distances)
  mean_a, mean_b, mean_diff  means over the units; mean_diff = mean(A - B)
  diff_ci_low, diff_ci_high  percentile bootstrap interval of mean_diff (units resampled, seeded)
  wilcoxon_p   two-sided Wilcoxon signed-rank test of the differences (zeros dropped; empty below
               two units)
  wilcoxon_p_bh  Benjamini-Hochberg adjustment over every row of the output
Perturbation conditions (`pool`) are units, not separate metrics: "dataset|condition=X".
Default pairs: every two non-baseline models, and every non-baseline model against every baseline.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cellbench.report.variants import canonical_params, is_mean_value, row_params, variant_label

COMPARISON_COLUMNS = [
    "task", "metric", "variant", "higher_is_better", "model_a", "model_b", "kind", "unit",
    "n", "wins", "ties", "losses", "mean_a", "mean_b", "mean_diff", "diff_ci_low", "diff_ci_high",
    "ci_level", "n_boot", "wilcoxon_p", "wilcoxon_p_bh", "units", "params",
]  # fmt: skip


def default_pairs(models: Sequence[str], baselines: set[str]) -> list[tuple[str, str, str]]:
    """(A, B, kind): all pairs of models (kind "models"), then each model vs each baseline."""
    models = sorted(set(models))
    real = [m for m in models if m not in baselines]
    base = [m for m in models if m in baselines]
    if not real:  # only baselines: compare them with each other
        return [(a, b, "models") for a, b in itertools.combinations(base, 2)]
    pairs = [(a, b, "models") for a, b in itertools.combinations(real, 2)]
    pairs += [(a, b, "vs_baseline") for a in real for b in base]
    return pairs


def _per_unit(table, unit: str, pool: Sequence[str]) -> dict:
    """{(task, metric, params JSON without pooled keys): {model: {unit label: value}}}.

    A unit is a dataset (its mean over seeds) or a dataset x seed; params keys in `pool` (e.g.
    perturbation conditions) become part of the unit instead of the metric: "dataset|condition=X".
    """
    import math

    out: dict = {}
    for row in table.itertuples(index=False):
        params = row_params(row.params)
        # a MEAN row (condition=MEAN) is a summary, not one more unit: it stays a metric of its own
        pooled = {k: params.pop(k) for k in pool if k in params and not is_mean_value(params[k])}
        where = row.dataset + ("|" + variant_label(pooled) if pooled else "")
        if unit == "dataset":
            if row.mean is None or not math.isfinite(row.mean):
                continue
            units = {where: float(row.mean)}
        else:
            seeds = str(row.seeds).split(",") if row.seeds else []
            vals = str(row.values).split(",") if row.values else []
            units = {f"{where}@{s}": float(v) for s, v in zip(seeds, vals) if v != "NA"}
        key = (row.task, row.metric, canonical_params(params))
        out.setdefault(key, {}).setdefault(row.model, {}).update(units)
    return out


def compare_pair(a, b, *, higher_is_better: bool, tie_tolerance: float, n_boot: int, level: float, seed: int) -> dict:
    """The statistics of one paired comparison (a, b: equally long sequences of paired values)."""
    import numpy as np

    from cellbench.stats import bootstrap_ci, wilcoxon_p

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = a - b
    signed = d if higher_is_better else -d
    wins = int(np.sum(signed > tie_tolerance))
    losses = int(np.sum(signed < -tie_tolerance))
    ties = int(d.size - wins - losses)
    nan = float("nan")
    lo = hi = nan
    if d.size >= 2 and n_boot > 0:
        iv = bootstrap_ci(d, n_boot=n_boot, level=level, seed=seed)
        lo, hi = iv.low, iv.high
    return {
        "n": int(d.size),
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "mean_a": float(a.mean()) if a.size else nan,
        "mean_b": float(b.mean()) if b.size else nan,
        "mean_diff": float(d.mean()) if d.size else nan,
        "diff_ci_low": lo,
        "diff_ci_high": hi,
        # one unit is no test (its exact p would be 1): left empty, like the interval
        "wilcoxon_p": wilcoxon_p(np.where(np.abs(d) <= tie_tolerance, 0.0, d)) if d.size >= 2 else nan,
    }


def _pairs(models: list[str], model_a: str | None, model_b: str | None, baselines: set[str]) -> list[tuple]:
    """(A, B, kind) to compare: one pair, A against every other model, or the default pairs."""
    from cellbench.errors import InputError

    for m in (model_a, model_b):
        if m is not None and m not in models:
            raise InputError(f"model '{m}' is not in the table (models: {', '.join(models)})")
    if model_b is not None and model_a is None:
        model_a, model_b = model_b, None
    if model_a is not None and model_b is not None:
        return [(model_a, model_b, "vs_baseline" if model_b in baselines else "models")]
    if model_a is not None:
        return [(model_a, m, "vs_baseline" if m in baselines else "models") for m in models if m != model_a]
    return default_pairs(models, baselines)


def _shared_units(data: dict, a: str, b: str):
    """(key, units) of every metric both models have values for, in key order; units sorted."""
    for key in sorted(data):
        by_model = data[key]
        if a not in by_model or b not in by_model:
            continue
        shared = sorted(set(by_model[a]) & set(by_model[b]))
        if shared:
            yield key, shared


def compare(
    table,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
    baselines: Sequence[str] = (),
    unit: str = "dataset",
    pool: Sequence[str] = ("condition",),
    n_boot: int = 10000,
    level: float = 0.95,
    seed: int = 42,
    tie_tolerance: float = 1e-12,
):
    """The comparison table (pandas DataFrame, COMPARISON_COLUMNS) of an aggregate table.

    model_a and model_b: one pair; model_a alone: it against every other model; neither: the
    default pairs. Rows come in a fixed order (pair order, then task, metric, variant).
    """
    import pandas as pd

    from cellbench.stats import bh_adjust

    if unit not in ("dataset", "seed"):
        raise ValueError("unit must be 'dataset' or 'seed'")
    baselines = set(baselines)
    pairs = _pairs(sorted(set(table["model"])), model_a, model_b, baselines)
    direction = {(t, m): bool(h) for t, m, h in zip(table["task"], table["metric"], table["higher_is_better"])}
    data = _per_unit(table, unit, tuple(pool))
    records = []
    for a, b, kind in pairs:
        for key, shared in _shared_units(data, a, b):
            by_model = data[key]
            task, metric, params = key
            stats = compare_pair([by_model[a][u] for u in shared], [by_model[b][u] for u in shared],
                                 higher_is_better=direction[(task, metric)], tie_tolerance=tie_tolerance,
                                 n_boot=n_boot, level=level, seed=seed)
            records.append(
                {
                    "task": task,
                    "metric": metric,
                    "variant": variant_label(row_params(params)),
                    "higher_is_better": direction[(task, metric)],
                    "model_a": a,
                    "model_b": b,
                    "kind": kind,
                    "unit": unit,
                    **stats,
                    "ci_level": level,
                    "n_boot": n_boot,
                    "units": ";".join(shared),
                    "params": params,
                }
            )
    df = pd.DataFrame.from_records(records, columns=COMPARISON_COLUMNS)
    df["wilcoxon_p_bh"] = bh_adjust(df["wilcoxon_p"].to_numpy(dtype=float)) if len(df) else []
    return df


def write_comparison(df, path) -> None:
    from cellbench.io.atomic import write_text
    from cellbench.report.tablefile import table_to_tsv

    write_text(path, table_to_tsv(df))
