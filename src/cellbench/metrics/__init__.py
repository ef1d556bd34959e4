"""Metrics: one per module, arrays in, float (or per-cell array) out. No file I/O here.

Every array-level metric is importable under the `metric_type` its results carry, so
`from cellbench.metrics import silhouette_score` gives the function behind the `silhouette_score`
rows of a result file; `METRICS` (cellbench.metrics.registry) lists all of them with direction and
source. The imports are eager on purpose: several modules share their metric's name, and a lazy
attribute would lose to the submodule once that is imported. The metric modules import only numpy
at module level (sklearn and scipy inside their functions), so this stays cheap.
"""

from cellbench.metrics.adjusted_rand_index import adjusted_rand_index
from cellbench.metrics.entropy_per_cell import entropy_per_cell
from cellbench.metrics.jaccard import jaccard_index
from cellbench.metrics.mean_squared_error import mean_squared_error
from cellbench.metrics.normalized_mutual_info import normalized_mutual_info
from cellbench.metrics.pearson_delta import pearson_delta
from cellbench.metrics.registry import METRICS, MetricSpec, higher_is_better, metric
from cellbench.metrics.sequential_alignment import sequential_alignment
from cellbench.metrics.silhouette_batch import silhouette_batch
from cellbench.metrics.silhouette_label import silhouette_label
from cellbench.metrics.spearman import spearman_correlation

# metric_type names where the function's own name differs
silhouette_score = silhouette_label
batch_silhouette = silhouette_batch
spearman_correlation_calculation = spearman_correlation
jaccard = jaccard_index

__all__ = [
    "METRICS",
    "MetricSpec",
    "adjusted_rand_index",
    "batch_silhouette",
    "entropy_per_cell",
    "higher_is_better",
    "jaccard",
    "mean_squared_error",
    "metric",
    "normalized_mutual_info",
    "pearson_delta",
    "sequential_alignment",
    "silhouette_score",
    "spearman_correlation_calculation",
]
