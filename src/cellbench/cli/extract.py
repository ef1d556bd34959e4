"""`cellbench extract`: the compact input of the tasks of one dataset x representation (cellbench.io.extract)."""

import click

from cellbench.cli._options import representation_options


@click.command(
    "extract",
    help="Write a compact .h5ad with only what the tasks of one dataset x representation read: the cell "
    "ids, the obs columns given by --obs-key, and the representation (--embedding aligned by cell id, "
    "--obsm-key, --layer, or X) as X in its stored dtype. Task commands read it with --input and no "
    "representation option and give the same results as from the originals; the result files name "
    "the original files as their inputs (uns['cellbench_extract'] records them). The pipeline stages "
    "this file, not the whole dataset, into each clustering, embedding, integration and fold task.\n\n"
    "Example: cellbench extract --input pbmc.h5ad --obsm-key X_scGPT --obs-key cell_type --obs-key donor "
    "--output pbmc__scGPT.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad).")
@representation_options
@click.option("--obs-key", "obs_keys", multiple=True, help="obs column to keep (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The extract .h5ad to write (atomically).")
def command(input_path, embedding, obsm_key, layer, model_name, obs_keys, output):
    import logging

    from cellbench.io.extract import write_extract
    from cellbench.io.representation import RepresentationSpec

    info = write_extract(input_path, RepresentationSpec(file=embedding, obsm_key=obsm_key, layer=layer),
                         obs_keys, output)
    logging.getLogger("cellbench").info(
        "extract of %s (%s): %d cells x %d, obs %s -> %s", input_path, info["representation"], info["n_cells"],
        info["n_dims"], ",".join(info["obs_keys"]) or "none", output)
