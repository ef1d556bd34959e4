"""`cellbench integration`: batch mixing of a representation (entropy per cell, batch silhouette)."""

import click

from cellbench.cli._options import (
    dataset_options,
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
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, batch_key, n_neighbors,
            max_cells, output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._embedding_tasks import require_distinct
    from cellbench.cli._options import TaskInputs, limit_threads
    from cellbench.io.results import make_result, write_result
    from cellbench.tasks.integration import integration_metrics

    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = data.labels(label_key)
    batch = data.labels(batch_key)
    require_distinct(batch, 2, f"{input_path}: obs column '{batch_key}'", what="batches")
    with limit_threads(threads):
        metrics = integration_metrics(data.X, labels, batch, k=n_neighbors, seed=seed, n_boot=n_boot,
                                      max_cells=max_cells)
    result = make_result(
        task="integration",
        dataset=data.dataset,
        model=data.model,
        seed=seed,
        params={"label_key": label_key, "batch_key": batch_key, "n_neighbors": int(min(n_neighbors, len(labels))),
                **({"max_cells": max_cells} if max_cells else {})},
        metrics=metrics,
        inputs=data.inputs,
        n_cells=len(labels),
        stopwatch=stopwatch,
    )
    write_result(result, output)
