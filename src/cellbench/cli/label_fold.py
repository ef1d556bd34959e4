"""`cellbench label-fold`: one classifier on one CV fold, the unit of work of label prediction."""

import click

from cellbench.cli._options import dataset_options, representation_options, run_options, task_command


@click.command(
    "label-fold",
    help="Train one classifier (--classifier lr, knn or rf, configured as in cz-benchmarks) on every fold "
    "but --fold of a folds TSV from `cellbench label-split`, and score it on --fold: accuracy, f1, "
    "precision, recall (binary for 2 classes, else macro) and AUROC. Reads the dataset and its "
    "representation (obsm key, layer, X, or a separate --embedding file; sparse X is fine); writes one "
    "result JSON (task label_prediction_fold) for `cellbench label-merge`.\n\n"
    "Example: cellbench label-fold --input pbmc.h5ad --obsm-key X_pca --folds folds.tsv --fold 0 "
    "--classifier lr --output lr_0.json",
)
@dataset_options
@representation_options
@click.option("--folds", "folds_path", required=True, type=click.Path(dir_okay=False),
              help="Folds TSV written by `cellbench label-split`.")
@click.option("--fold", required=True, type=click.IntRange(min=0), help="The test fold (0-based).")
@click.option("--classifier", required=True, type=click.Choice(["lr", "knn", "rf"]), help="Classifier to train.")
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, folds_path, fold, classifier,
            output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._options import limit_threads
    from cellbench.io.label_data import LabelInputs, read_folds
    from cellbench.io.results import input_file, write_task_result
    from cellbench.tasks.label_folds import check_fold_choice, label_fold_outcome

    ids, labels, folds, meta = read_folds(folds_path)
    n_folds = check_fold_choice(folds_path, meta, folds, fold, seed)
    data = LabelInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    rows = data.fold_rows(folds_path, ids, labels, meta.get("label_key"))
    with limit_threads(threads):
        outcome = label_fold_outcome(
            data.X[rows], labels, folds, fold, classifier, meta=meta, n_folds=n_folds, n_cells=data.adata.n_obs,
            seed=seed, threads=threads,
        )
    write_task_result(
        output, outcome, task="label_prediction_fold", dataset=data.dataset, model=data.model, seed=seed,
        inputs=data.inputs + [input_file("folds", folds_path)], stopwatch=stopwatch,
        model_provenance=data.model_provenance,
    )
