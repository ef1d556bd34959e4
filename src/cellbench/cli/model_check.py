"""`cellbench model-check`: a container model's raw output checked against the contract (cellbench.models.contract)."""

import click

from cellbench.cli._options import seed_option


@click.command(
    "model-check",
    help="Check the raw output of a model run in its container against the contract and write it in the "
    "runners' format. The raw .h5ad (--embedding) must have obs_names = the dataset's cell ids (any order, "
    "each once, all of them, no others) and obsm['X_emb'] (numeric, finite, cells x d with d >= 1); anything "
    "else is one Error line naming the model, the dataset and the file. Writes (atomically) the embedding "
    "in the dataset's cell order as obsm['X_emb'] (float32), an empty X, and the provenance record in "
    "uns['cellbench_model']: runner 'container', --image, --image-digest, the sha256 of --weights (a file, "
    "or a folder: of its sorted relative path / sha256 list), --seed, --command.\n\n"
    "Example: cellbench model-check --input pbmc.h5ad --embedding raw.h5ad --model scgpt --image "
    "ghcr.io/me/scgpt:1.0 --seed 42 --output pbmc.scgpt.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad) the model read: its cell ids and their order.")
@click.option("--embedding", required=True, type=click.Path(dir_okay=False),
              help="The model's raw output (.h5ad with obsm['X_emb']).")
@click.option("--model", "model", required=True, help="The model's name (the models samplesheet's).")
@click.option("--dataset-name", default=None, help="Name of the dataset [default: the input file's stem].")
@click.option("--image", default="", help="The container image the model ran in.")
@click.option("--image-digest", default="", help="The image's digest (sha256:...), when known.")
@click.option("--weights", default=None, type=click.Path(), help="The model's weights (file or folder), hashed.")
@seed_option("The seed the model ran with (recorded).", default=None)
@click.option("--command", "command_text", default="", help="The command the container ran (recorded).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The checked embedding .h5ad to write (obsm['X_emb']).")
def command(input_path, embedding, model, dataset_name, image, image_digest, weights, seed, command_text, output):
    import logging
    from pathlib import Path

    from cellbench.io.model_output import dataset_cell_ids, read_raw_output, write_model_output
    from cellbench.io.provenance import weights_sha256
    from cellbench.io.task_inputs import default_dataset_name
    from cellbench.models.contract import container_output

    dataset = default_dataset_name(input_path, dataset_name)
    cell_ids = dataset_cell_ids(input_path)
    raw_ids, emb = read_raw_output(embedding, model=model, dataset=dataset)
    result = container_output(raw_ids, emb, cell_ids, model=model, dataset=dataset, where=embedding, seed=seed,
                              image=image, image_digest=image_digest,
                              weights_sha256=weights_sha256(weights) if weights else "",
                              weights_name=Path(weights).name if weights else "", command=command_text)
    write_model_output(output, cell_ids, result.embedding, result.record)
    logging.getLogger("cellbench").info("model %s on %s: %d cells x %d checked -> %s", model, dataset,
                                        *result.embedding.shape, output)
