"""Compact per-task inputs: one dataset's obs columns and one representation, in a small .h5ad.

Why: a tissue of an atlas is a multi-GB .h5ad, and on a cluster or AWS Batch every task stages its
inputs. Label prediction alone is 15 tasks per representation (5 folds x 3 classifiers), so staging
the tissue into each would move it 15 times per model. `cellbench extract` writes, once per dataset x
representation, an .h5ad holding only what the tasks read: the cell ids, the obs columns the tasks
name, and the representation as X (in its stored dtype; sparse stays sparse; an embedding file
aligned to the dataset's cells by id). Tasks read it with no representation option, like a dataset
whose X is the representation, and give the same numbers to the bit.

Provenance: uns['cellbench_extract'] records the source files (base name and sha256) and the
representation that was picked; `source_inputs` reports those records as the task's inputs, so a
result read from an extract names the same inputs as one read from the originals. The model record
of the representation (uns['cellbench_model'] of a runner's or model-check's output) is copied as is.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np

from cellbench.io.provenance import UNS_KEY, model_provenance, source_inputs
from cellbench.schema import MODEL_PROVENANCE_KEY


def write_extract(dataset_path, spec, obs_keys, output) -> dict:
    """Write the extract of `spec` (a RepresentationSpec) and `obs_keys` of `dataset_path` to `output`."""
    import anndata as ad
    import pandas as pd

    from cellbench.io.atomic import atomic_path
    from cellbench.io.dataset import obs_column, read_h5ad
    from cellbench.io.label_data import load_features

    adata = read_h5ad(dataset_path)
    keys = list(dict.fromkeys(k for k in obs_keys if k))
    obs = pd.DataFrame({k: obs_column(adata, k, dataset_path) for k in keys}, index=adata.obs_names.copy())
    matrix = load_features(adata, dataset_path, spec)
    var_names = (adata.var_names.copy() if spec.file is None and spec.obsm_key is None
                 else pd.Index([str(i) for i in range(matrix.shape[1])]))
    # an extract of an extract still names the original files
    records = source_inputs(adata, dataset_path, spec.file)
    info = {
        "inputs": [r.model_dump() for r in records],
        # base names only, as in result files (work directories differ between runs)
        "representation": replace(spec, file=os.path.basename(spec.file) if spec.file else None).describe(),
        "obs_keys": keys,
    }
    out = ad.AnnData(X=matrix, obs=obs, var=pd.DataFrame(index=var_names))
    # h5ad stores no list of dicts: the records go in as {"0": ..., "1": ...} (read back in order)
    out.uns[UNS_KEY] = {"inputs": {str(i): r for i, r in enumerate(info["inputs"])},
                        "representation": info["representation"],
                        "obs_keys": np.array(keys, dtype=object)}
    # an extract of an extract keeps it too
    record = model_provenance(adata, spec.file)
    if record is not None:
        out.uns[MODEL_PROVENANCE_KEY] = record
    with atomic_path(output) as tmp:
        out.write_h5ad(tmp)
    return {"n_cells": int(out.n_obs), "n_dims": int(out.n_vars), **info}
