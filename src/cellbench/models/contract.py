"""The container contract's output check: a model's raw output, validated and put in the dataset's order.

A model image writes raw.h5ad: obs_names = the dataset's cell ids (any order, all of them, no others)
and obsm["X_emb"] (numeric, finite, cells x d with d >= 1). What a model gets wrong there (lost or
invented cells, repeated ids, NaN, a 1-d or empty embedding, no X_emb at all) would otherwise surface
later as a task error far from its cause, or worse as a plausible score; here it is one line naming
the model, the dataset and the file. The built-in runners' embeddings go through `check_embedding` too.
"""

from __future__ import annotations

import numpy as np

from cellbench.errors import InputError
from cellbench.schema import MODEL_EMBEDDING_KEY as EMB_KEY


def model_error(model: str, dataset: str, where, problem: str) -> InputError:
    """The one-line error of a bad model output: model, dataset, file, what is wrong."""
    return InputError(f"model '{model}' on dataset '{dataset}': {where}: {problem}")


def check_embedding(emb, n_cells: int, *, model: str, dataset: str, where, cell_ids=None) -> np.ndarray:
    """`emb` as a float32 (n_cells, d) array, d >= 1, every value finite; else `model_error`."""
    import scipy.sparse as sp

    def fail(problem):
        return model_error(model, dataset, where, problem)

    if emb is None:
        raise fail(f"no obsm['{EMB_KEY}'] (the contract: obsm['{EMB_KEY}'] holds the embedding, cells x dimensions)")
    if sp.issparse(emb):
        emb = emb.toarray()
    arr = np.asarray(emb.to_numpy() if hasattr(emb, "to_numpy") else emb)
    if arr.dtype.kind not in "iuf":
        raise fail(f"obsm['{EMB_KEY}'] is not numeric (dtype {arr.dtype})")
    if arr.ndim != 2 or arr.shape[0] != n_cells:
        raise fail(f"obsm['{EMB_KEY}'] has shape {arr.shape}; the contract is ({n_cells} cells, dimensions)")
    if arr.shape[1] < 1:
        raise fail(f"obsm['{EMB_KEY}'] has 0 columns ({n_cells} cells x 0)")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        cell = f" (cell '{cell_ids[row]}')" if cell_ids is not None else ""
        raise fail(f"obsm['{EMB_KEY}'] has {int(bad.sum())} NaN/inf value(s) (or beyond float32), "
                   f"first in row {row}{cell}")
    return out


def dataset_order(raw_ids, dataset_ids, *, model: str, dataset: str, where) -> np.ndarray:
    """Row of the raw output for each dataset cell; the raw ids must be the dataset's ids as a set."""
    import pandas as pd

    raw = pd.Index(np.asarray(raw_ids).astype(str))
    ids = pd.Index(np.asarray(dataset_ids).astype(str))
    if not raw.is_unique:
        dup = raw[raw.duplicated()]
        raise model_error(model, dataset, where, f"cell id '{dup[0]}' appears more than once "
                          f"({len(dup)} repeated row(s)); the contract is one row per dataset cell")
    rows = raw.get_indexer(ids)
    missing = np.flatnonzero(rows < 0)
    extra = np.flatnonzero(~raw.isin(ids))
    problems = []
    if missing.size:
        problems.append(f"{missing.size} of the dataset's {len(ids)} cells are missing from the output, "
                        f"first '{ids[missing[0]]}'")
    if extra.size:
        problems.append(f"{extra.size} cell id(s) in the output are not in the dataset, first '{raw[extra[0]]}'")
    if problems:
        raise model_error(model, dataset, where, "; ".join(problems))
    return rows


def align_output(raw_ids, emb, dataset_ids, *, model: str, dataset: str, where) -> np.ndarray:
    """A container's raw output checked against the contract, as float32 rows in the dataset's cell order."""
    rows = dataset_order(raw_ids, dataset_ids, model=model, dataset=dataset, where=where)
    checked = check_embedding(emb, len(np.asarray(raw_ids)), model=model, dataset=dataset, where=where,
                              cell_ids=np.asarray(raw_ids).astype(str))
    return np.ascontiguousarray(checked[rows])


def container_output(raw_ids, emb, dataset_ids, *, model: str, dataset: str, where, seed, image: str,
                     image_digest: str, weights_sha256: str, weights_name: str, command: str):
    """The checked, aligned embedding of a container model and its provenance record (runner 'container')."""
    from cellbench.models.provenance import ModelOutput, model_record
    from cellbench.versions import package_versions

    aligned = align_output(raw_ids, emb, dataset_ids, model=model, dataset=dataset, where=where)
    params = {"command": command, "weights": weights_name, "n_dims": int(aligned.shape[1])}
    record = model_record(runner="container", model=model, dataset=dataset, seed=seed, params=params,
                          packages=package_versions(("cellbench",)), image=image, image_digest=image_digest,
                          weights_sha256=weights_sha256)
    return ModelOutput(aligned, record)
