"""`cellbench label-split`: drop small classes and assign stratified CV folds (the fan-out's first step)."""

import click

from cellbench.cli._options import dataset_options, seed_option


@click.command(
    "label-split",
    help="Drop classes with fewer than --min-class-size cells and assign every kept cell a test fold "
    "(StratifiedKFold with shuffle and --seed on the sorted label strings, as cz-benchmarks does). "
    "Reads the dataset's obs column --label-key; writes a TSV (cell_id, label, fold; first line a "
    "'# cellbench label-split' comment recording the settings) that `cellbench label-fold` reads.\n\n"
    "Example: cellbench label-split --input pbmc.h5ad --label-key bulk_labels --seed 42 --output folds.tsv",
)
@dataset_options
@click.option("--label-key", required=True, help="obs column with the labels to predict.")
@click.option("--min-class-size", default=10, show_default=True, type=click.IntRange(min=1),
              help="Drop classes with fewer cells than this.")
@click.option("--n-folds", default=5, show_default=True, type=click.IntRange(min=2), help="Number of CV folds.")
@seed_option("Seed of the fold shuffle.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Folds TSV to write (written atomically).")
def command(input_path, dataset_name, label_key, min_class_size, n_folds, seed, output):
    import logging

    import numpy as np

    from cellbench.cli._options import default_dataset_name
    from cellbench.io.dataset import labels_as_strings, obs_column, read_h5ad
    from cellbench.io.label_data import write_folds
    from cellbench.tasks.label_prediction import assign_folds, check_labels

    adata = read_h5ad(input_path)
    labels = labels_as_strings(obs_column(adata, label_key, input_path), input_path)
    keep = check_labels(labels, min_class_size, where=f"{input_path}: obs column '{label_key}'", n_folds=n_folds)
    kept_labels = labels[keep]
    counts = np.unique(kept_labels, return_counts=True)[1]
    if counts.min() < n_folds:
        logging.getLogger("cellbench").warning(
            "%s: a class has %d cells, fewer than --n-folds %d: some folds will lack it", input_path,
            counts.min(), n_folds,
        )
    folds = assign_folds(kept_labels, n_folds, seed)
    dataset = default_dataset_name(input_path, dataset_name)
    meta = {"dataset": dataset, "label_key": label_key, "min_class_size": min_class_size,
            "n_folds": n_folds, "seed": seed}
    write_folds(output, np.asarray(adata.obs_names)[keep], kept_labels, folds, meta)
    logging.getLogger("cellbench").info(
        "%s: %d of %d cells in %d classes kept, %d folds -> %s", input_path, int(keep.sum()), len(labels),
        len(counts), n_folds, output,
    )
