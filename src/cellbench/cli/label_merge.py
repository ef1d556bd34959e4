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
    from cellbench.cli._label import parse_classifiers, result_params
    from cellbench.cli._options import limit_threads
    from cellbench.errors import InputError
    from cellbench.io.results import Stopwatch, make_result, read_result, write_result
    from cellbench.tasks.label_prediction import merge_folds

    stopwatch = Stopwatch()
    wanted = parse_classifiers(classifiers)
    results = [(path, read_result(path)) for path in fold_results]
    first_path, first = results[0]
    same = ("dataset", "model", "seed")
    same_params = ("label_key", "min_class_size", "n_folds", "n_classes", "n_cells_used")

    def files(res):
        return sorted((f.role, f.name, f.sha256) for f in res.inputs)

    seen: dict[tuple[str, int], str] = {}
    for path, res in results:
        if res.task != "label_prediction_fold":
            raise InputError(f"{path}: task is '{res.task}', not a label_prediction_fold result")
        for field in same:
            if getattr(res, field) != getattr(first, field):
                raise InputError(
                    f"{path}: {field} '{getattr(res, field)}' differs from '{getattr(first, field)}' in {first_path}"
                )
        for key in same_params:
            if res.params.get(key) != first.params.get(key):
                raise InputError(
                    f"{path}: params.{key} {res.params.get(key)!r} differs from {first.params.get(key)!r} in {first_path}"
                )
        if files(res) != files(first):
            raise InputError(f"{path}: made from other input files (dataset, representation or folds) than {first_path}")
        key = (res.params.get("classifier"), res.params.get("fold"))
        if key in seen:
            raise InputError(f"{path}: classifier {key[0]} fold {key[1]} also in {seen[key]}")
        seen[key] = path
    n_folds = int(first.params["n_folds"])
    for clf, fold in sorted(seen):
        if clf not in wanted:
            raise InputError(f"{seen[(clf, fold)]}: classifier {clf} not in --classifiers {','.join(wanted)}")
    for clf in wanted:
        for fold in range(n_folds):
            if (clf, fold) not in seen:
                raise InputError(f"missing the result of classifier {clf} fold {fold} (of {n_folds} folds)")
    with limit_threads(threads):
        metrics = merge_folds((m for _, res in results for m in res.metrics), seed=first.seed, n_boot=n_boot)
    p = first.params
    params = result_params(
        label_key=p.get("label_key"), min_class_size=p.get("min_class_size"), n_folds=n_folds,
        classifiers=wanted, n_classes=p["n_classes"], n_cells_used=p["n_cells_used"],
    )
    inputs = sorted(first.inputs, key=lambda f: (f.role, f.name))  # same in every fold result (checked)
    result = make_result(
        task="label_prediction",
        dataset=first.dataset,
        model=first.model,
        seed=first.seed,
        params=params,
        metrics=metrics,
        inputs=inputs,
        n_cells=first.n_cells,
        stopwatch=stopwatch,
    )
    write_result(result, output)
