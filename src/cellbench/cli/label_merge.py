"""`cellbench label-merge`: gather the per-fold results into the 20 mean_fold_* metrics."""

import click

from cellbench.cli._options import n_boot_option, threads_option


@click.command(
    "label-merge",
    help="Merge the per-fold results of `cellbench label-fold` (one JSON per fold x classifier) into the "
    "label prediction result: the 20 mean_fold_* metrics (accuracy, f1, precision, recall, auroc; the "
    "mean over all fold x classifier rows first, then per classifier), the same numbers as "
    "`cellbench label-prediction` gives in one process. Every fold of every --classifiers must be "
    "there once, all from the same dataset, model, seed and folds file. Each mean carries a bootstrap "
    "interval over the folds (--n-boot; each fold resampled whole, seeded with the results' seed).\n\n"
    "Example: cellbench label-merge --output label_prediction.json results/lr_*.json results/knn_*.json "
    "results/rf_*.json",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Merged result JSON to write (written atomically).")
@click.option("--classifiers", default="lr,knn,rf", show_default=True,
              help="Classifiers whose folds must all be present (comma-separated).")
@n_boot_option
@threads_option
@click.argument("fold_results", nargs=-1, required=True, type=click.Path(dir_okay=False))
def command(output, classifiers, n_boot, threads, fold_results):
    from cellbench.cli._label import parse_classifiers
    from cellbench.cli._options import limit_threads
    from cellbench.io.results import Stopwatch, read_result, write_task_result
    from cellbench.tasks.label_folds import merge_fold_results

    stopwatch = Stopwatch()
    wanted = parse_classifiers(classifiers)
    results = [(path, read_result(path)) for path in fold_results]
    with limit_threads(threads):
        outcome = merge_fold_results(results, wanted, n_boot=n_boot)
    first = results[0][1]
    write_task_result(
        output, outcome, task="label_prediction", dataset=first.dataset, model=first.model, seed=first.seed,
        # the same in every fold result (checked)
        inputs=sorted(first.inputs, key=lambda f: (f.role, f.name)), stopwatch=stopwatch,
        model_provenance=first.model_provenance,  # the folds read the same representation (inputs checked)
    )
