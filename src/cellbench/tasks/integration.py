"""Batch integration task: `entropy_per_cell` (batch) and `batch_silhouette` (label, batch).

Reference: cz-benchmarks BatchIntegrationTask; entropy over the k = min(200, n) nearest neighbours
(exact and deterministic here), scib-metrics `silhouette_batch`. Params {} as in the reference.
Cross-species integration reuses this with batch = species.
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics.entropy_per_cell import DEFAULT_K, entropy_per_cell
from cellbench.metrics.silhouette_batch import silhouette_batch
from cellbench.schema import MetricResult


def integration_metrics(X, labels, batch, *, k: int = DEFAULT_K) -> list[MetricResult]:
    labels = np.asarray(labels).astype(str)
    batch = np.asarray(batch).astype(str)
    return [
        MetricResult(metric_type="entropy_per_cell", value=entropy_per_cell(X, batch, k), params={}),
        MetricResult(metric_type="batch_silhouette", value=silhouette_batch(X, labels, batch), params={}),
    ]
