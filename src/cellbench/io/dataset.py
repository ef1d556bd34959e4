"""Reading AnnData files and their obs columns, with one-line errors naming the file and the column."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from cellbench.errors import InputError

H5_MAGIC = b"\x89HDF\r\n\x1a\n"


def check_readable(path: str | os.PathLike, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    if not path.is_file():
        raise InputError(f"{path}: {what} is not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: {what} is not readable")
    return path


def read_h5ad(path: str | os.PathLike, backed: bool = False):
    """Read an .h5ad file; a missing file, one that is not HDF5/AnnData, or one whose cell ids repeat
    (cells are matched by id everywhere) is a one-line InputError."""
    import warnings

    import anndata as ad

    path = check_readable(path, "h5ad file")
    with open(path, "rb") as fh:
        if fh.read(8) != H5_MAGIC:
            raise InputError(f"{path}: not an h5ad file (no HDF5 signature)")
    try:
        with warnings.catch_warnings():
            # anndata's own multi-line warning would come before our one-line error (check below)
            warnings.filterwarnings("ignore", message="Observation names are not unique", category=UserWarning)
            adata = ad.read_h5ad(path, backed="r" if backed else None)
    except Exception as exc:  # noqa: BLE001 - anndata raises many kinds; the user needs the file and the reason
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable h5ad file ({reason})") from None
    check_unique_cell_ids(adata, path)
    return adata


def check_unique_cell_ids(adata, path: str | os.PathLike) -> None:
    """Cells are matched by id everywhere, so a repeated id is an InputError naming the first one."""
    if not adata.obs_names.is_unique:
        dup = adata.obs_names[adata.obs_names.duplicated()][0]
        raise InputError(f"{path}: cell ids are not unique (first duplicate '{dup}')")


def layer_or_x(adata, layer: str | None, path: str | os.PathLike):
    """X, or the named layer; a missing layer is an InputError listing the layers there are."""
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        keys = ", ".join(adata.layers.keys()) or "none"
        raise InputError(f"{path}: layer '{layer}' not found (layers: {keys})")
    return adata.layers[layer]


def obs_column(adata, key: str, path: str | os.PathLike) -> pd.Series:
    """The obs column `key`, or an InputError listing what columns there are."""
    if key not in adata.obs.columns:
        cols = ", ".join(map(str, adata.obs.columns[:20]))
        raise InputError(f"{path}: obs column '{key}' not found (columns: {cols})")
    return adata.obs[key]


def labels_as_strings(column: pd.Series, path: str | os.PathLike) -> np.ndarray:
    """Labels compared as strings (TASKS.md); missing values are an error naming the first bad row."""
    missing = column.isna().to_numpy()
    if missing.any():
        first = column.index[np.flatnonzero(missing)[0]]
        raise InputError(
            f"{path}: obs column '{column.name}' has {int(missing.sum())} missing value(s), first at cell '{first}'"
        )
    return column.astype(str).to_numpy()
