"""Clustering task: Leiden clusters of the representation's kNN graph against the labels.

Reference defaults (cz-benchmarks 0.15.1): scanpy kNN graph (k = 15, UMAP connectivities), Leiden
(igraph, modularity, n_iterations = 2, resolution 1, seed), then `adjusted_rand_index` and
`normalized_mutual_info` with params {}.

Optional resolution sweep (cellbench): Leiden at resolutions 0.1, 0.2, ..., 2.0 on the same graph
and seed; the resolution with the highest NMI is chosen (first one on ties) and NMI and ARI *at
that resolution* are reported with params {"resolution": "best"}, as scib's
`nmi_ari_cluster_labels_leiden` does. The defaults are always reported as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cellbench.metrics.adjusted_rand_index import adjusted_rand_index
from cellbench.metrics.leiden import graph_from_connectivities, leiden
from cellbench.metrics.normalized_mutual_info import normalized_mutual_info
from cellbench.neighbors import scanpy_connectivities
from cellbench.schema import MetricResult

N_NEIGHBORS = 15
RESOLUTION = 1.0
N_ITERATIONS = 2
SWEEP_RESOLUTIONS = tuple(round(0.1 * i, 1) for i in range(1, 21))
SWEEP_PARAMS = {"resolution": "best"}


@dataclass
class ClusteringOutcome:
    metrics: list[MetricResult]
    clusters: np.ndarray
    best_resolution: float | None = None
    sweep: list[dict] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return len(np.unique(self.clusters))


def run_clustering(
    X,
    labels,
    *,
    seed: int = 42,
    n_neighbors: int = N_NEIGHBORS,
    resolution: float = RESOLUTION,
    n_iterations: int = N_ITERATIONS,
    resolution_sweep: bool = False,
    float32_input: bool | None = None,
    knn: str | None = None,
) -> ClusteringOutcome:
    """Leiden clusters, ARI/NMI against `labels`, and optionally the resolution sweep.

    `knn`: the graph's search from 8192 cells on (`cellbench.neighbors.resolve_backend`; default
    CELLBENCH_KNN, else exact); "scanpy" seeds pynndescent with `seed`, as the reference does.
    """
    labels = np.asarray(labels).astype(str)
    conn, _, _ = scanpy_connectivities(X, n_neighbors, float32_input=float32_input, mode=knn, seed=seed)
    graph = graph_from_connectivities(conn)
    clusters = leiden(graph=graph, resolution=resolution, n_iterations=n_iterations, seed=seed)
    metrics = [
        MetricResult(metric_type="adjusted_rand_index", value=adjusted_rand_index(labels, clusters), params={}),
        MetricResult(metric_type="normalized_mutual_info", value=normalized_mutual_info(labels, clusters), params={}),
    ]
    outcome = ClusteringOutcome(metrics=metrics, clusters=clusters)
    if resolution_sweep:
        for r in SWEEP_RESOLUTIONS:
            c = leiden(graph=graph, resolution=r, n_iterations=n_iterations, seed=seed)
            outcome.sweep.append(
                {
                    "resolution": r,
                    "normalized_mutual_info": normalized_mutual_info(labels, c),
                    "adjusted_rand_index": adjusted_rand_index(labels, c),
                    "n_clusters": len(np.unique(c)),
                }
            )
        best = max(outcome.sweep, key=lambda row: row["normalized_mutual_info"])  # first maximum
        outcome.best_resolution = best["resolution"]
        metrics += [
            MetricResult(
                metric_type="adjusted_rand_index", value=best["adjusted_rand_index"], params=dict(SWEEP_PARAMS)
            ),
            MetricResult(
                metric_type="normalized_mutual_info", value=best["normalized_mutual_info"], params=dict(SWEEP_PARAMS)
            ),
        ]
    return outcome


def clustering_metrics(X, labels, *, seed: int = 42, resolution_sweep: bool = False, **kwargs) -> list[MetricResult]:
    """The clustering task's metric results (see module docstring)."""
    return run_clustering(X, labels, seed=seed, resolution_sweep=resolution_sweep, **kwargs).metrics
