"""`cellbench perturbation`: score predicted expression under perturbation against the prepared truth."""

import click

from cellbench.cli._options import n_boot_option, seed_option


@click.command(
    "perturbation",
    help="Score a model's predicted expression (or a baseline) per perturbation condition against the file "
    "written by `cellbench perturbation-prepare`: spearman_correlation_calculation (true DE logfoldchange "
    "vs the predicted effect, ratio or difference of predicted treated and control means, on the sampled "
    "DE genes; as cz-benchmarks; params say which effect was used), mean_squared_error and pearson_delta "
    "(top 20 DE genes and all genes), jaccard of predicted vs true DE genes, one result per condition and "
    "their mean (condition MEAN, with a bootstrap interval over the conditions, --n-boot). --prediction is an .h5ad of predicted expression (X or --layer) with "
    "obs_names = the dataset's cell ids (all treated cells of the scored conditions; their matched control "
    "cells too, or none of them to compare with the observed controls) and var_names = gene ids "
    "(any order, every dataset gene present); MSE and Pearson delta expect log1p(counts per 10,000). "
    "--baseline no_change|other_mean scores a baseline instead. --condition restricts to some conditions "
    "(for fan-out). Writes one result JSON (task perturbation).\n\n"
    "Example: cellbench perturbation --prepared prepared.h5ad --prediction scgenept.h5ad "
    "--model-name scGenePT --output perturbation_scgenept.json",
)
@click.option("--prepared", required=True, type=click.Path(dir_okay=False),
              help="The .h5ad written by `cellbench perturbation-prepare`.")
@click.option("--prediction", default=None, type=click.Path(dir_okay=False),
              help="Predicted expression (.h5ad, cells x genes, aligned by cell and gene ids).")
@click.option("--baseline", type=click.Choice(["no_change", "other_mean"]), default=None,
              help="Score a baseline instead of --prediction: the matched control mean, or the mean of the "
              "other conditions' observed means.")
@click.option("--layer", default=None, help="Take the prediction from this layer instead of X.")
@click.option("--condition", "conditions", multiple=True, help="Score only this condition (repeatable).")
@click.option("--effect", type=click.Choice(["ratio", "difference"]), default="ratio", show_default=True,
              help="Predicted effect for the Spearman metric (ratio falls back to difference where a mean is <= 0).")
@click.option("--top-n", default=20, show_default=True, type=click.IntRange(min=1),
              help="Number of top DE genes for the top-N MSE and Pearson delta.")
@click.option("--model-name", default=None, help="Name in results [default: the prediction's stem, or the baseline].")
@click.option("--dataset-name", default=None, help="Name of the dataset in results [default: as prepared].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Result JSON to write (atomically).")
@seed_option("Must equal the prepare seed if given (nothing here is random) [default: the prepare seed].",
             default=None)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="Threads for BLAS.")
@n_boot_option
def command(prepared, prediction, baseline, layer, conditions, effect, top_n, model_name, dataset_name, output,
            seed, threads, n_boot):
    from pathlib import Path

    from cellbench.cli._options import limit_threads
    from cellbench.io.perturbation import load_prediction, read_prepared
    from cellbench.io.provenance import read_model_record
    from cellbench.io.results import Stopwatch, input_file, write_task_result
    from cellbench.tasks.perturbation import check_request, score_perturbation

    stopwatch = Stopwatch()
    if (prediction is None) == (baseline is None):
        raise click.UsageError("give exactly one of --prediction or --baseline")
    if baseline is not None and layer is not None:
        raise click.UsageError("--layer applies to --prediction only")
    truth, meta = read_prepared(prepared)
    chosen = check_request(truth, seed=seed, conditions=conditions, baseline=baseline, source=str(prepared))
    inputs = [input_file("prepared", prepared)]
    with limit_threads(threads):
        predicted = None
        if prediction is not None:
            matrix, cell_ids, _ = load_prediction(prediction, truth.genes, layer)
            inputs.append(input_file("prediction", prediction))
            predicted = (matrix, cell_ids, str(prediction))
        outcome = score_perturbation(
            truth, prediction=predicted, baseline=baseline, conditions=chosen, effect=effect, top_n=top_n,
            n_boot=n_boot, prediction_layer=layer,
        )
    write_task_result(
        output, outcome, task="perturbation",
        dataset=dataset_name or str(meta.get("dataset", Path(prepared).stem)),
        model=model_name or (baseline if baseline else Path(prediction).name.removesuffix(".h5ad")),
        seed=truth.settings.seed, inputs=inputs, stopwatch=stopwatch,
        model_provenance=read_model_record(prediction) if prediction is not None else None,
    )
