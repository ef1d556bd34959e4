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

    from cellbench.io.label_data import read_labels, write_folds
    from cellbench.io.task_inputs import default_dataset_name
    from cellbench.tasks.label_folds import split_labels

    ids, labels = read_labels(input_path, label_key)
    keep, folds = split_labels(labels, min_class_size=min_class_size, n_folds=n_folds, seed=seed, path=input_path,
                               label_key=label_key)
    meta = {"dataset": default_dataset_name(input_path, dataset_name), "label_key": label_key,
            "min_class_size": min_class_size, "n_folds": n_folds, "seed": seed}
    write_folds(output, ids[keep], labels[keep], folds, meta)
    logging.getLogger("cellbench").info(
        "%s: %d of %d cells in %d classes kept, %d folds -> %s", input_path, int(keep.sum()), len(labels),
        len(set(labels[keep])), n_folds, output,
    )
