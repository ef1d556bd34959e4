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
    import numpy as np

    from cellbench.cli._label import LabelInputs, parse_classifiers, result_params
    from cellbench.cli._options import limit_threads
    from cellbench.io.dataset import labels_as_strings, obs_column
    from cellbench.io.results import make_result, write_result
    from cellbench.tasks.label_prediction import check_labels, run_label_prediction

    wanted = parse_classifiers(classifiers)
    data = LabelInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    labels = labels_as_strings(obs_column(data.adata, label_key, input_path), input_path)
    keep = check_labels(labels, min_class_size, where=f"{input_path}: obs column '{label_key}'", n_folds=n_folds)
    with limit_threads(threads):
        metrics = run_label_prediction(
            data.X, labels, classifiers=wanted, n_folds=n_folds, min_class_size=min_class_size, seed=seed,
            threads=threads, n_boot=n_boot,
        )
    params = result_params(
        label_key=label_key, min_class_size=min_class_size, n_folds=n_folds, classifiers=wanted,
        n_classes=len(np.unique(labels[keep])), n_cells_used=int(keep.sum()),
    )
    result = make_result(
        task="label_prediction",
        dataset=data.dataset,
        model=data.model,
        seed=seed,
        params=params,
        metrics=metrics,
        inputs=data.inputs,
        n_cells=data.adata.n_obs,
        stopwatch=stopwatch,
    )
    write_result(result, output)
