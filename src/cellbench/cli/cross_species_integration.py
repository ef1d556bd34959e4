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
    from cellbench.cli._species import SpeciesSpec, check_same_width
    from cellbench.errors import InputError
    from cellbench.io.results import make_result, write_result
    from cellbench.tasks.cross_species_integration import cross_species_integration

    spec = SpeciesSpec(inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name)
    if len(spec.inputs) < 2:
        raise InputError(
            f"{spec.inputs[0]}: cross-species integration needs at least 2 species (--input/--species pairs), "
            f"got 1 ('{spec.species[0]}')"
        )
    indices = list(range(len(spec.inputs)))
    loaded = [spec.load(i) for i in indices]
    datas = [d for d, _, _ in loaded]
    check_same_width(spec, indices, datas)
    with limit_threads(threads):
        metrics = cross_species_integration(
            [d.X for d in datas], [d.labels for d in datas], [d.name for d in datas], k=n_neighbors, seed=seed,
            n_boot=n_boot,
        )
    params = {
        "species": spec.species,
        "label_key": dict(zip(spec.species, spec.label_keys)),
        "n_neighbors": int(n_neighbors),
        "n_cells_per_species": {d.name: int(d.X.shape[0]) for d in datas},
    }
    result = make_result(
        task="cross_species_integration",
        dataset=spec.dataset,
        model=spec.model,
        seed=seed,
        params=params,
        metrics=metrics,
        inputs=[r for _, _, recs in loaded for r in recs],
        n_cells=int(sum(d.X.shape[0] for d in datas)),
        stopwatch=stopwatch,
    )
    write_result(result, output)
