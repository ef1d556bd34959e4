"""`cellbench model-scvi`: the built-in scVI runner (cellbench.models.scvi) on one dataset."""

import click

from cellbench.cli._options import seed_option


@click.command(
    "model-scvi",
    help="Train scVI (scvi-tools) on a dataset's raw counts (X, or --counts-layer), with the obs column "
    "--batch-key as its batch when given, and write the latent mean (--n-latent dimensions) for the tasks' "
    "--embedding. Seeded with --seed (scvi.settings.seed) and deterministic: on CPU the same inputs and "
    "seed give the same bytes. --device auto uses a CUDA GPU when torch sees one. Needs scvi-tools "
    "(pip install 'cellbench[scvi]', or the cellbench-scvi image). Writes an .h5ad (atomically) with the "
    "dataset's cell ids in its order, obsm['X_emb'] (float32), an empty X and the provenance record in "
    "uns['cellbench_model'] (runner, scvi-tools/torch/lightning versions, seed, params, device).\n\n"
    "Example: cellbench model-scvi --input tests/data/pbmc68k_reduced.h5ad --counts-layer counts "
    "--batch-key phase --max-epochs 20 --output pbmc.scvi.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad) with raw counts in X or --counts-layer.")
@click.option("--batch-key", default=None, help="obs column with the batches scVI models [default: none].")
@click.option("--counts-layer", default=None, help="Layer with the raw counts [default: X].")
@click.option("--n-latent", default=10, show_default=True, type=click.IntRange(min=1),
              help="Dimensions of the latent space.")
@click.option("--max-epochs", default=50, show_default=True, type=click.IntRange(min=1), help="Training epochs.")
@seed_option("Seed of python, numpy and torch (scvi.settings.seed) and the train/validation split.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to train: auto takes a CUDA GPU when there is one.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch and BLAS threads.")
@click.option("--model-name", default="scvi", show_default=True, help="Name of the model in the record.")
@click.option("--dataset-name", default=None, help="Name of the dataset in the record [default: the input file's stem].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The embedding .h5ad to write (obsm['X_emb']).")
def command(input_path, batch_key, counts_layer, n_latent, max_epochs, seed, device, threads, model_name,
            dataset_name, output):
    import logging

    from cellbench.cli._options import limit_threads
    from cellbench.io.model_output import RunnerInputs, write_model_output
    from cellbench.models.scvi import require_scvi, run_scvi_model

    require_scvi()  # before reading anything
    data = RunnerInputs(input_path, counts_layer, batch_key, dataset_name)
    with limit_threads(threads):
        result = run_scvi_model(data.counts, data.cell_ids, data.batch, batch_key=batch_key, counts_layer=counts_layer,
                                n_latent=n_latent, max_epochs=max_epochs, seed=seed, device=device, threads=threads,
                                model=model_name, dataset=data.dataset)
    write_model_output(output, data.cell_ids, result.embedding, result.record)
    logging.getLogger("cellbench").info("%s: scVI embedding %d cells x %d (%s) -> %s", input_path,
                                        *result.embedding.shape, result.record["device"], output)
