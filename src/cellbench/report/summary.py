"""What the plots show: headline rows, per-metric scaled scores and model ranks.

Headline rows keep what a reader compares models by. Variant keys that split one metric into
many rows (classifier, condition, fold) are reduced: where a `MEAN...` row exists
(label prediction's `classifier=MEAN(knn,lr,rf)`, perturbation's `condition=MEAN`) only it is
kept; otherwise per-condition and per-fold rows are averaged into one row with a percentile
bootstrap interval over them, and per-classifier rows stay as they are. Every other variant key
(species pairs, gene sets, ...) stays part of the column label.
"""

from __future__ import annotations

import json
import math

from cellbench.report.variants import is_mean_value, metric_label, row_params

#: Variant keys a headline row reduces over (see the module docstring).
AGG_KEYS = ("classifier", "condition", "fold")
#: Of those, the ones averaged over when no MEAN row exists.
COLLAPSE_KEYS = ("condition", "fold")

HEADLINE_COLUMNS = [
    "task", "dataset", "model", "baseline", "metric", "label", "higher_is_better",
    "n", "mean", "sd", "ci_low", "ci_high", "ci_method", "error_low", "error_high",
]  # fmt: skip

def is_headline_params(params: dict) -> bool:
    """Whether a row with these params is a headline row as it is (no per-classifier / condition / fold
    split, or only MEAN summaries of one)."""
    return all(is_mean_value(params[k]) for k in AGG_KEYS if k in params)


def _groups(table) -> dict[tuple, tuple[dict, list]]:
    """{(task, dataset, model, baseline, metric, higher_is_better, other params JSON):
    (other params, [(reduced params, row), ...])}: the rows one headline row (or column) comes from."""
    groups: dict[tuple, tuple[dict, list]] = {}
    for row in table.itertuples(index=False):
        params = row_params(row.params)
        rest = {k: v for k, v in params.items() if k not in AGG_KEYS}
        agg = {k: params[k] for k in AGG_KEYS if k in params}
        key = (row.task, row.dataset, row.model, bool(row.baseline), row.metric, bool(row.higher_is_better),
               json.dumps(rest, sort_keys=True))
        groups.setdefault(key, (rest, []))[1].append((agg, row))
    return groups


def _as_row(base: dict, row, label_params: dict) -> dict:
    return base | {"label": metric_label(base["metric"], label_params), "n": row.n, "mean": row.mean, "sd": row.sd,
                   "ci_low": row.ci_low, "ci_high": row.ci_high, "ci_method": row.ci_method}


def _collapsed(base: dict, rest: dict, collapsible: list, *, n_boot: int, seed: int, level: float) -> list[dict]:
    """Per-condition / per-fold rows averaged into one row per remaining variant, with a bootstrap CI."""
    from cellbench.stats import bootstrap_ci, summarize

    by_other: dict[str, tuple[dict, list]] = {}
    for agg, row in collapsible:
        other = {k: v for k, v in agg.items() if k not in COLLAPSE_KEYS}
        by_other.setdefault(json.dumps(other, sort_keys=True), (other, []))[1].append(row.mean)
    out = []
    for _, (other, vals) in sorted(by_other.items()):
        vals = [v for v in vals if v is not None and not math.isnan(v)]
        s = summarize(vals)
        lo = hi = float("nan")
        method = "none"
        if s.n >= 2 and n_boot > 0:
            iv = bootstrap_ci(vals, n_boot=n_boot, level=level, seed=seed)
            lo, hi, method = iv.low, iv.high, "bootstrap_variants"
        out.append(base | {"label": metric_label(base["metric"], rest | other), "n": s.n, "mean": s.mean,
                           "sd": s.sd, "ci_low": lo, "ci_high": hi, "ci_method": method})
    return out


def _group_rows(base: dict, rest: dict, members: list, *, n_boot: int, seed: int, level: float) -> list[dict]:
    """The headline rows of one group (see the module docstring)."""
    means = [(agg, row) for agg, row in members if agg and all(is_mean_value(v) for v in agg.values())]
    if means or all(not agg for agg, _ in members):
        return [_as_row(base, row, rest) for _, row in means or members]
    # per-classifier rows without a MEAN row: one column each
    out = [_as_row(base, row, rest | agg) for agg, row in members if not set(agg) & set(COLLAPSE_KEYS)]
    collapsible = [(agg, row) for agg, row in members if set(agg) & set(COLLAPSE_KEYS)]
    return out + _collapsed(base, rest, collapsible, n_boot=n_boot, seed=seed, level=level)


def _with_error_bars(df):
    """error_low / error_high: the CI where the row has one, else mean +- sd, else the mean itself."""
    import numpy as np

    mean = df["mean"].astype(float)
    sd = df["sd"].astype(float).fillna(0.0)
    has_ci = df["ci_low"].notna() & df["ci_high"].notna()
    df["error_low"] = np.where(has_ci, df["ci_low"], mean - sd)
    df["error_high"] = np.where(has_ci, df["ci_high"], mean + sd)
    return df


def headline(table, *, n_boot: int = 1000, seed: int = 42, level: float = 0.95):
    """Headline rows of an aggregate table (pandas DataFrame, HEADLINE_COLUMNS).

    error_low / error_high: the ends of the error bar, the CI where the row has one, else mean +- sd,
    else the mean itself (no bar).
    """
    import pandas as pd

    groups = _groups(table)
    keep = []
    for key in sorted(groups, key=str):
        task, dataset, model, baseline, metric, hib, _ = key
        rest, members = groups[key]
        base = {"task": task, "dataset": dataset, "model": model, "baseline": baseline, "metric": metric,
                "higher_is_better": hib}
        keep += _group_rows(base, rest, members, n_boot=n_boot, seed=seed, level=level)
    df = _with_error_bars(pd.DataFrame.from_records(keep, columns=HEADLINE_COLUMNS[:-2]))
    df = df.sort_values(["task", "label", "dataset", "baseline", "model"], kind="stable").reset_index(drop=True)
    return df


def model_order(df) -> list[str]:
    """Models first (sorted), baselines last (sorted)."""
    pairs = sorted({(bool(b), m) for m, b in zip(df["model"], df["baseline"])})
    return [m for _, m in pairs]


def column_order(df) -> list[tuple[str, str]]:
    """(task, label) pairs in the order the plots show them."""
    return sorted({(t, lab) for t, lab in zip(df["task"], df["label"])})


def scaled_scores(head):
    """Per task x dataset x label, each model's mean scaled to [0, 1] across models (1 = best).

    Where every model scores the same (or only one model is there) the score is 0.5: no information.
    """
    import numpy as np

    out = head.copy()
    scores = np.full(len(out), np.nan)
    for idx in out.groupby(["task", "dataset", "label"], sort=True).groups.values():
        vals = out.loc[idx, "mean"].astype(float)
        finite = vals[np.isfinite(vals)]
        if finite.empty:
            continue
        lo, hi = finite.min(), finite.max()
        better_high = bool(out.loc[idx[0], "higher_is_better"])
        for i, v in vals.items():
            if not np.isfinite(v):
                continue
            if hi - lo <= 1e-12 * max(1.0, abs(hi)):
                s = 0.5
            else:
                s = (v - lo) / (hi - lo)
                s = s if better_high else 1.0 - s
            scores[out.index.get_loc(i)] = s
    out["scaled"] = scores
    return out


def ranks(head):
    """Per task and model: mean rank over datasets (rank 1 = best, ties averaged, each dataset's rank
    the mean over its headline metrics), with the best and worst dataset rank and the count."""
    import numpy as np
    import pandas as pd
    from scipy.stats import rankdata

    per = []
    for (task, dataset, label), g in head.groupby(["task", "dataset", "label"], sort=True):
        g = g[np.isfinite(g["mean"].astype(float))]
        if g.empty:
            continue
        v = g["mean"].astype(float).to_numpy()
        r = rankdata(-v if bool(g["higher_is_better"].iloc[0]) else v, method="average")
        for model, rank in zip(g["model"], r):
            per.append({"task": task, "dataset": dataset, "label": label, "model": model, "rank": rank,
                        "n_models": len(g)})
    cols = ["task", "model", "baseline", "mean_rank", "best_rank", "worst_rank", "n_datasets", "n_models"]
    if not per:
        return pd.DataFrame(columns=cols)
    per = pd.DataFrame(per)
    by_ds = per.groupby(["task", "model", "dataset"], sort=True).agg(rank=("rank", "mean"),
                                                                     n_models=("n_models", "max"))
    out = by_ds.groupby(["task", "model"], sort=True).agg(
        mean_rank=("rank", "mean"), best_rank=("rank", "min"), worst_rank=("rank", "max"),
        n_datasets=("rank", "size"), n_models=("n_models", "max"),
    ).reset_index()
    base = dict(zip(head["model"], head["baseline"]))
    out["baseline"] = out["model"].map(base).astype(bool)
    return out[cols].sort_values(["task", "mean_rank", "model"], kind="stable").reset_index(drop=True)
