"""`cellbench run`: a whole small benchmark of one dataset in one process, without Nextflow.

It calls the same click commands the pipeline's processes run (baseline, clustering, embedding,
integration, sequential, label-prediction, then report) in this process, so its result files are
the same bytes as the pipeline's (apart from wall time), and adds no science of its own.
"""

import click

from cellbench.cli._options import N_BOOT, N_BOOT_TEXT, device_option, max_cells_option, seeds_option
from cellbench.memory import release_freed_memory
from cellbench.neighbors import KNN_MODES
from cellbench.tasks.registry import RUN_TASKS, TASKS


def _split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _named_embedding(value: str) -> tuple[str, str]:
    """NAME=PATH, or PATH (named by the file's stem)."""
    from pathlib import Path

    if "=" in value:
        name, path = value.split("=", 1)
        return name, path
    return Path(value).stem, value


@click.command(
    "run",
    help="Run a whole small benchmark of one dataset in this process: the PCA baseline (from raw counts), "
    "then every task the given obs columns allow, for every representation (each --obsm-key, each "
    "--embedding, and the baselines) and every seed: clustering and embedding (--label-key), integration "
    "(--label-key and --batch-key), label prediction (--label-key; the raw expression is its baseline, "
    "not the PCA), sequential (--time-key). Writes OUTDIR/results/<dataset>__<model>__<task>__s<S>.json and "
    "OUTDIR/prepared/baselines/<dataset>.pca.h5ad (the same files as the pipeline), OUTDIR/report/ "
    "(aggregate.tsv/.parquet, comparison.tsv, plots, MultiQC report), and prints "
    "a summary table of the headline metrics on stdout. Progress goes to stderr.\n\n"
    "--runner harmony|scvi (repeatable) first runs that built-in model on the dataset (`cellbench "
    "model-harmony` / `model-scvi`, with --counts-layer, --batch-key and the first seed) into "
    "OUTDIR/prepared/models/<dataset>.<runner>.h5ad, then scores it like an --embedding named after the "
    "runner; harmony needs --batch-key, scvi needs scvi-tools.\n\n"
    "The summary and the report cover only the results of this invocation: a result file of the same name "
    "already in OUTDIR is replaced, any other is left alone and not reported. Dataset and representation "
    "names become file names, so they must be a letter or digit followed by letters, digits, '_', '.', "
    "'+' or '-' (no '__'); give NAME=PATH or --dataset-name to rename.\n\n"
    "Example: cellbench run --input tests/data/pbmc68k_reduced.h5ad --label-key bulk_labels --batch-key phase "
    "--obsm-key X_pca --obsm-key X_umap --counts-layer counts --outdir demo_results",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="The dataset (.h5ad) with obs columns and, for the baselines, raw counts.")
@click.option("--dataset-name", default=None, help="Name of the dataset in results [default: file stem].")
@click.option("--obsm-key", "obsm_keys", multiple=True, help="A representation stored in obsm (repeatable).")
@click.option("--embedding", "embeddings", multiple=True,
              help="A separate representation file, NAME=PATH or PATH (.h5ad by cell id, or .npy); repeatable.")
@click.option("--runner", "runners", multiple=True, type=click.Choice(["harmony", "scvi"]),
              help="Run this built-in model first and score its embedding (repeatable).")
@click.option("--label-key", default=None, help="obs column with cell-type labels.")
@click.option("--batch-key", default=None, help="obs column with batches (integration task).")
@click.option("--time-key", default=None, help="obs column with time points (sequential task).")
@click.option("--time-order", default=None, help="Comma-separated order of non-numeric time labels.")
@click.option("--counts-layer", default=None,
              help="Layer with raw counts for the baselines [default: X when it holds counts].")
@click.option("--baselines/--no-baselines", default=True, show_default=True,
              help="Score the PCA and raw-expression baselines beside the representations.")
@click.option("--tasks", "tasks_csv", default=None, help=f"Comma-separated subset of {','.join(RUN_TASKS)}.")
@seeds_option
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="Threads for BLAS and rf.")
@click.option("--n-boot", default=1000, show_default=True, type=N_BOOT,
              help=f"Bootstrap resamples of the intervals the tasks store with their metrics (0: none). {N_BOOT_TEXT}")
@max_cells_option
@click.option("--knn", "knn_mode", type=click.Choice(KNN_MODES, case_sensitive=False), envvar="CELLBENCH_KNN",
              default=None, help="The clustering graph's neighbour search from 8192 cells on (as `cellbench "
              "clustering --knn`). [default: $CELLBENCH_KNN, else exact]")
@device_option
@click.option("--report/--no-report", default=True, show_default=True, help="Build the report at the end.")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.pass_context
def command(ctx, input_path, dataset_name, obsm_keys, embeddings, runners, label_key, batch_key, time_key, time_order,
            counts_layer, baselines, tasks_csv, seeds, threads, n_boot, max_cells, knn_mode, device, report,
            outdir):
    import logging
    import time
    from pathlib import Path

    from cellbench.cli import LazyGroup
    from cellbench.io.names import check_name, inside
    from cellbench.io.task_inputs import default_dataset_name

    log = logging.getLogger("cellbench")
    group = LazyGroup()
    outdir = Path(outdir)
    dataset = check_name(default_dataset_name(input_path, dataset_name), "dataset name")
    seed_list = list(seeds)  # checked by --seeds' type: 0..2**32-1, none twice
    columns = {"label_key": label_key, "batch_key": batch_key, "time_key": time_key}
    wanted = _wanted_tasks(tasks_csv, columns)
    _check_runners(runners, batch_key)
    reps, counts = _representations(input_path, obsm_keys, embeddings, baselines, counts_layer, runners)

    def invoke(name: str, **kwargs):
        # click fills in the defaults of the options not given, as on the command line
        ctx.invoke(group.get_command(ctx, name), **kwargs)

    reps += _run_models(invoke, runners, input_path=input_path, dataset=dataset, outdir=outdir,
                        counts_layer=counts_layer, batch_key=batch_key, seed=seed_list[0], threads=threads)
    baseline_reps: set[str] = set()
    if counts is not None:
        pca_path = inside(outdir, "prepared", "baselines", f"{dataset}.pca.h5ad")  # the pipeline's names
        log.info("baseline: PCA of %s", input_path)
        invoke("baseline", input_path=input_path, method="pca", layer=counts["layer"], seed=seed_list[0],
               threads=threads, output=str(pca_path))
        reps.append(("pca", {"embedding": str(pca_path), "obsm_key": "X_pca"}))
        baseline_reps.add("pca")

    forwarded = {**columns, "max_cells": max_cells, "time_order": time_order, "knn_mode": knn_mode,
                 "device": device}
    units = _units(wanted, reps, baseline_reps, counts, seed_list)
    written = []
    for i, (task, model, opts, seed) in enumerate(units, 1):
        out = inside(outdir, "results", f"{dataset}__{model}__{task}__s{seed}.json")  # the pipeline's names
        start = time.perf_counter()
        spec = TASKS[task]
        invoke(spec.command, input_path=input_path, dataset_name=dataset, model_name=model, seed=seed,
               threads=threads, n_boot=n_boot, output=str(out),
               **opts, **{k: forwarded[k] for k in spec.obs_columns + spec.options})
        log.info("[%d/%d] %s %s seed %d: %.1f s", i, len(units), task, model, seed, time.perf_counter() - start)
        written.append(out)
        release_freed_memory()  # one process, many units: peak RSS follows the largest unit, not their sum

    _print_summary(written)
    if report:
        # this invocation's results only, not whatever else an earlier run left in OUTDIR/results
        invoke("report", results=tuple(map(str, written)), outdir=str(inside(outdir, "report")))
    click.echo(f"results: {outdir / 'results'}" + (f"; report: {outdir / 'report'}" if report else ""), err=True)


def _wanted_tasks(tasks_csv: str | None, columns: dict[str, str | None]) -> list[str]:
    """The tasks asked for (default: every one the given obs columns allow), checked."""
    # which tasks the given columns allow (TASKS' required columns), and which the user asked for
    possible = {t: all(columns[c] is not None for c in TASKS[t].required) for t in RUN_TASKS}
    wanted = _split_csv(tasks_csv) or [t for t, ok in possible.items() if ok]
    for t in wanted:
        if t not in possible:
            raise click.BadParameter(f"unknown task '{t}' (choose from {', '.join(possible)})", param_hint="--tasks")
        if not possible[t]:
            raise click.BadParameter(f"task '{t}' needs more obs columns (see --help)", param_hint="--tasks")
    if not wanted:
        raise click.UsageError("no task to run: give at least --label-key or --time-key")
    return wanted


def _check_runners(runners, batch_key) -> None:
    """The --runner choices can run (checked before any work): harmony has a batch key, scvi is installed."""
    if "harmony" in runners and batch_key is None:
        raise click.UsageError("--runner harmony needs --batch-key (the obs column harmony corrects for)")
    if "scvi" in runners:
        from cellbench.models.scvi import require_scvi

        require_scvi()


def _run_models(invoke, runners, *, input_path, dataset, outdir, counts_layer, batch_key, seed, threads):
    """Run each --runner (`cellbench model-<runner>`) into OUTDIR/prepared/models/; its (name, options) reps."""
    import logging

    from cellbench.io.names import inside
    from cellbench.schema import MODEL_EMBEDDING_KEY

    reps = []
    for runner in dict.fromkeys(runners):
        path = inside(outdir, "prepared", "models", f"{dataset}.{runner}.h5ad")
        logging.getLogger("cellbench").info("model: %s on %s", runner, input_path)
        invoke(f"model-{runner}", input_path=input_path, batch_key=batch_key, counts_layer=counts_layer, seed=seed,
               threads=threads, model_name=runner, dataset_name=dataset, output=str(path))
        reps.append((runner, {"embedding": str(path), "obsm_key": MODEL_EMBEDDING_KEY}))
    return reps


def _representations(input_path, obsm_keys, embeddings, baselines: bool, counts_layer, runners=()):
    """([(model name, command options)], {"layer": counts layer} or None when no baselines).

    Checked up front, so typos fail before any work.
    """
    import logging

    from cellbench.io.dataset import layer_or_x, read_h5ad

    adata = read_h5ad(input_path)
    reps: list[tuple[str, dict]] = [(key, {"obsm_key": key}) for key in obsm_keys]
    for value in embeddings:
        name, path = _named_embedding(value)
        reps.append((name, {"embedding": path}))
    counts = None
    if baselines:
        from cellbench.baselines import looks_like_counts

        counts_matrix = layer_or_x(adata, counts_layer, input_path)
        if counts_layer is not None or looks_like_counts(counts_matrix):
            counts = {"layer": counts_layer}
        else:
            logging.getLogger("cellbench").warning(
                "%s: X does not hold raw counts and no --counts-layer given: baselines skipped", input_path)
    if not reps and not runners and counts is None:
        raise click.UsageError("no representation: give --obsm-key, --embedding or --runner, or raw counts for "
                               "the baselines")
    _check_model_names([name for name, _ in reps] + list(dict.fromkeys(runners)),
                       baseline_names=("pca", "raw_expression") if counts else ())
    return reps, counts


def _units(wanted, reps, baseline_reps, counts, seed_list) -> list[tuple[str, str, dict, int]]:
    """(task, model, command options, seed) of every result to write, in the order they are run."""
    # as the pipeline does (TASKS.md): the PCA baseline is not scored on label prediction, whose
    # baseline is the raw expression itself
    units = [(task, model, opts, seed) for seed in seed_list for task in wanted for model, opts in reps
             if not (model in baseline_reps and task == "label_prediction")]
    if counts is not None and "label_prediction" in wanted:
        units += [("label_prediction", "raw_expression", {"layer": counts["layer"]}, seed) for seed in seed_list]
    return units


def _check_model_names(names: list[str], baseline_names) -> None:
    """Every representation name can name files, and names one representation only."""
    from cellbench.errors import InputError
    from cellbench.io.names import check_name

    seen = set(baseline_names)
    for name in names:
        check_name(name, "representation name")
        if name in seen:
            what = "a baseline's name" if name in baseline_names else "given twice"
            raise InputError(f"representation name '{name}' is {what}: rename it with --embedding NAME=PATH")
        seen.add(name)


def _print_summary(paths) -> None:
    """Headline metrics (params {} or the MEAN classifier row) as a model x metric table on stdout."""
    from collections import defaultdict

    from cellbench.io.results import read_result

    values = defaultdict(list)
    seeds = set()
    for path in paths:
        result = read_result(path)
        seeds.add(result.seed)
        for m in result.metrics:
            headline = not m.params or str(m.params.get("classifier", "")).startswith("MEAN")
            if headline and m.value is not None:
                values[(result.model, m.metric_type)].append(m.value)
    models = sorted({k[0] for k in values})
    metrics = sorted({k[1] for k in values})
    width = max([len(m) for m in metrics] + [6])
    click.echo(f"headline metrics, mean over {len(seeds)} seed(s)")
    click.echo(" " * width + "".join(f"{m:>16}" for m in models))
    for metric in metrics:
        cells = []
        for model in models:
            v = values.get((model, metric))
            cells.append(f"{sum(v) / len(v):>16.4f}" if v else f"{'-':>16}")
        click.echo(f"{metric:<{width}}" + "".join(cells))
