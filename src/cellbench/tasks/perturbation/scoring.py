"""One condition's metrics from its predicted gene-wise means, and their mean over conditions.

Kept apart from how the means are obtained (`evaluate`: from a prediction or a baseline), so a
model and a baseline are scored by the very same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cellbench.perturbation_data import PreparedPerturbation
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci

EPS = 1e-8  # the reference's epsilon in the ratio effect
Effect = Literal["ratio", "difference"]


def predicted_effect(treated_mean, control_mean, operation: Effect = "ratio") -> tuple[np.ndarray, str]:
    """The predicted effect per gene and the operation actually used.

    "ratio": ln((treated + 1e-8) / (control + 1e-8)); like the reference it falls back to
    "difference" (treated - control) for the whole condition if any mean is <= 0.
    """
    t = np.asarray(treated_mean).ravel()
    c = np.asarray(control_mean).ravel()
    if operation not in ("ratio", "difference"):
        raise ValueError(f"effect must be 'ratio' or 'difference', got '{operation}'")
    if operation == "difference" or np.any(t <= 0.0) or np.any(c <= 0.0):
        return np.asarray(t - c).ravel(), "difference"
    return np.log((t + EPS) / (c + EPS)).ravel(), "ratio"


def spearman_for_condition(
    de_filtered: pd.DataFrame, evaluated: Sequence[str], treated_mean, control_mean, gene_index, effect: Effect = "ratio"
) -> tuple[float, str, int] | None:
    """The reference's per-condition Spearman: true logfoldchange of the evaluated DE genes vs the
    predicted effect. `treated_mean`/`control_mean` are gene vectors in `gene_index` order.
    Returns (value, effect used, n genes) or None when no gene is left (the reference skips those).
    """
    from cellbench.metrics.spearman import spearman_correlation

    table = de_filtered.drop_duplicates("gene").set_index("gene")
    candidates = [g for g in evaluated if g in table.index]
    if not candidates:
        return None
    truth = table.reindex(candidates)["logfoldchange"].to_numpy()
    valid = ~np.isnan(truth)
    genes = np.asarray(candidates)[valid]
    truth = truth[valid]
    idx = pd.Index(gene_index).get_indexer(genes)
    keep = idx >= 0
    if not keep.any():
        return None
    pred, used = predicted_effect(np.asarray(treated_mean)[idx[keep]], np.asarray(control_mean)[idx[keep]], effect)
    return spearman_correlation(truth[keep], pred), used, int(keep.sum())


def top_de_genes(de_condition: pd.DataFrame, n: int = 20) -> np.ndarray:
    """The condition's `n` genes with the largest |Wilcoxon score| (ties: scanpy's order)."""
    order = np.argsort(-np.abs(de_condition["score"].to_numpy(dtype=np.float64)), kind="stable")
    return de_condition["gene"].to_numpy()[order[:n]].astype(str)


def predicted_de_set(pred_treated, pred_control, genes, k: int) -> set[str]:
    """The k genes with the largest nonzero |predicted mean change| (stable in gene order)."""
    change = np.abs(np.asarray(pred_treated, dtype=np.float64) - np.asarray(pred_control, dtype=np.float64))
    order = np.argsort(-change, kind="stable")[:k]
    return {str(genes[i]) for i in order if change[i] > 0}


@dataclass
class ConditionPrediction:
    """Predicted gene-wise means of one condition (float64), in the prepared gene order.

    `control_source` says whether controls came from the prediction or the dataset. (The Spearman
    metric averages as the reference does, in the prediction's dtype: `condition_metrics`'
    `spearman_means`.)
    """

    treated: np.ndarray
    control: np.ndarray
    control_source: str


def condition_metrics(
    prepared: PreparedPerturbation,
    condition: str,
    pred: ConditionPrediction,
    *,
    effect: Effect = "ratio",
    top_n: int = 20,
    spearman_means: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[MetricResult]:
    """All metrics of one condition from its predicted means, in a fixed order: Spearman (when the
    condition has evaluated genes), MSE and Pearson delta (top-N DE genes, then all), Jaccard.

    `spearman_means`: (treated, control) means over the evaluated genes only, computed as the
    reference does (on exactly those columns); default: the matching entries of `pred`.
    """
    i = prepared.index_of(condition)
    de_f = prepared.de_filtered()
    de_f = de_f[de_f["condition"] == condition]
    base = {"condition": condition}
    out = _spearman_rows(prepared, condition, pred, de_f, base, effect, spearman_means)
    pt = np.asarray(pred.treated, dtype=np.float64)
    pc = np.asarray(pred.control, dtype=np.float64)
    gene_sets = _gene_sets(prepared, condition, top_n)
    out += _expression_rows(prepared.treated_mean[i], prepared.control_mean[i], pt, pc, gene_sets, base)
    out.append(_jaccard_row(de_f, pt, pc, prepared.genes, base))
    return out


def _spearman_rows(prepared, condition, pred, de_f, base, effect, spearman_means) -> list[MetricResult]:
    evaluated = prepared.evaluated_genes.get(condition)
    if not evaluated:
        return []
    if spearman_means is not None:
        t_sub, c_sub = spearman_means
        gene_index = pd.Index(evaluated)
    else:
        t_sub, c_sub, gene_index = pred.treated, pred.control, pd.Index(prepared.genes)
    res = spearman_for_condition(de_f, evaluated, t_sub, c_sub, gene_index, effect)
    if res is None:
        return []
    value, used, n = res
    return [
        MetricResult(
            metric_type="spearman_correlation_calculation",
            value=value,
            params={**base, "effect": used, "n_genes": n},
        )
    ]


def _gene_sets(prepared: PreparedPerturbation, condition: str, top_n: int) -> tuple[tuple[str, np.ndarray], ...]:
    """(label, gene positions) of the condition's top-N DE genes (by |score|) and of all genes."""
    genes = prepared.genes
    de_c = prepared.de[prepared.de["condition"] == condition]
    top = pd.Index(genes).get_indexer(top_de_genes(de_c, top_n))
    top = top[top >= 0]
    return (f"top{top_n}_de", top), ("all", np.arange(genes.size))


def _expression_rows(truth_t, truth_c, pt, pc, gene_sets, base) -> list[MetricResult]:
    """MSE of the treated means, then Pearson delta of the changes, over each gene set."""
    from cellbench.metrics.mean_squared_error import mean_squared_error
    from cellbench.metrics.pearson_delta import pearson_delta, undefined_score

    out = []
    for label, idx in gene_sets:
        out.append(
            MetricResult(
                metric_type="mean_squared_error",
                value=mean_squared_error(truth_t[idx], pt[idx]),
                params={**base, "genes": label, "n_genes": int(idx.size)},
            )
        )
    for label, idx in gene_sets:
        value, raw = undefined_score(pearson_delta(truth_t[idx], truth_c[idx], pt[idx], pc[idx]))
        out.append(
            MetricResult(
                metric_type="pearson_delta",
                value=value,
                params={**base, "genes": label, "n_genes": int(idx.size), **raw},
            )
        )
    return out


def _jaccard_row(de_f: pd.DataFrame, pt, pc, genes, base) -> MetricResult:
    from cellbench.metrics.jaccard import jaccard_index

    true_set = set(de_f["gene"].astype(str).tolist())
    pred_set = predicted_de_set(pt, pc, genes, len(true_set))
    return MetricResult(
        metric_type="jaccard",
        value=jaccard_index(true_set, pred_set) if true_set else float("nan"),
        params={**base, "de_set": "top_abs_change", "n_genes": len(true_set)},
    )


def mean_over_conditions(
    per_condition: list[MetricResult], *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT
) -> list[MetricResult]:
    """Per metric variant (metric + params other than condition/effect/n_genes/raw_value): the mean over
    conditions where it is defined, params condition "MEAN" and n_conditions, with a bootstrap
    interval over those conditions (n_boot > 0; resampled in condition-name order, so the order
    the conditions were scored in does not change it)."""
    groups: dict[tuple, list[tuple[str, float]]] = {}
    keys: dict[tuple, dict] = {}
    for r in per_condition:
        variant = {k: v for k, v in r.params.items() if k not in ("condition", "effect", "n_genes", "raw_value")}
        key = (r.metric_type, tuple(sorted(variant.items())))
        keys[key] = variant
        if r.value is not None:
            groups.setdefault(key, []).append((str(r.params.get("condition")), r.value))
        else:
            groups.setdefault(key, [])
    out = []
    for key, pairs in groups.items():
        values = [v for _, v in pairs]
        by_name = [v for _, v in sorted(pairs, key=lambda p: p[0])]
        out.append(
            MetricResult(
                metric_type=key[0],
                value=float(np.mean(values)) if values else float("nan"),
                params={"condition": "MEAN", **keys[key], "n_conditions": len(values)},
                ci=metric_ci(by_name, unit="conditions", seed=seed, n_boot=n_boot),
            )
        )
    return out
