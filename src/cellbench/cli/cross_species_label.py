"""`cellbench cross-species-label`: one (train species, test species) pair of cross-species label prediction."""

import click

from cellbench.cli._options import run_options, task_command
from cellbench.cli._species import species_options


@click.command(
    "cross-species-label",
    help="Cross-species label prediction for one ordered pair, as cz-benchmarks computes it: with "
    "--train-species equal to --test-species, 5-fold stratified cross-validation within that species "
    "(grouped by sample id when --sample-key is given; classes with fewer cells or samples than folds are "
    "dropped and listed in params) giving mean_fold_accuracy/f1/precision/recall/auroc; with two "
    "different species, classifiers fitted on all of the train species score all of the test species "
    "(accuracy, f1, precision, recall, auroc; labels unseen in training count as wrong). Classifiers: lr "
    "(centred scaler, max_iter 1000), knn (5), rf (100 trees); results first as the mean over them "
    "(classifier MEAN(lr,knn,rf)), then per classifier. Inputs: per species a dataset .h5ad with the "
    "label column (and optional sample-id column) and its representation (--obsm-key/--layer in the same "
    "file, or one --embedding file per species aligned by cell id), paired by position with --species; "
    "only the two species of the pair are read, so the pipeline may pass all species to every pair. "
    "With sample ids, cells are averaged per sample first (--aggregation). Writes one result JSON "
    "(task cross_species_label).\n\n"
    "Example: cellbench cross-species-label --input human.h5ad --input mouse.h5ad --species human "
    "--species mouse --embedding human_uce.h5ad --embedding mouse_uce.h5ad --label-key cell_type "
    "--train-species human --test-species mouse --output human_to_mouse.json",
)
@species_options
@click.option("--train-species", required=True, help="Species the classifiers are fitted on (one of --species).")
@click.option("--test-species", required=True, help="Species they are scored on (the same one: cross-validation).")
@click.option(
    "--aggregation",
    type=click.Choice(["auto", "none", "mean", "median"]),
    default="auto",
    show_default=True,
    help="Average cells per sample id before classifying; auto = mean when --sample-key is given, else none.",
)
@click.option("--n-folds", default=5, show_default=True, type=click.IntRange(min=2), help="Folds within a species.")
@click.option("--classifiers", default="lr,knn,rf", show_default=True, help="Comma-separated among lr, knn, rf.")
@run_options
@task_command
def command(inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name,
            train_species, test_species, aggregation, n_folds, classifiers, output, seed, threads, n_boot, stopwatch):
    from cellbench.cli._label import parse_classifiers
    from cellbench.cli._options import limit_threads
    from cellbench.cli._species import SpeciesSpec, check_sample_ids, naming_species_files
    from cellbench.io.results import write_task_result
    from cellbench.io.species import species_provenance
    from cellbench.tasks.cross_species_label import species_pair_outcome

    wanted = parse_classifiers(classifiers, param_hint="--classifiers")
    spec = SpeciesSpec(inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name)
    i_train = spec.index(train_species, "--train-species")
    i_test = spec.index(test_species, "--test-species")
    loaded = spec.load([i_train] if i_train == i_test else [i_train, i_test])
    check_sample_ids(loaded, aggregation)
    with naming_species_files(loaded), limit_threads(threads):
        outcome = species_pair_outcome(
            loaded[0], loaded[-1], aggregation=aggregation, n_folds=n_folds, seed=seed, classifiers=wanted,
            threads=threads, n_boot=n_boot,
        )
    write_task_result(
        output, outcome, task="cross_species_label", dataset=spec.dataset, model=spec.model, seed=seed,
        inputs=[r for d in loaded for r in d.inputs], stopwatch=stopwatch,
        model_provenance=species_provenance(loaded),
    )
