"""`cellbench clustering`: Leiden clusters of a representation against labels (ARI, NMI)."""

import click

from cellbench.cli._options import (
    dataset_options,
    device_option,
    representation_options,
    run_options,
    task_command,
)
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
@click.option("--knn", "knn_mode", type=click.Choice(KNN_MODES, case_sensitive=False), default=None,
              envvar="CELLBENCH_KNN",
              help="The graph's neighbour search from 8192 cells on (below, exact as scanpy). exact: exact, "
              "deterministic. scanpy: the reference's own graph (scanpy.pp.neighbors, pynndescent seeded with "
              "--seed), so ARI/NMI are the reference's to the bit; approximate and slower. ivf: seeded faiss "
              "inverted file, for atlases. auto: ivf from 200,000 cells. Recorded in params.knn. "
              "[default: $CELLBENCH_KNN, else exact]")
@device_option
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, resolution_sweep,
            knn_mode, output, seed, threads, n_boot, device, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.device import using
    from cellbench.io.results import write_task_result
    from cellbench.io.task_inputs import TaskInputs
    from cellbench.neighbors import resolve_backend
    from cellbench.tasks.clustering import clustering_task

    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = data.labels(label_key)
    # the graph's search: --knn, else $CELLBENCH_KNN (click reads it), else exact
    backend = resolve_backend("exact", len(labels), knn_mode or "exact")
    with limit_threads(threads), using(device):
        outcome = clustering_task(data.X, labels, label_key=label_key, source=input_path, seed=seed,
                                  resolution_sweep=resolution_sweep, knn=backend)
    write_task_result(output, outcome, task="clustering", dataset=data.dataset, model=data.model, seed=seed,
                      inputs=data.inputs, stopwatch=stopwatch, model_provenance=data.model_provenance, device=device)
