"""Batch integration task: `entropy_per_cell` (batch) and `batch_silhouette` (label, batch).

Reference: cz-benchmarks BatchIntegrationTask; entropy over the k = min(200, n) nearest neighbours
(exact and deterministic here), scib-metrics `silhouette_batch`. Params {} as in the reference.
Cross-species integration reuses this with batch = species. The intervals (`ci`, n_boot > 0)
resample the per-cell entropies, and the per-cell 1 - |s| within their label groups (strata).
With `max_cells` below the number of cells, entropy_per_cell is the seeded sampled estimate
(`cellbench.metrics.entropy_sampled`, params {"n_sample": max_cells}); batch_silhouette stays exact
(its distances are within label groups only: 20 groups of 50k cells take ~1/20 of all pairs).
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics.entropy_per_cell import DEFAULT_K, entropy_per_cell_values
from cellbench.metrics.silhouette_batch import NO_GROUPS, silhouette_batch_score, silhouette_batch_values
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci
from cellbench.tasks.checks import require_distinct


def integration_metrics(
    X, labels, batch, *, k: int = DEFAULT_K, seed: int = 42, n_boot: int = DEFAULT_N_BOOT,
    max_cells: int | None = None,
) -> list[MetricResult]:
    labels = np.asarray(labels).astype(str)
    batch = np.asarray(batch).astype(str)
    entropy_params, unit = {}, "cells"
    if max_cells is not None and len(batch) > max_cells:
        from cellbench.metrics.entropy_sampled import sampled_entropy_values

        _, entropies = sampled_entropy_values(X, batch, k, n_sample=max_cells, seed=seed)
        entropy_params, unit = {"n_sample": int(max_cells)}, "sampled cells"
    else:
        entropies = entropy_per_cell_values(X, batch, k)
    groups = silhouette_batch_values(X, labels, batch)
    scores = np.concatenate([s for _, s in groups]) if groups else np.empty(0)
    strata = np.concatenate([np.full(s.size, g) for g, s in groups]) if groups else None
    return [
        MetricResult(
            metric_type="entropy_per_cell",
            value=float(np.mean(entropies)),
            params=entropy_params,
            ci=metric_ci(entropies, seed=seed, n_boot=n_boot, unit=unit),
        ),
        MetricResult(
            metric_type="batch_silhouette",
            value=silhouette_batch_score(groups),
            params={},
            reason=None if groups else NO_GROUPS,
            ci=metric_ci(scores, strata=strata, seed=seed, n_boot=n_boot),
        ),
    ]


def integration_task(
    X, labels, batch, *, label_key: str, batch_key: str, source: str, k: int = DEFAULT_K, seed: int = 42,
    n_boot: int = DEFAULT_N_BOOT, max_cells: int | None = None,
) -> TaskOutcome:
    """The integration task of `cellbench integration`: at least 2 batches, both metrics, params as run
    (`n_neighbors`: the k entropy_per_cell used, capped at the number of cells).

    `source` names the input in error messages.
    """
    require_distinct(batch, 2, f"{source}: obs column '{batch_key}'", what="batches")
    metrics = integration_metrics(X, labels, batch, k=k, seed=seed, n_boot=n_boot, max_cells=max_cells)
    params = {"label_key": label_key, "batch_key": batch_key, "n_neighbors": int(min(k, len(labels))),
              **({"max_cells": max_cells} if max_cells else {})}
    return TaskOutcome(metrics=metrics, params=params, n_cells=len(labels))
