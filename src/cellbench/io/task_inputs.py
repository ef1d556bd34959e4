"""Loading one task's inputs from the shared command options: the dataset, its representation, names.

The commands' shared options (`--input`, `--embedding`/`--obsm-key`/`--layer`, `--dataset-name`,
`--model-name`) become a TaskInputs here, in the io layer, so commands only parse options.
"""

from __future__ import annotations

from pathlib import Path


def default_dataset_name(input_path: str, dataset_name: str | None) -> str:
    """`--dataset-name`, else the input file's name without `.h5ad`."""
    return dataset_name or Path(input_path).name.removesuffix(".h5ad")


def default_model_name(embedding: str | None, obsm_key: str | None, layer: str | None, model_name: str | None) -> str:
    """`--model-name`, else the representation's key (obsm key, layer, embedding file stem, or X)."""
    if model_name:
        return model_name
    if obsm_key:
        return obsm_key
    if layer:
        return layer
    if embedding:
        return Path(embedding).stem
    return "X"


class TaskInputs:
    """A dataset, its representation, the input-file records and the representation's model record
    (`model_provenance`, or None), loaded from the shared options."""

    def __init__(self, input_path, dataset_name, embedding, obsm_key, layer, model_name, dtype=None):
        import numpy as np

        from cellbench.io.dataset import read_h5ad
        from cellbench.io.provenance import model_provenance, source_inputs
        from cellbench.io.representation import RepresentationSpec, load_representation

        self.path = input_path
        self.adata = read_h5ad(input_path)
        self.spec = RepresentationSpec(file=embedding, obsm_key=obsm_key, layer=layer)
        self.X = load_representation(self.adata, input_path, self.spec, dtype=dtype or np.float64)
        self.dataset = default_dataset_name(input_path, dataset_name)
        self.model = default_model_name(embedding, obsm_key, layer, model_name)
        self.inputs = source_inputs(self.adata, input_path, embedding)
        self.model_provenance = model_provenance(self.adata, embedding)

    def column(self, key: str):
        from cellbench.io.dataset import obs_column

        return obs_column(self.adata, key, self.path)

    def labels(self, key: str):
        """The obs column as strings (TASKS.md compares labels as strings)."""
        from cellbench.io.dataset import labels_as_strings

        return labels_as_strings(self.column(key), self.path)
