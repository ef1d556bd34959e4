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

import logging
from dataclasses import dataclass, field

import numpy as np

from cellbench.leiden import graph_from_connectivities, leiden
from cellbench.metrics.adjusted_rand_index import adjusted_rand_index
from cellbench.metrics.normalized_mutual_info import normalized_mutual_info
from cellbench.neighbors import SCANPY_EXACT_LIMIT, scanpy_connectivities
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.tasks.checks import require_cells, require_distinct

log = logging.getLogger("cellbench")

N_NEIGHBORS = 15
RESOLUTION = 1.0
N_ITERATIONS = 2
SWEEP_RESOLUTIONS = tuple(round(0.1 * i, 1) for i in range(1, 21))
SWEEP_PARAMS = {"resolution": "best"}


@dataclass
class ClusteringOutcome:
    """Leiden's partition and its metrics, with the graph settings that actually ran."""

    metrics: list[MetricResult]
    clusters: np.ndarray
    n_neighbors: int = N_NEIGHBORS
    knn: str = "exact"
    best_resolution: float | None = None
    sweep: list[dict] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return len(np.unique(self.clusters))


def graph_n_neighbors(n_cells: int, n_neighbors: int = N_NEIGHBORS) -> int:
    """The k scanpy.pp.neighbors really uses: 1 + n // 2 when k exceeds the cells ("n_obs too small")."""
    return 1 + int(0.5 * n_cells) if n_neighbors > n_cells else n_neighbors


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
    knn: str = "exact",
) -> ClusteringOutcome:
    """Leiden clusters, ARI/NMI against `labels`, and optionally the resolution sweep.

    `knn`: the graph's search from 8192 cells on, as `cellbench.neighbors.resolve_backend` names it
    (exact, ivf or scanpy; the caller resolves the mode); "scanpy" seeds pynndescent with `seed`,
    as the reference does. Below 8192 cells the search is exact whatever `knn` says.
    """
    labels = np.asarray(labels).astype(str)
    n_neighbors = graph_n_neighbors(len(labels), n_neighbors)
    conn, _, _ = scanpy_connectivities(X, n_neighbors, float32_input=float32_input, mode=knn, seed=seed)
    graph = graph_from_connectivities(conn)
    clusters = leiden(graph=graph, resolution=resolution, n_iterations=n_iterations, seed=seed)
    metrics = [
        MetricResult(metric_type="adjusted_rand_index", value=adjusted_rand_index(labels, clusters), params={}),
        MetricResult(metric_type="normalized_mutual_info", value=normalized_mutual_info(labels, clusters), params={}),
    ]
    outcome = ClusteringOutcome(metrics=metrics, clusters=clusters, n_neighbors=n_neighbors,
                                knn=knn if len(labels) >= SCANPY_EXACT_LIMIT else "exact")
    if resolution_sweep:
        _sweep(outcome, graph, labels, n_iterations=n_iterations, seed=seed)
    return outcome


def _sweep(outcome: ClusteringOutcome, graph, labels, *, n_iterations: int, seed: int) -> None:
    """Leiden at every SWEEP_RESOLUTIONS on the same graph; adds NMI and ARI at the best NMI."""
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
    outcome.metrics += [
        MetricResult(metric_type="adjusted_rand_index", value=best["adjusted_rand_index"], params=dict(SWEEP_PARAMS)),
        MetricResult(
            metric_type="normalized_mutual_info", value=best["normalized_mutual_info"], params=dict(SWEEP_PARAMS)
        ),
    ]


def clustering_task(
    X, labels, *, label_key: str, source: str, seed: int = 42, resolution_sweep: bool = False, knn: str = "exact"
) -> TaskOutcome:
    """The clustering task of `cellbench clustering`: checks, Leiden, and the params as run.

    `source` names the input in error messages; `knn` is the resolved search (see run_clustering).
    """
    require_distinct(labels, 2, f"{source}: obs column '{label_key}'")
    require_cells(len(labels), 3, source, "a kNN graph needs neighbours")
    run = run_clustering(X, labels, seed=seed, resolution_sweep=resolution_sweep, knn=knn)
    log.info("%s: %d Leiden clusters", source, run.n_clusters)
    params = {
        "label_key": label_key,
        "n_neighbors": run.n_neighbors,
        "resolution": RESOLUTION,
        "n_iterations": N_ITERATIONS,
        "n_clusters": run.n_clusters,
        "knn": run.knn,
    }
    if resolution_sweep:
        params["resolution_sweep"] = {
            "resolutions": list(SWEEP_RESOLUTIONS),
            "selected_by": "normalized_mutual_info",
            "best_resolution": run.best_resolution,
            "runs": run.sweep,
        }
    return TaskOutcome(metrics=run.metrics, params=params, n_cells=len(labels))
