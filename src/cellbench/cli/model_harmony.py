"""`cellbench model-harmony`: the built-in harmony runner (cellbench.models.harmony) on one dataset."""

import click

from cellbench.cli._options import seed_option


@click.command(
    "model-harmony",
    help="Run harmony on a dataset and write its embedding for the tasks' --embedding. From the raw counts "
    "(X, or --counts-layer): the PCA baseline exactly as `cellbench baseline --method pca` computes it "
    "(normalize_total, log1p, 3000 highly variable genes, --n-pcs components, arpack seeded with --seed), "
    "then harmonypy run_harmony on those PCs with the obs column --batch-key (random_state --seed). The same "
    "inputs and seed give the same bytes. Writes an .h5ad (atomically) with the dataset's cell ids in its "
    "order, obsm['X_emb'] (float32, cells x PCs), an empty X and the provenance record in "
    "uns['cellbench_model'] (runner, versions, seed, params), which tasks copy into their results.\n\n"
    "Example: cellbench model-harmony --input tests/data/baron2016_pancreas_human.h5ad --batch-key donor "
    "--output baron.harmony.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad) with raw counts in X or --counts-layer and the --batch-key column.")
@click.option("--batch-key", required=True, help="obs column with the batches harmony corrects for (donor, sample).")
@click.option("--counts-layer", default=None, help="Layer with the raw counts [default: X].")
@click.option("--n-pcs", default=50, show_default=True, type=click.IntRange(min=1),
              help="Principal components of the PCA harmony corrects.")
@seed_option("Seed of the PCA (arpack) and of harmony's k-means.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="Threads for BLAS and harmony (the embedding is the same at any count).")
@click.option("--model-name", default="harmony", show_default=True, help="Name of the model in the record.")
@click.option("--dataset-name", default=None, help="Name of the dataset in the record [default: the input file's stem].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The embedding .h5ad to write (obsm['X_emb']).")
def command(input_path, batch_key, counts_layer, n_pcs, seed, threads, model_name, dataset_name, output):
    import logging

    from cellbench.cli._options import limit_threads
    from cellbench.io.model_output import RunnerInputs, write_model_output
    from cellbench.models.harmony import run_harmony_model

    data = RunnerInputs(input_path, counts_layer, batch_key, dataset_name)
    with limit_threads(threads):
        result = run_harmony_model(data.adata, data.counts, data.batch, where=data.where, batch_key=batch_key,
                                   counts_layer=counts_layer, n_pcs=n_pcs, seed=seed, threads=threads,
                                   model=model_name, dataset=data.dataset)
    write_model_output(output, data.cell_ids, result.embedding, result.record)
    logging.getLogger("cellbench").info("%s: harmony embedding %d cells x %d -> %s", input_path,
                                        *result.embedding.shape, output)
