"""`cellbench embedding`: silhouette score of a representation with respect to labels."""

import click

from cellbench.cli._options import (
    dataset_options,
    device_option,
    max_cells_option,
    representation_options,
    run_options,
    task_command,
)


@click.command(
    "embedding",
    help="Embedding quality as cz-benchmarks computes it: silhouette_score = mean silhouette width of the "
    "representation with respect to the obs column --label-key, euclidean, rescaled to [0, 1] as "
    "(ASW + 1) / 2 (scib-metrics silhouette_label; exact distances in tiles, no n x n matrix), with a bootstrap interval over the per-cell widths (--n-boot). "
    "Reads the dataset and its representation (--obsm-key/--layer/X, or --embedding); writes one result "
    "JSON (task embedding).\n\n"
    "Example: cellbench embedding --input pbmc.h5ad --obsm-key X_pca --label-key bulk_labels "
    "--output embedding.json",
)
@dataset_options
@representation_options
@click.option("--label-key", required=True, help="obs column with the ground-truth labels (e.g. cell type).")
@max_cells_option
@device_option
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, max_cells, output, seed,
            threads, n_boot, device, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.device import using
    from cellbench.io.results import write_task_result
    from cellbench.io.task_inputs import TaskInputs
    from cellbench.tasks.embedding import embedding_task

    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = data.labels(label_key)
    with limit_threads(threads), using(device):
        outcome = embedding_task(data.X, labels, label_key=label_key, source=input_path, seed=seed, n_boot=n_boot,
                                 max_cells=max_cells)
    write_task_result(output, outcome, task="embedding", dataset=data.dataset, model=data.model, seed=seed,
                      inputs=data.inputs, stopwatch=stopwatch, model_provenance=data.model_provenance, device=device)
