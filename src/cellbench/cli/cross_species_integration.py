"""`cellbench cross-species-integration`: batch mixing of per-species embeddings, species as the batch."""

import click

from cellbench.cli._options import run_options, task_command
from cellbench.cli._species import species_options


@click.command(
    "cross-species-integration",
    help="Cross-species integration as cz-benchmarks computes it: the per-species representations (one "
    "model, each species embedded on its own) are stacked in --input order with the species name as the "
    "batch, and scored with entropy_per_cell (batch = species; k = min(200, cells) exact neighbours) and "
    "batch_silhouette (label = the --label-key cell type, batch = species); both are 1 when species mix "
    "perfectly. Inputs: two or more species, each a dataset .h5ad with the label column and its "
    "representation (--obsm-key/--layer in the same file, or one --embedding per species aligned by "
    "cell id), paired by position with --species. Writes one result JSON (task "
    "cross_species_integration).\n\n"
    "Example: cellbench cross-species-integration --input human.h5ad --input mouse.h5ad --species human "
    "--species mouse --embedding human_uce.h5ad --embedding mouse_uce.h5ad --label-key cell_type "
    "--output cross_species_integration.json",
)
@species_options
@click.option("--n-neighbors", default=200, show_default=True, type=click.IntRange(min=1),
              help="Neighbours per cell for entropy_per_cell (capped at the number of cells).")
@run_options
@task_command
def command(inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name,
            n_neighbors, output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.cli._species import SpeciesSpec
    from cellbench.io.results import write_task_result
    from cellbench.io.species import species_provenance
    from cellbench.tasks.cross_species_integration import (
        check_species_count,
        cross_species_integration_outcome,
    )

    spec = SpeciesSpec(inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name)
    check_species_count(spec.inputs, spec.species)
    loaded = spec.load(list(range(len(spec.inputs))))
    with limit_threads(threads):
        outcome = cross_species_integration_outcome(loaded, k=n_neighbors, seed=seed, n_boot=n_boot)
    write_task_result(
        output, outcome, task="cross_species_integration", dataset=spec.dataset, model=spec.model, seed=seed,
        inputs=[r for d in loaded for r in d.inputs], stopwatch=stopwatch,
        model_provenance=species_provenance(loaded),
    )
