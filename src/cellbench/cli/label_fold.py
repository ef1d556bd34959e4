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
    import numpy as np

    from cellbench.cli._label import LabelInputs
    from cellbench.cli._options import limit_threads
    from cellbench.errors import InputError
    from cellbench.io.label_data import read_folds
    from cellbench.io.results import input_file, make_result, write_result
    from cellbench.tasks.label_prediction import class_codes, score_fold

    ids, labels, folds, meta = read_folds(folds_path)
    # read_folds checked the header's numbers and that every fold is below its n_folds
    n_folds = int(meta["n_folds"]) if "n_folds" in meta else int(folds.max()) + 1
    if fold >= n_folds:
        raise InputError(f"{folds_path}: --fold {fold} out of range (folds 0..{n_folds - 1})")
    if "seed" in meta and meta["seed"] != str(seed):
        raise InputError(f"{folds_path}: folds were made with seed {meta['seed']}, but --seed is {seed}")
    data = LabelInputs(input_path, dataset_name, embedding, obsm_key, layer, model_name)
    rows = data.adata.obs_names.get_indexer(ids)
    if (rows < 0).any():
        missing = np.flatnonzero(rows < 0)
        raise InputError(
            f"{folds_path}: {missing.size} cell id(s) in column 'cell_id' are not in {input_path}, "
            f"first '{ids[missing[0]]}'"
        )
    label_key = meta.get("label_key")
    if label_key and label_key in data.adata.obs.columns:
        stored = data.adata.obs[label_key].astype(str).to_numpy()[rows]
        differ = np.flatnonzero(stored != labels)
        if differ.size:
            raise InputError(
                f"{folds_path}: label of cell '{ids[differ[0]]}' is '{labels[differ[0]]}' but {input_path} "
                f"obs column '{label_key}' says '{stored[differ[0]]}'"
            )
    with limit_threads(threads):
        metrics = score_fold(data.X[rows], labels, folds, fold, classifier, seed, threads)
    min_class_size = meta.get("min_class_size")
    params = {
        "classifier": classifier,
        "fold": fold,
        "label_key": label_key,
        "min_class_size": int(min_class_size) if min_class_size else None,
        "n_folds": n_folds,
        "n_classes": len(class_codes(labels)[0]),
        "n_cells_used": len(ids),
    }
    result = make_result(
        task="label_prediction_fold",
        dataset=data.dataset,
        model=data.model,
        seed=seed,
        params=params,
        metrics=metrics,
        inputs=data.inputs + [input_file("folds", folds_path)],
        n_cells=data.adata.n_obs,
        stopwatch=stopwatch,
    )
    write_result(result, output)
