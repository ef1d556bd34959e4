"""`cellbench integration`: batch mixing of a representation (entropy per cell, batch silhouette)."""

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
    "integration",
    help="Batch integration as cz-benchmarks computes it: entropy_per_cell = mean normalised entropy of "
    "the --batch-key values among each cell's k = min(--n-neighbors, cells) exact nearest neighbours "
    "(itself included), and batch_silhouette = scib-metrics silhouette_batch (within each --label-key "
    "group, 1 - |silhouette with respect to batch|, averaged over cells, then groups). Both are 1 when "
    "batches mix perfectly; each carries a bootstrap interval over its per-cell values (--n-boot). "
    "Reads the dataset and its representation (--obsm-key/--layer/X, or --embedding); writes one "
    "result JSON (task integration).\n\n"
    "Example: cellbench integration --input pbmc.h5ad --obsm-key X_pca --label-key bulk_labels "
    "--batch-key phase --output integration.json",
)
@dataset_options
@representation_options
@click.option("--label-key", required=True, help="obs column with the cell-type labels.")
@click.option("--batch-key", required=True, help="obs column with the batches (sample, donor, technology).")
@click.option("--n-neighbors", default=200, show_default=True, type=click.IntRange(min=1),
              help="Neighbours per cell for entropy_per_cell (capped at the number of cells).")
@max_cells_option
@device_option
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, batch_key, n_neighbors,
            max_cells, output, seed, threads, n_boot, device, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.device import using
    from cellbench.io.results import write_task_result
    from cellbench.io.task_inputs import TaskInputs
    from cellbench.tasks.integration import integration_task

    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels, batch = data.labels(label_key), data.labels(batch_key)
    with limit_threads(threads), using(device):
        outcome = integration_task(data.X, labels, batch, label_key=label_key, batch_key=batch_key,
                                   source=input_path, k=n_neighbors, seed=seed, n_boot=n_boot, max_cells=max_cells)
    write_task_result(output, outcome, task="integration", dataset=data.dataset, model=data.model, seed=seed,
                      inputs=data.inputs, stopwatch=stopwatch, model_provenance=data.model_provenance, device=device)
