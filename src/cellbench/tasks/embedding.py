"""Embedding task: `silhouette_score` of the representation with respect to the labels.

scib-metrics `silhouette_label` (euclidean, rescaled (ASW + 1) / 2), params {} as in the reference.
The interval (`ci`, n_boot > 0) resamples the per-cell silhouette widths behind the score.
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics.silhouette_label import silhouette_label_score, silhouette_samples
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci


def silhouette_result(X, labels, *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT) -> MetricResult:
    """`silhouette_score` (params {}) with its per-cell bootstrap interval."""
    widths = silhouette_samples(X, labels)
    return MetricResult(
        metric_type="silhouette_score",
        value=silhouette_label_score(widths),
        params={},
        ci=metric_ci(widths, seed=seed, n_boot=n_boot, transform=lambda m: (m + 1.0) / 2.0),
    )


def embedding_metrics(X, labels, *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT) -> list[MetricResult]:
    labels = np.asarray(labels).astype(str)
    return [silhouette_result(X, labels, seed=seed, n_boot=n_boot)]
