"""`cellbench clustering`: Leiden clusters of a representation against labels (ARI, NMI)."""

import click

from cellbench.cli._options import dataset_options, representation_options, run_options, task_command
from cellbench.neighbors import KNN_MODES


@click.command(
    "clustering",
    help="Clustering as cz-benchmarks computes it: the representation's kNN graph (k = 15, UMAP "
    "connectivities, exactly as scanpy.pp.neighbors; exact search at every size unless --knn), Leiden (igraph, "
    "modularity, 2 iterations, resolution 1, --seed), then adjusted_rand_index and "
    "normalized_mutual_info of the clusters against the obs column --label-key (params {}). With "
    "--resolution-sweep, Leiden also runs at resolutions 0.1..2.0 and NMI and ARI at the resolution of "
    "best NMI are added with params {\"resolution\": \"best\"}. Reads the dataset and its representation "
    "(--obsm-key/--layer/X, or --embedding); writes one result JSON (task clustering).\n\n"
    "Example: cellbench clustering --input pbmc.h5ad --obsm-key X_pca --label-key bulk_labels "
    "--output clustering.json",
)
@dataset_options
@representation_options
@click.option("--label-key", required=True, help="obs column with the ground-truth labels (e.g. cell type).")
@click.option("--resolution-sweep", is_flag=True,
              help="Also report the best NMI (and ARI there) over Leiden resolutions 0.1..2.0.")
@click.option("--knn", "knn_mode", type=click.Choice(KNN_MODES), default=None,
              help="The graph's neighbour search from 8192 cells on (below, exact as scanpy). exact: exact, "
              "deterministic. scanpy: the reference's own graph (scanpy.pp.neighbors, pynndescent seeded with "
              "--seed), so ARI/NMI are the reference's to the bit; approximate and slower. ivf: seeded faiss "
              "inverted file, for atlases. auto: ivf from 200,000 cells. Recorded in params.knn. "
              "[default: $CELLBENCH_KNN, else exact]")
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, resolution_sweep,
            knn_mode, output, seed, threads, n_boot, stopwatch):
    import logging

    from cellbench.cli._embedding_tasks import require_cells, require_distinct
    from cellbench.cli._options import TaskInputs, limit_threads
    from cellbench.io.results import make_result, write_result
    from cellbench.neighbors import SCANPY_EXACT_LIMIT, resolve_backend
    from cellbench.tasks.clustering import (
        N_ITERATIONS,
        N_NEIGHBORS,
        RESOLUTION,
        SWEEP_RESOLUTIONS,
        run_clustering,
    )

    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = data.labels(label_key)
    require_distinct(labels, 2, f"{input_path}: obs column '{label_key}'")
    require_cells(len(labels), 3, input_path, "a kNN graph needs neighbours")
    try:
        search = resolve_backend("exact", len(labels), knn_mode) if len(labels) >= SCANPY_EXACT_LIMIT else "exact"
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--knn / CELLBENCH_KNN") from None
    with limit_threads(threads):
        outcome = run_clustering(data.X, labels, seed=seed, resolution_sweep=resolution_sweep, knn=search)
    logging.getLogger("cellbench").info("%s: %d Leiden clusters", input_path, outcome.n_clusters)
    params = {
        "label_key": label_key,
        "n_neighbors": N_NEIGHBORS,
        "resolution": RESOLUTION,
        "n_iterations": N_ITERATIONS,
        "n_clusters": outcome.n_clusters,
        "knn": search,
    }
    if resolution_sweep:
        params["resolution_sweep"] = {
            "resolutions": list(SWEEP_RESOLUTIONS),
            "selected_by": "normalized_mutual_info",
            "best_resolution": outcome.best_resolution,
            "runs": outcome.sweep,
        }
    result = make_result(
        task="clustering",
        dataset=data.dataset,
        model=data.model,
        seed=seed,
        params=params,
        metrics=outcome.metrics,
        inputs=data.inputs,
        n_cells=len(labels),
        stopwatch=stopwatch,
    )
    write_result(result, output)
