"""Files of the label prediction fan-out: the folds TSV, and features kept as the user stored them.

The folds TSV (`cellbench label-split`) is the contract between the split and the per-fold units:
an optional first line `# cellbench label-split key=value ...` recording how it was made, then a
header `cell_id<TAB>label<TAB>fold` and one row per kept cell, in the dataset's cell order (the
order the classifiers see, which matters for the numbers).

Features for label prediction keep their stored float dtype (float32 embeddings stay float32, as
in the reference, whose classifiers then round exactly alike) and a sparse matrix stays sparse
(the raw-expression baseline): the task densifies only where it must.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cellbench.errors import InputError
from cellbench.io.atomic import atomic_path
from cellbench.io.dataset import check_readable, read_h5ad
from cellbench.io.representation import RepresentationSpec, _pick, align_by_cell_id

FOLD_COLUMNS = ("cell_id", "label", "fold")
HEADER_PREFIX = "# cellbench label-split"


def write_folds(path: str | os.PathLike, cell_ids, labels, folds, meta: dict) -> None:
    """Write the folds TSV atomically; meta goes URL-quoted into the first (comment) line."""
    from urllib.parse import quote

    import pandas as pd

    frame = pd.DataFrame({"cell_id": np.asarray(cell_ids, dtype=str), "label": labels, "fold": folds})
    head = " ".join([HEADER_PREFIX] + [f"{k}={quote(str(v), safe='')}" for k, v in meta.items()])
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        fh.write(head + "\n")
        frame.to_csv(fh, sep="\t", index=False, lineterminator="\n")


def read_folds(path: str | os.PathLike):
    """(cell ids, labels, folds, meta) from a folds TSV; anything malformed is a one-line InputError."""
    from urllib.parse import unquote

    import pandas as pd

    path = check_readable(path, "folds file")
    with open(path) as fh:
        first = fh.readline()
    meta: dict[str, str] = {}
    skip = 0
    if first.startswith("#"):
        skip = 1
        if first.startswith(HEADER_PREFIX):
            for item in first[len(HEADER_PREFIX) :].split():
                key, _, value = item.partition("=")
                meta[key] = unquote(value)
    try:
        frame = pd.read_csv(path, sep="\t", skiprows=skip, dtype=str, keep_default_na=False, na_filter=False)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError / EmptyDataError are ValueErrors
        raise InputError(f"{path}: not a readable folds TSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in FOLD_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: folds file lacks column(s) {', '.join(missing)} (expected {', '.join(FOLD_COLUMNS)})")
    if frame.empty:
        raise InputError(f"{path}: folds file has no cells")
    fold_text = frame["fold"].to_numpy()
    ok = np.array([t.isdigit() for t in fold_text])
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise InputError(f"{path}: column 'fold' must hold fold numbers 0, 1, ...; row {row + 1} has '{fold_text[row]}'")
    ids = frame["cell_id"].to_numpy()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise InputError(f"{path}: cell id '{ids[np.flatnonzero(dup)[0]]}' appears more than once")
    return ids, frame["label"].to_numpy().astype(str), fold_text.astype(np.int64), meta


def _as_features(matrix, where):
    """Float matrix in its stored precision (ints -> float64); sparse stays CSR; NaN/inf rejected."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix)
        if matrix.dtype not in (np.float32, np.float64):
            matrix = matrix.astype(np.float64)
        values = matrix.data
    else:
        matrix = np.asarray(matrix)
        if matrix.dtype not in (np.float32, np.float64):
            try:
                matrix = matrix.astype(np.float64)
            except (TypeError, ValueError):
                raise InputError(f"{where}: representation is not numeric") from None
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2:
            raise InputError(f"{where}: representation must be 2-d, got shape {matrix.shape}")
        values = matrix
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(f"{where}: representation has {int(bad.sum())} NaN/inf value(s)")
    return matrix


def load_features(adata, dataset_path, spec: RepresentationSpec):
    """The representation in `adata`'s cell order, dense or CSR, in its stored float precision."""
    if spec.file is None:
        return _as_features(_pick(adata, spec, dataset_path), f"{dataset_path}:{spec.describe()}")
    path = check_readable(spec.file, "representation file")
    if Path(path).suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(f"{path}: not a readable .npy file ({exc})") from None
        arr = _as_features(arr, path)
        if arr.shape[0] != adata.n_obs:
            raise InputError(f"{path}: {arr.shape[0]} rows but the dataset {dataset_path} has {adata.n_obs} cells")
        return arr
    other = read_h5ad(path)
    matrix = _as_features(_pick(other, spec, path), f"{path}:{spec.describe()}")
    return matrix[align_by_cell_id(other.obs_names, np.asarray(adata.obs_names), path)]
