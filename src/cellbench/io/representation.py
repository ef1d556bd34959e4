"""Pick the representation a task scores: X, a layer, an obsm key, or a separate aligned file.

The result is a dense float array in the dataset's cell order; cells are matched by id, never by
position, except for a bare .npy which has no ids and must have exactly as many rows as cells.
A representation no metric can score (no columns, NaN/inf, values float32 cannot hold) is an
InputError naming the file and key when it is loaded (`check_values`), never a score of NaNs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def pick_representation(adata, spec: RepresentationSpec, path) -> object:
    if spec.obsm_key is not None and spec.layer is not None:
        raise InputError(f"{path}: give either an obsm key or a layer, not both")
    if spec.obsm_key is not None:
        if spec.obsm_key not in adata.obsm:
            keys = ", ".join(adata.obsm.keys()) or "none"
            raise InputError(f"{path}: obsm key '{spec.obsm_key}' not found (obsm keys: {keys})")
        return adata.obsm[spec.obsm_key]
    return layer_or_x(adata, spec.layer, path)


#: Largest float32: distances are computed in float32 (as in the reference); beyond it a value is inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_values(matrix, where) -> None:
    """An InputError naming `where` for a representation no metric can score: 0 columns, NaN/inf,
    a value beyond float32's range, one value everywhere (in float32: every cell the same), or columns
    spread so wide that squared distances overflow float32.

    Each of these used to become NaN (or all-zero) distances (the metrics compute them in float32,
    as the reference does), which the silhouettes score as 0, i.e. 0.5 rescaled, and Leiden as one
    cluster (ARI 0): plausible-looking numbers.
    The overflow bound: a float32 squared distance is assembled from terms up to 4 x the sum over
    columns of (column max - column min)^2. `matrix`: a 2-d numpy array or a CSR matrix (whose
    implicit zeros count as values).
    """
    import scipy.sparse as sp

    if matrix.shape[1] == 0:
        raise InputError(f"{where}: representation has 0 columns ({matrix.shape[0]} cells x 0)")
    values = matrix.data if sp.issparse(matrix) else matrix
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(f"{where}: representation has {int(bad.sum())} NaN/inf value(s), first in row {_row(matrix, bad)}")
    if values.size == 0:
        return
    low, high = float(values.min()), float(values.max())
    if sp.issparse(matrix) and matrix.nnz < matrix.shape[0] * matrix.shape[1]:
        low, high = min(low, 0.0), max(high, 0.0)  # the implicit zeros
    if max(-low, high) > FLOAT32_MAX:
        too_big = np.abs(values) > FLOAT32_MAX
        raise InputError(
            f"{where}: representation value {float(values[too_big].flat[0]):.3g} in row {_row(matrix, too_big)} "
            f"does not fit in float32 (largest {FLOAT32_MAX:.3g}), in which distances are computed"
        )
    if np.float32(low) == np.float32(high) and matrix.shape[0] > 1:
        raise InputError(
            f"{where}: representation is constant: every value is {low:.6g} in float32, so all cells are at "
            "distance 0 and no metric can tell them apart"
        )
    if high - low <= np.sqrt(FLOAT32_MAX / (4.0 * matrix.shape[1])):
        return  # every column's range is within the global one: no per-column pass (a CSC copy if sparse)
    low, high = (
        np.asarray(m.toarray() if sp.issparse(m) else m, dtype=np.float64).ravel()
        for m in (matrix.min(axis=0), matrix.max(axis=0))
    )
    with np.errstate(over="ignore"):
        bound = 4.0 * float(np.sum((high - low) ** 2))
    if not bound <= FLOAT32_MAX:
        raise InputError(
            f"{where}: representation columns span up to {float(np.max(high - low)):.3g}: squared distances "
            f"overflow float32 (largest {FLOAT32_MAX:.3g}); rescale the representation"
        )


def _row(matrix, mask) -> int:
    """The first row holding a True of `mask` (over the dense values, or a sparse matrix's .data)."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        return int(np.searchsorted(sp.csr_matrix(matrix).indptr, np.flatnonzero(mask)[0], side="right") - 1)
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def as_2d_numeric(arr: np.ndarray, where, *, keep) -> np.ndarray:
    """`arr` as a 2-d array (a 1-d one as one column); a dtype `keep(dtype)` refuses becomes float64."""
    if not keep(arr.dtype):
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{where}: representation is not numeric") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputError(f"{where}: representation must be 2-d, got shape {arr.shape}")
    return arr


def to_dense_float(matrix, path, dtype=np.float64) -> np.ndarray:
    """Dense 2-d float array, checked by `check_values` (errors name the first bad row)."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        matrix = matrix.toarray()
    arr = as_2d_numeric(np.asarray(matrix), path, keep=lambda dt: dt.kind in "fiu")
    check_values(arr, path)  # in the stored precision: a float64 1e39 cast to float32 would be inf
    return np.asarray(arr, dtype=dtype)


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
        return to_dense_float(pick_representation(adata, spec, dataset_path), f"{dataset_path}:{spec.describe()}", dtype)
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
    arr = to_dense_float(pick_representation(other, spec, path), f"{path}:{spec.describe()}", dtype)
    extra = other.n_obs - adata.n_obs
    order = align_by_cell_id(other.obs_names, np.asarray(adata.obs_names), path)
    if extra > 0:
        import logging

        logging.getLogger("cellbench").info("%s: %d cells not in the dataset are ignored", path, extra)
    return arr[order]
