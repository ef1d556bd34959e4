"""Pick the representation a task scores: X, a layer, an obsm key, or a separate aligned file.

The result is a dense float array in the dataset's cell order; cells are matched by id, never by
position, except for a bare .npy which has no ids and must have exactly as many rows as cells.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellbench.errors import InputError
from cellbench.io.dataset import check_readable, layer_or_x, read_h5ad


@dataclass(frozen=True)
class RepresentationSpec:
    """Where the representation lives: `file` (None = the dataset itself), then obsm key or layer or X."""

    file: str | None = None
    obsm_key: str | None = None
    layer: str | None = None

    def describe(self) -> str:
        where = self.file or "dataset"
        if self.obsm_key:
            return f"{where}:obsm[{self.obsm_key}]"
        if self.layer:
            return f"{where}:layers[{self.layer}]"
        return f"{where}:X"


def _pick(adata, spec: RepresentationSpec, path) -> object:
    if spec.obsm_key is not None and spec.layer is not None:
        raise InputError(f"{path}: give either an obsm key or a layer, not both")
    if spec.obsm_key is not None:
        if spec.obsm_key not in adata.obsm:
            keys = ", ".join(adata.obsm.keys()) or "none"
            raise InputError(f"{path}: obsm key '{spec.obsm_key}' not found (obsm keys: {keys})")
        return adata.obsm[spec.obsm_key]
    return layer_or_x(adata, spec.layer, path)


def to_dense_float(matrix, path, dtype=np.float64) -> np.ndarray:
    """Dense 2-d float array; NaN or inf is an InputError naming the first bad row."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        matrix = matrix.toarray()
    try:
        arr = np.asarray(matrix, dtype=dtype)
    except (TypeError, ValueError):
        raise InputError(f"{path}: representation is not numeric") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{path}: representation must be 2-d, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InputError(f"{path}: representation has {int(bad.sum())} NaN/inf value(s), first in row {row}")
    return arr


def align_by_cell_id(source_ids, target_ids, path) -> np.ndarray:
    """Row indices into `source_ids` giving `target_ids` order; missing ids are an InputError."""
    import pandas as pd

    source = pd.Index(source_ids)
    if not source.is_unique:
        dup = source[source.duplicated()][0]
        raise InputError(f"{path}: cell ids are not unique (first duplicate '{dup}')")
    idx = source.get_indexer(pd.Index(target_ids))
    missing = np.flatnonzero(idx < 0)
    if missing.size:
        first = target_ids[missing[0]]
        raise InputError(
            f"{path}: {missing.size} of {len(target_ids)} dataset cell ids are missing, first '{first}'"
        )
    return idx


def load_representation(adata, dataset_path: str | os.PathLike, spec: RepresentationSpec, dtype=np.float64):
    """The representation as a dense (n_cells, d) array in `adata`'s cell order."""
    if spec.file is None:
        return to_dense_float(_pick(adata, spec, dataset_path), f"{dataset_path}:{spec.describe()}", dtype)
    path = check_readable(spec.file, "representation file")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - numpy raises several kinds for a bad .npy
            raise InputError(f"{path}: not a readable .npy file ({exc})") from None
        arr = to_dense_float(arr, path, dtype)
        if arr.shape[0] != adata.n_obs:
            raise InputError(f"{path}: {arr.shape[0]} rows but the dataset {dataset_path} has {adata.n_obs} cells")
        return arr
    other = read_h5ad(path)
    arr = to_dense_float(_pick(other, spec, path), f"{path}:{spec.describe()}", dtype)
    extra = other.n_obs - adata.n_obs
    order = align_by_cell_id(other.obs_names, np.asarray(adata.obs_names), path)
    if extra > 0:
        import logging

        logging.getLogger("cellbench").info("%s: %d cells not in the dataset are ignored", path, extra)
    return arr[order]


def load_representation_file(path: str | os.PathLike, spec: RepresentationSpec, dtype=np.float64):
    """A representation file on its own (no dataset): returns (array, cell ids or None, adata or None)."""
    path = check_readable(path, "representation file")
    if Path(path).suffix == ".npy":
        return to_dense_float(np.load(path, allow_pickle=False), path, dtype), None, None
    adata = read_h5ad(path)
    return to_dense_float(_pick(adata, spec, path), f"{path}:{spec.describe()}", dtype), adata.obs_names, adata
