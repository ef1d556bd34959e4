"""Embedding task: `silhouette_score` of the representation with respect to the labels.

scib-metrics `silhouette_label` (euclidean, rescaled (ASW + 1) / 2), params {} as in the reference.
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics.silhouette_label import silhouette_label
from cellbench.schema import MetricResult


def embedding_metrics(X, labels) -> list[MetricResult]:
    labels = np.asarray(labels).astype(str)
    return [MetricResult(metric_type="silhouette_score", value=silhouette_label(X, labels), params={})]
