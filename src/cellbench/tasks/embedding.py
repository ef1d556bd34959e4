"""Embedding task: `silhouette_score` of the representation with respect to the labels.

scib-metrics `silhouette_label` (euclidean, rescaled (ASW + 1) / 2), params {} as in the reference.
The interval (`ci`, n_boot > 0) resamples the per-cell silhouette widths behind the score.
With `max_cells` below the number of cells, the score is the seeded sampled estimate
(`cellbench.metrics.silhouette_sampled`): params {"n_sample": max_cells}, and the interval resamples
the sampled widths, so it covers the sampling error. With one label, or one cell per label, the
silhouette is undefined: value null with a `reason` (scib-metrics would say 0.5).
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics.silhouette_label import silhouette_label_score, silhouette_samples, undefined_reason
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.tasks.checks import require_distinct


def silhouette_result(
    X, labels, *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT, max_cells: int | None = None
) -> MetricResult:
    """`silhouette_score` (params {}, or {"n_sample": m} when sampled) with its bootstrap interval;
    null with a `reason` where the silhouette is undefined (one label, or one cell per label)."""
    sampled = max_cells is not None and len(labels) > max_cells
    params = {"n_sample": int(max_cells)} if sampled else {}
    reason = undefined_reason(labels)
    if reason is not None:
        return MetricResult(metric_type="silhouette_score", value=None, params=params, reason=reason)
    if sampled:
        from cellbench.metrics.silhouette_sampled import sampled_silhouette_widths

        widths, unit = sampled_silhouette_widths(X, labels, n_sample=max_cells, seed=seed)[1], "sampled cells"
    else:
        widths, unit = silhouette_samples(X, labels), "cells"
    return MetricResult(
        metric_type="silhouette_score",
        value=silhouette_label_score(widths),
        params=params,
        ci=metric_ci(widths, seed=seed, n_boot=n_boot, unit=unit, transform=lambda m: (m + 1.0) / 2.0),
    )


def embedding_metrics(
    X, labels, *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT, max_cells: int | None = None
) -> list[MetricResult]:
    labels = np.asarray(labels).astype(str)
    return [silhouette_result(X, labels, seed=seed, n_boot=n_boot, max_cells=max_cells)]


def embedding_task(
    X, labels, *, label_key: str, source: str, seed: int = 42, n_boot: int = DEFAULT_N_BOOT,
    max_cells: int | None = None,
) -> TaskOutcome:
    """The embedding task of `cellbench embedding`: at least 2 labels, the silhouette, params as run.

    `source` names the input in error messages.
    """
    require_distinct(labels, 2, f"{source}: obs column '{label_key}'")
    metrics = embedding_metrics(X, labels, seed=seed, n_boot=n_boot, max_cells=max_cells)
    params = {"label_key": label_key, **({"max_cells": max_cells} if max_cells else {})}
    return TaskOutcome(metrics=metrics, params=params, n_cells=len(labels))
