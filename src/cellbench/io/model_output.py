"""Files of the model runners: their inputs (counts, batches) and their output .h5ad, and a container's raw output.

The output of `cellbench model-harmony`, `model-scvi` and `model-check` is what the tasks read as an
--embedding: an .h5ad whose obs_names are the dataset's cell ids in the dataset's order, obsm["X_emb"]
(float32, cells x d), an empty X (cells x 0) and the provenance record in uns["cellbench_model"]. It is
written atomically (cellbench.io.atomic), so a killed runner leaves no half file for a task to read.
"""

from __future__ import annotations

import os

import numpy as np

from cellbench.errors import InputError
from cellbench.schema import MODEL_EMBEDDING_KEY as EMB_KEY
from cellbench.schema import MODEL_PROVENANCE_KEY


class RunnerInputs:
    """A dataset read for a runner: its cells, raw counts (X or `counts_layer`), batch labels and name."""

    def __init__(self, input_path, counts_layer: str | None, batch_key: str | None, dataset_name: str | None):
        from cellbench.io.dataset import labels_as_strings, layer_or_x, obs_column, read_h5ad
        from cellbench.io.task_inputs import default_dataset_name

        self.path = input_path
        self.adata = read_h5ad(input_path)
        self.counts = layer_or_x(self.adata, counts_layer, input_path)
        self.where = f"{input_path}:{'layers[' + counts_layer + ']' if counts_layer else 'X'}"
        self.batch = (None if batch_key is None
                      else labels_as_strings(obs_column(self.adata, batch_key, input_path), input_path))
        self.dataset = default_dataset_name(input_path, dataset_name)
        self.cell_ids = np.asarray(self.adata.obs_names).astype(str)


def dataset_cell_ids(input_path) -> np.ndarray:
    """The dataset's cell ids in its order (the expression matrix is not loaded)."""
    from cellbench.io.dataset import read_h5ad

    adata = read_h5ad(input_path, backed=True)
    try:
        return np.asarray(adata.obs_names).astype(str)
    finally:
        adata.file.close()


def read_raw_output(path, *, model: str, dataset: str):
    """(cell ids, obsm["X_emb"] or None) of a container's raw output; an unreadable file is one line
    naming the model and the dataset."""
    from cellbench.io.dataset import read_h5ad

    try:
        adata = read_h5ad(path)
    except InputError as exc:
        raise InputError(f"model '{model}' on dataset '{dataset}': {exc}") from None
    emb = adata.obsm.get(EMB_KEY, None)
    return np.asarray(adata.obs_names).astype(str), emb


def write_model_output(path: str | os.PathLike, cell_ids, embedding: np.ndarray, record: dict) -> None:
    """Write the runner output .h5ad atomically: obs_names `cell_ids`, obsm["X_emb"], uns record, X empty."""
    import anndata as ad
    import pandas as pd

    from cellbench.io.atomic import atomic_path

    ids = pd.Index(np.asarray(cell_ids).astype(str))
    emb = np.ascontiguousarray(embedding, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise ValueError(f"embedding of shape {emb.shape} for {len(ids)} cells")
    out = ad.AnnData(X=np.zeros((len(ids), 0), dtype=np.float32), obs=pd.DataFrame(index=ids),
                     obsm={EMB_KEY: emb})
    out.uns[MODEL_PROVENANCE_KEY] = record
    with atomic_path(path) as tmp:
        out.write_h5ad(tmp)
