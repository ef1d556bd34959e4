"""`cellbench sequential`: how well a representation keeps cells ordered along time labels."""

import click

from cellbench.cli._options import dataset_options, representation_options, run_options, task_command


@click.command(
    "sequential",
    help="Sequential organisation as cz-benchmarks computes it: silhouette_score with the time labels, and "
    "sequential_alignment = 1 - D / B (clipped to [0, 1]) where D is the mean |time difference| between "
    "each cell and its --k exact nearest neighbours and B the same for random cells (seeded with --seed). "
    "Time labels (obs column --time-key) must be numeric, an ordered categorical, or follow the order "
    "given with --time-order. Both metrics carry a bootstrap interval over their per-cell values "
    "(silhouette widths; time distances d_i with B fixed; --n-boot). Reads the dataset and its representation (--obsm-key/--layer/X, or "
    "--embedding); writes one result JSON (task sequential).\n\n"
    "Example: cellbench sequential --input hsmm.h5ad --obsm-key X_pca --time-key time_hours "
    "--output sequential.json",
)
@dataset_options
@representation_options
@click.option("--time-key", required=True, help="obs column with the time labels (numeric or ordered).")
@click.option("--time-order", default=None,
              help="Comma-separated order of non-numeric time labels, e.g. 'day0,day3,day7'.")
@click.option("--k", "k", default=15, show_default=True, type=click.IntRange(min=1),
              help="Neighbours per cell for sequential_alignment.")
@click.option("--adaptive-k", is_flag=True, help="Per-cell k from local density (the reference's adaptive_k).")
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, time_key, time_order, k, adaptive_k,
            output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.io.results import write_task_result
    from cellbench.io.task_inputs import TaskInputs
    from cellbench.tasks.sequential import sequential_task

    order = [x.strip() for x in time_order.split(",") if x.strip()] if time_order else None
    data = TaskInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    column = data.column(time_key)
    with limit_threads(threads):
        outcome = sequential_task(data.X, column, time_key=time_key, source=input_path, time_order=order, k=k,
                                  adaptive_k=adaptive_k, seed=seed, n_boot=n_boot)
    write_task_result(output, outcome, task="sequential", dataset=data.dataset, model=data.model, seed=seed,
                      inputs=data.inputs, stopwatch=stopwatch, model_provenance=data.model_provenance)
