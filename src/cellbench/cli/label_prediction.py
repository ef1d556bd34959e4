"""`cellbench label-prediction`: all folds and classifiers of label prediction in one process."""

import click

from cellbench.cli._options import dataset_options, representation_options, run_options, task_command


@click.command(
    "label-prediction",
    help="Label prediction as cz-benchmarks computes it, in one process: drop classes with fewer than "
    "--min-class-size cells, split the rest into --n-folds stratified folds, train each of --classifiers "
    "(lr, knn, rf) on all folds but one and score it on that one, and report the 20 mean_fold_* metrics "
    "(accuracy, f1, precision, recall, auroc; over all rows, then per classifier). Reads the dataset's "
    "obs column --label-key and its representation (obsm key, layer, X, or --embedding; a sparse counts "
    "X is the raw-expression baseline); writes one result JSON (task label_prediction). The same "
    "numbers as label-split + label-fold + label-merge.\n\n"
    "Example: cellbench label-prediction --input pbmc.h5ad --obsm-key X_pca --label-key bulk_labels "
    "--output label_prediction.json",
)
@dataset_options
@representation_options
@click.option("--label-key", required=True, help="obs column with the labels to predict.")
@click.option("--classifiers", default="lr,knn,rf", show_default=True,
              help="Comma-separated classifiers among lr, knn, rf.")
@click.option("--n-folds", default=5, show_default=True, type=click.IntRange(min=2), help="Number of CV folds.")
@click.option("--min-class-size", default=10, show_default=True, type=click.IntRange(min=1),
              help="Drop classes with fewer cells than this.")
@run_options
@task_command
def command(input_path, dataset_name, embedding, obsm_key, layer, model_name, label_key, classifiers, n_folds,
            min_class_size, output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._label import parse_classifiers
    from cellbench.cli._options import limit_threads
    from cellbench.io.label_data import LabelInputs
    from cellbench.io.results import write_task_result
    from cellbench.tasks.label_prediction import label_prediction_outcome

    wanted = parse_classifiers(classifiers)
    data = LabelInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = data.labels(label_key)
    with limit_threads(threads):
        outcome = label_prediction_outcome(
            data.X, labels, label_key=label_key, where=f"{input_path}: obs column '{label_key}'", classifiers=wanted,
            n_folds=n_folds, min_class_size=min_class_size, seed=seed, threads=threads, n_boot=n_boot,
        )
    write_task_result(
        output, outcome, task="label_prediction", dataset=data.dataset, model=data.model, seed=seed,
        inputs=data.inputs, stopwatch=stopwatch, model_provenance=data.model_provenance,
    )
