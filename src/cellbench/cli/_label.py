"""Glue shared by the label prediction commands (label-split, label-fold, label-merge, label-prediction).

Imported inside command bodies only. Loads a dataset and its features without densifying or
up-casting them (see cellbench.io.label_data), and builds the params every label prediction result
carries, so the merged per-fold result and the all-in-one result agree field for field.
"""

from __future__ import annotations

from cellbench.cli._options import default_dataset_name, default_model_name


class LabelInputs:
    """Dataset + features (stored precision, sparse kept) + input-file records + names."""

    def __init__(self, input_path, dataset_name, embedding, obsm_key, layer, model_name):
        from cellbench.io.dataset import read_h5ad
        from cellbench.io.extract import source_inputs
        from cellbench.io.label_data import load_features
        from cellbench.io.representation import RepresentationSpec

        self.path = input_path
        self.adata = read_h5ad(input_path)
        self.X = load_features(self.adata, input_path, RepresentationSpec(embedding, obsm_key, layer))
        self.dataset = default_dataset_name(input_path, dataset_name)
        self.model = default_model_name(embedding, obsm_key, layer, model_name)
        self.inputs = source_inputs(self.adata, input_path, embedding)


def result_params(*, label_key, min_class_size, n_folds, classifiers, n_classes, n_cells_used, **extra) -> dict:
    """The settings recorded in every label prediction result (fold results add classifier, fold)."""
    from cellbench.tasks.label_prediction import CLASSIFIERS

    params = {
        "label_key": label_key,
        "min_class_size": int(min_class_size) if min_class_size is not None else None,
        "n_folds": int(n_folds),
        "classifiers": [c for c in CLASSIFIERS if c in classifiers],
        "n_classes": int(n_classes),
        "n_cells_used": int(n_cells_used),
    }
    params.update(extra)
    return params


def parse_classifiers(value: str) -> list[str]:
    """'lr,knn,rf' -> ['lr', 'knn', 'rf'] in the reference's order; unknown names are a usage error."""
    import click

    from cellbench.tasks.label_prediction import CLASSIFIERS

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(CLASSIFIERS)} (comma-separated); got '{value}'")
    return [c for c in CLASSIFIERS if c in names]
