"""Inputs of label prediction: the folds TSV, the dataset's labels, and features as the user stored them.

The folds TSV (`cellbench label-split`) is the contract between the split and the per-fold units:
an optional first line `# cellbench label-split key=value ...` recording how it was made, then a
header `cell_id<TAB>label<TAB>fold` and one row per kept cell, in the dataset's cell order (the
order the classifiers see, which matters for the numbers).

Features for label prediction keep their stored float dtype (float32 embeddings stay float32, as
in the reference, whose classifiers then round exactly alike) and a sparse matrix stays sparse
(the raw-expression baseline): the task densifies only where it must. `LabelInputs` loads a
dataset with such features for the label commands, and lines a folds TSV up with its cells.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cellbench.errors import InputError
from cellbench.io.atomic import atomic_path
from cellbench.io.dataset import check_readable, labels_as_strings, obs_column, read_h5ad
from cellbench.io.representation import (
    RepresentationSpec,
    align_by_cell_id,
    as_2d_numeric,
    check_values,
    pick_representation,
)

FOLD_COLUMNS = ("cell_id", "label", "fold")
HEADER_PREFIX = "# cellbench label-split"
#: Header entries that are numbers: parsed strictly, so a '²' or a 23-digit value is an error, not a traceback.
META_NUMBERS = ("n_folds", "min_class_size", "seed")


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
    for key in META_NUMBERS:
        if key in meta and _ascii_int(meta[key]) is None:
            raise InputError(f"{path}: line 1: {key}={meta[key]!r} is not a number in ASCII digits")
    n_folds = _ascii_int(meta.get("n_folds", ""))
    if n_folds is not None and not 2 <= n_folds <= len(frame):
        raise InputError(f"{path}: line 1: n_folds={n_folds} but the file has {len(frame)} cells (2 to {len(frame)} folds)")
    folds = [_ascii_int(t) for t in frame["fold"]]
    limit = n_folds if n_folds is not None else len(frame)  # no more folds than cells
    bad = [i for i, f in enumerate(folds) if f is None or f >= limit]
    if bad:
        row, text = bad[0], frame["fold"].iloc[bad[0]]
        within = f"the file says n_folds={n_folds}" if n_folds is not None else f"the file has {len(frame)} cells"
        raise InputError(
            f"{path}: column 'fold' must hold fold numbers 0 to {limit - 1} in ASCII digits ({within}); "
            f"row {row + 1} has {text!r}"
        )
    empty = np.flatnonzero(np.bincount(folds, minlength=n_folds or 0) == 0)
    if empty.size:
        raise InputError(f"{path}: column 'fold' has no cell in fold {int(empty[0])}; every fold needs test cells")
    ids = frame["cell_id"].to_numpy()
    dup = pd.Index(ids).duplicated()
    if dup.any():
        raise InputError(f"{path}: cell id '{ids[np.flatnonzero(dup)[0]]}' appears more than once")
    return ids, frame["label"].to_numpy().astype(str), np.asarray(folds, dtype=np.int64), meta


def _ascii_int(text: str) -> int | None:
    """The number `text` writes in ASCII digits, else None (str.isdigit also takes '²' and '٣')."""
    return int(text) if text.isascii() and text.isdigit() else None


def _as_features(matrix, where):
    """Float matrix in its stored precision (ints -> float64); sparse stays CSR; checked by `check_values`."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        matrix = sp.csr_matrix(matrix)
        if matrix.dtype not in (np.float32, np.float64):
            matrix = matrix.astype(np.float64)
    else:
        matrix = as_2d_numeric(np.asarray(matrix), where, keep=lambda dt: dt in (np.float32, np.float64))
    check_values(matrix, where)
    return matrix


def load_features(adata, dataset_path, spec: RepresentationSpec):
    """The representation in `adata`'s cell order, dense or CSR, in its stored float precision."""
    if spec.file is None:
        return _as_features(pick_representation(adata, spec, dataset_path), f"{dataset_path}:{spec.describe()}")
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
    matrix = _as_features(pick_representation(other, spec, path), f"{path}:{spec.describe()}")
    return matrix[align_by_cell_id(other.obs_names, np.asarray(adata.obs_names), path)]


def read_labels(input_path, label_key: str):
    """(cell ids, labels as strings) of the dataset's obs column `label_key`."""
    adata = read_h5ad(input_path)
    return np.asarray(adata.obs_names), labels_as_strings(obs_column(adata, label_key, input_path), input_path)


class LabelInputs:
    """Dataset + features (stored precision, sparse kept) + input-file records + names + model record."""

    def __init__(self, input_path, dataset_name, embedding, obsm_key, layer, model_name):
        from cellbench.io.provenance import model_provenance, source_inputs
        from cellbench.io.task_inputs import default_dataset_name, default_model_name

        self.path = input_path
        self.adata = read_h5ad(input_path)
        self.X = load_features(self.adata, input_path, RepresentationSpec(embedding, obsm_key, layer))
        self.dataset = default_dataset_name(input_path, dataset_name)
        self.model = default_model_name(embedding, obsm_key, layer, model_name)
        self.inputs = source_inputs(self.adata, input_path, embedding)
        self.model_provenance = model_provenance(self.adata, embedding)

    def labels(self, key: str) -> np.ndarray:
        """The obs column `key` as strings (TASKS.md compares labels as strings)."""
        return labels_as_strings(obs_column(self.adata, key, self.path), self.path)

    def fold_rows(self, folds_path, ids, labels, label_key: str | None) -> np.ndarray:
        """The dataset row of every cell of a folds TSV; its cells must all be here and, when the
        dataset has the TSV's label column, carry the same labels."""
        rows = self.adata.obs_names.get_indexer(ids)
        if (rows < 0).any():
            missing = np.flatnonzero(rows < 0)
            raise InputError(
                f"{folds_path}: {missing.size} cell id(s) in column 'cell_id' are not in {self.path}, "
                f"first '{ids[missing[0]]}'"
            )
        if label_key and label_key in self.adata.obs.columns:
            stored = self.adata.obs[label_key].astype(str).to_numpy()[rows]
            differ = np.flatnonzero(stored != labels)
            if differ.size:
                raise InputError(
                    f"{folds_path}: label of cell '{ids[differ[0]]}' is '{labels[differ[0]]}' but {self.path} "
                    f"obs column '{label_key}' says '{stored[differ[0]]}'"
                )
        return rows
