"""Scoring predicted expression (a model's per-cell prediction or a baseline) against the prepared
truth, condition by condition, and the outcome `cellbench perturbation` writes.

A prediction's gene-wise means are taken over each condition's mapped treated cells and matched
controls (from the prediction when it has them all, else the observed controls); a baseline's are
built from the truth itself. Both are then scored by `scoring.condition_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.outcome import TaskOutcome
from cellbench.perturbation_data import PreparedPerturbation
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT
from cellbench.tasks.perturbation.expression import mean_rows
from cellbench.tasks.perturbation.scoring import (
    ConditionPrediction,
    Effect,
    condition_metrics,
    mean_over_conditions,
)

BASELINES = ("no_change", "other_mean")


def select_conditions(prepared: PreparedPerturbation, conditions: Sequence[str] | None, source: str = "prepared") -> list[str]:
    if conditions is None:
        return [str(c) for c in prepared.conditions]
    out = []
    for cond in conditions:
        if cond not in set(prepared.conditions.tolist()):
            skipped = prepared.skipped[prepared.skipped["condition"] == cond]
            why = (
                f"was skipped in prepare ({skipped['reason'].iloc[0]})"
                if len(skipped)
                else "has no cells in the prepared dataset"
            )
            raise InputError(f"{source}: condition '{cond}' {why}")
        if cond not in out:
            out.append(cond)
    return out


def evaluate_prediction(
    prepared: PreparedPerturbation,
    prediction,
    cell_ids,
    *,
    conditions: Sequence[str] | None = None,
    effect: Effect = "ratio",
    top_n: int = 20,
    source: str = "prediction",
    seed: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """Score a per-cell prediction (cells x prepared genes, rows named by `cell_ids`).

    Treated cells of every evaluated condition must be in the prediction. Their matched controls
    are averaged from the prediction when it has them all (as the reference), from the observed
    controls when it has none (then the prediction must be log-normalized, like the truth); a
    prediction with only some of them is an error. The condition MEAN rows carry a bootstrap
    interval over conditions (n_boot > 0; seed default: the prepare seed).
    """
    if prediction.shape[1] != prepared.genes.size:
        raise ValueError(f"prediction has {prediction.shape[1]} genes, prepared {prepared.genes.size}")
    index = pd.Index(np.asarray(cell_ids).astype(str))
    if index.has_duplicates:
        raise InputError(f"{source}: cell ids are not unique (first duplicate '{index[index.duplicated()][0]}')")
    chosen = select_conditions(prepared, conditions)
    by_cond = dict(tuple(prepared.control_map.groupby("condition", sort=True)))
    per_condition: list[MetricResult] = []
    sources = {}
    for cond in chosen:
        t_rows, c_rows, control_source = _matched_rows(by_cond[cond], index, cond, source)
        treated = mean_rows(prediction, t_rows)
        if control_source == "prediction":
            control = mean_rows(prediction, c_rows)
        else:
            control = prepared.control_mean[prepared.index_of(cond)]
        spearman_means = _spearman_means(prepared, prediction, cond, t_rows, c_rows, control, control_source)
        pred = ConditionPrediction(treated, control, control_source)
        per_condition.extend(
            condition_metrics(prepared, cond, pred, effect=effect, top_n=top_n, spearman_means=spearman_means)
        )
        sources[cond] = control_source
    info = {"conditions": chosen, "control_source": sources, "effect_requested": effect}
    seed = prepared.settings.seed if seed is None else seed
    return per_condition + mean_over_conditions(per_condition, seed=seed, n_boot=n_boot), info


def _matched_rows(pairs: pd.DataFrame, index: pd.Index, cond: str, source: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Prediction rows of the condition's treated cells and of their matched controls, and where the
    controls come from: "prediction" (it has them all) or "dataset" (it has none)."""
    t_rows = index.get_indexer(pairs["treated"].to_numpy())
    missing = np.flatnonzero(t_rows < 0)
    if missing.size:
        raise InputError(
            f"{source}: {missing.size} of {t_rows.size} cells of condition '{cond}' are missing, "
            f"first '{pairs['treated'].iloc[missing[0]]}'"
        )
    c_rows = index.get_indexer(pairs["control"].to_numpy())
    if (c_rows >= 0).all():
        return t_rows, c_rows, "prediction"
    if (c_rows < 0).all():
        return t_rows, c_rows, "dataset"
    first = pairs["control"].iloc[int(np.flatnonzero(c_rows < 0)[0])]
    raise InputError(
        f"{source}: has some but not all matched control cells of condition '{cond}' "
        f"(first missing '{first}'); give all of them or none"
    )


def _spearman_means(prepared, prediction, cond, t_rows, c_rows, control, control_source):
    """(treated, control) means of the evaluated genes' columns on their own, in the prediction's
    dtype, as the reference averages them; None when the condition has no evaluated genes."""
    evaluated = prepared.evaluated_genes.get(cond)
    if not evaluated:
        return None
    cols = pd.Index(prepared.genes).get_indexer(evaluated)
    t_sub = _block_mean(prediction, t_rows, cols)
    if control_source == "prediction":
        c_sub = _block_mean(prediction, c_rows, cols)
    else:
        c_sub = control[cols].astype(t_sub.dtype)
    return t_sub, c_sub


def _block_mean(prediction, rows, cols) -> np.ndarray:
    """np.mean over `rows` of the `cols` block, densified, in the prediction's dtype."""
    import scipy.sparse as sp

    sub = prediction[np.ix_(rows, cols)]
    return np.mean(sub.toarray() if sp.issparse(sub) else sub, axis=0)


def baseline_means(prepared: PreparedPerturbation, kind: str, condition: str) -> ConditionPrediction:
    """A baseline's predicted means: "no_change" (the matched control mean) or "other_mean"
    (the mean over the other prepared conditions of their observed treated means)."""
    i = prepared.index_of(condition)
    control = prepared.control_mean[i]
    if kind == "no_change":
        return ConditionPrediction(control.copy(), control, "dataset")
    if kind == "other_mean":
        others = np.flatnonzero(np.arange(prepared.conditions.size) != i)
        if not others.size:
            raise InputError("baseline 'other_mean' needs at least 2 prepared conditions")
        return ConditionPrediction(prepared.treated_mean[others].mean(axis=0), control, "dataset")
    raise ValueError(f"unknown baseline '{kind}' (choose from {', '.join(BASELINES)})")


def evaluate_baseline(
    prepared: PreparedPerturbation,
    kind: str,
    *,
    conditions: Sequence[str] | None = None,
    effect: Effect = "ratio",
    top_n: int = 20,
    seed: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """Score a baseline exactly as a model's prediction is scored."""
    chosen = select_conditions(prepared, conditions)
    per_condition: list[MetricResult] = []
    for cond in chosen:
        per_condition.extend(condition_metrics(prepared, cond, baseline_means(prepared, kind, cond), effect=effect, top_n=top_n))
    info = {"conditions": chosen, "baseline": kind, "effect_requested": effect}
    seed = prepared.settings.seed if seed is None else seed
    return per_condition + mean_over_conditions(per_condition, seed=seed, n_boot=n_boot), info


# ---------------------------------------------------------------------------------------------
# the command's task


def check_request(
    truth: PreparedPerturbation, *, seed: int | None, conditions: Sequence[str], baseline: str | None, source: str
) -> list[str] | None:
    """The checks of a scoring request against the prepared truth (`source` names its file), made
    before a prediction is loaded: the seed, the conditions, and a baseline's needs. Returns the
    chosen conditions (None: all)."""
    if seed is not None and seed != truth.settings.seed:
        raise InputError(
            f"{source}: prepared with seed {truth.settings.seed}, not {seed}; run perturbation-prepare --seed {seed}"
        )
    chosen = select_conditions(truth, list(conditions), source=source) if conditions else None
    if baseline == "other_mean" and truth.conditions.size < 2:
        raise InputError(f"{source}: baseline 'other_mean' needs at least 2 prepared conditions")
    return chosen


def score_perturbation(
    truth: PreparedPerturbation,
    *,
    prediction=None,
    baseline: str | None = None,
    conditions: Sequence[str] | None = None,
    effect: Effect = "ratio",
    top_n: int = 20,
    n_boot: int = DEFAULT_N_BOOT,
    prediction_layer: str | None = None,
) -> TaskOutcome:
    """`cellbench perturbation`'s outcome: `prediction` (matrix, cell ids, source name) or a
    `baseline` scored on the `conditions` (None: all), with the params it ran with (the prepare
    settings included) and the number of treated cells scored."""
    seed = truth.settings.seed
    if prediction is not None:
        matrix, cell_ids, source = prediction
        metrics, info = evaluate_prediction(
            truth, matrix, cell_ids, conditions=conditions, effect=effect, top_n=top_n, source=source,
            seed=seed, n_boot=n_boot,
        )
    else:
        metrics, info = evaluate_baseline(
            truth, baseline, conditions=conditions, effect=effect, top_n=top_n, seed=seed, n_boot=n_boot,
        )
    params = {
        "conditions": info["conditions"],
        "effect_requested": effect,
        "top_n": int(top_n),
        "baseline": baseline,
        "prediction_layer": prediction_layer,
        "control_source": info.get("control_source", {c: "dataset" for c in info["conditions"]}),
        "prepare": truth.settings.as_dict(),
    }
    n_cells = int(truth.n_treated[[truth.index_of(c) for c in info["conditions"]]].sum())
    return TaskOutcome(metrics=metrics, params=params, n_cells=n_cells)
